//! The docs' tables and counts against the code (the function manifest, `wxface::functions`)
//! and template.yaml, so a doc cannot drift from what is deployed:
//!
//! - the packages under `functions/` are exactly the manifest's functions;
//! - docs/api.md §1's function table and docs/deploy.md's resources row list exactly those
//!   functions;
//! - docs/api.md §1's route columns are each function's routes (the manifest's, from
//!   `wxface::http::routes`), and the README's count of the functions is the manifest's;
//! - docs/api.md §2.1's environment table names every variable the template sets on a function,
//!   and says of each secret's variable exactly which functions read it;
//! - docs/deploy.md's count of the secrets and of the alarms (always, with a webhook, with the
//!   HTTP API) is the template's, and docs/operations.md's alarm table has a row for each alarm;
//! - docs/performance.md's memory per function (the power-tuning rule's pick) is the template's.
//!
//! Each check is also run on a copy of a doc with a mistake planted, so a check that stopped
//! catching its mistake fails too.

use std::collections::BTreeSet;

use wxface::functions::{Function, Secret};
use wxface_harness::template::load_template;
use yaml_rust2::Yaml;

fn read(rel: &str) -> String {
    let path = wxface_harness::workspace_root().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn template() -> Yaml {
    load_template(&read("template.yaml")).expect("template.yaml")
}

fn packages() -> BTreeSet<String> {
    Function::ALL
        .iter()
        .map(|f| f.package().to_owned())
        .collect()
}

/// The lines of the markdown table that follows `heading` (up to the first non-table line).
fn table_after<'a>(doc: &'a str, heading: &str) -> Vec<&'a str> {
    let Some(start) = doc.find(heading) else {
        return Vec::new();
    };
    doc[start..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .collect()
}

/// The backticked words of one table cell.
fn ticked(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

fn cells(row: &str) -> Vec<&str> {
    row.trim_matches('|').split('|').map(str::trim).collect()
}

/// docs/api.md §1: one row per function, its package first.
fn api_function_table(api: &str) -> Vec<String> {
    let rows = table_after(api, "## 1. Functions");
    let listed: BTreeSet<String> = rows
        .iter()
        .filter_map(|r| ticked(cells(r)[0]).into_iter().next())
        .collect();
    let want = packages();
    let mut problems = Vec::new();
    for p in want.difference(&listed) {
        problems.push(format!("docs/api.md §1: function {p} is missing"));
    }
    for p in listed.difference(&want) {
        problems.push(format!(
            "docs/api.md §1: {p} is no function of the manifest"
        ));
    }
    problems
}

/// docs/api.md §1's route columns: each function's routes behind its URL and behind the HTTP
/// API, exactly the manifest's (`METHOD /path` in backticks; a query shown after `?` aside).
fn api_route_columns(api: &str) -> Vec<String> {
    let routes = |cell: &str| -> BTreeSet<String> {
        ticked(cell)
            .into_iter()
            .filter(|w| w.contains(' '))
            .map(|w| w.split('?').next().unwrap_or_default().to_owned())
            .collect()
    };
    let mut problems = Vec::new();
    for row in table_after(api, "## 1. Functions") {
        let c = cells(row);
        let Some(f) = ticked(c[0]).first().and_then(|p| Function::parse(p)) else {
            continue;
        };
        let (url, api): (BTreeSet<String>, BTreeSet<String>) = f
            .routes()
            .iter()
            .map(|r| (format!("{} {}", r.method, r.url_path), r.key()))
            .unzip();
        for (front, said, want) in [("URL", routes(c[2]), url), ("HTTP API", routes(c[3]), api)] {
            if said != want {
                problems.push(format!(
                    "docs/api.md §1: {f}'s routes behind the {front} are {want:?} (the code), the table says {said:?}"
                ));
            }
        }
    }
    problems
}

/// `n` functions in words, as the README counts them ("Eight functions").
fn functions_in_words(n: usize) -> String {
    let word = NUMBERS.get(n).copied().unwrap_or("many");
    let mut capital = word.chars();
    capital
        .next()
        .map(|c| format!("{}{} functions", c.to_uppercase(), capital.as_str()))
        .unwrap_or_default()
}

/// The README's count of the functions, in words ("Eight functions").
fn readme_function_count(readme: &str) -> Vec<String> {
    let n = Function::ALL.len();
    let said = functions_in_words(n);
    if readme.contains(&said) {
        Vec::new()
    } else {
        vec![format!(
            "README: the manifest has {n} functions; expected the words {said:?}"
        )]
    }
}

/// docs/deploy.md's resources table: the functions' names, `<stack>-<package>`.
fn deploy_function_row(deploy: &str) -> Vec<String> {
    let row = deploy
        .lines()
        .find(|l| l.starts_with("| `<stack>-issue-key`"))
        .unwrap_or_default();
    let listed: BTreeSet<String> = ticked(cells(row).first().copied().unwrap_or_default())
        .iter()
        .filter_map(|n| n.strip_prefix("<stack>-").map(str::to_owned))
        .collect();
    if listed == packages() {
        Vec::new()
    } else {
        vec![format!(
            "docs/deploy.md resources: the functions row lists {listed:?}, the manifest {:?}",
            packages()
        )]
    }
}

/// Every variable the template sets on some function.
fn template_env_vars(t: &Yaml) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut add = |vars: &Yaml| {
        for (k, _) in vars.as_hash().into_iter().flatten() {
            if let Some(k) = k.as_str() {
                out.insert(k.to_owned());
            }
        }
    };
    add(&t["Globals"]["Function"]["Environment"]["Variables"]);
    for (_, r) in t["Resources"].as_hash().into_iter().flatten() {
        if r["Type"].as_str() == Some("AWS::Serverless::Function") {
            add(&r["Properties"]["Environment"]["Variables"]);
        }
    }
    out
}

/// docs/api.md §2.1 names every variable the template sets or a function reads, and no other;
/// of each secret's variable it says exactly which functions read it.
fn env_table(doc: &str, heading: &str, name: &str, t: &Yaml) -> Vec<String> {
    let rows = table_after(doc, heading);
    let mut problems = Vec::new();
    let documented: BTreeSet<String> = rows.iter().flat_map(|r| ticked(cells(r)[0])).collect();
    for v in template_env_vars(t).difference(&documented) {
        problems.push(format!(
            "{name}: the template sets {v}, which the table does not name"
        ));
    }
    let read: BTreeSet<String> = Function::ALL
        .iter()
        .flat_map(|f| f.env())
        .map(|v| v.name)
        .collect();
    for v in documented.difference(&read) {
        problems.push(format!("{name}: {v} is read by no function"));
    }
    for v in read.difference(&documented) {
        problems.push(format!(
            "{name}: a function reads {v}, which the table does not name"
        ));
    }
    for secret in Secret::ALL {
        let var = secret.env_var();
        let Some(row) = rows
            .iter()
            .find(|r| ticked(cells(r)[0]).iter().any(|v| v == var))
        else {
            problems.push(format!("{name}: no row for {var}"));
            continue;
        };
        let said: BTreeSet<String> = cells(row)[1]
            .split(',')
            .map(|s| s.trim().to_owned())
            .collect();
        let want: BTreeSet<String> = Function::ALL
            .iter()
            .filter(|f| f.secrets().contains(&secret))
            .map(|f| f.package().to_owned())
            .collect();
        if said != want {
            problems.push(format!(
                "{name}: {var} is read by {want:?} (the manifest), the table says {said:?}"
            ));
        }
    }
    problems
}

const NUMBERS: [&str; 10] = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
];

/// The template's resources of `ty`: (unconditional, under each condition).
fn count_of(t: &Yaml, ty: &str) -> (usize, std::collections::BTreeMap<String, usize>) {
    let mut always = 0;
    let mut by_condition = std::collections::BTreeMap::new();
    for (_, r) in t["Resources"].as_hash().into_iter().flatten() {
        if r["Type"].as_str() != Some(ty) {
            continue;
        }
        match r["Condition"].as_str() {
            None => always += 1,
            Some(c) => *by_condition.entry(c.to_owned()).or_default() += 1,
        }
    }
    (always, by_condition)
}

/// docs/deploy.md's counts: "| five secrets |" in the resources table; "these (29, 30 with a
/// webhook, one more with `Front=HttpApi`)" of the alarms.
fn deploy_counts(deploy: &str, t: &Yaml) -> Vec<String> {
    let mut problems = Vec::new();
    let (secrets, conditional) = count_of(t, "AWS::SecretsManager::Secret");
    let word = NUMBERS.get(secrets).copied().unwrap_or("many");
    if !deploy.contains(&format!("| {word} secrets |")) {
        problems.push(format!(
            "docs/deploy.md resources: the template has {word} secrets (and {conditional:?}), the row does not say \"{word} secrets\""
        ));
    }
    // One upstream alarm per (function, endpoint) it calls.
    let pairs: usize = Function::ALL.iter().map(|f| f.upstreams().len()).sum();
    if !deploy.contains(&format!("a function calls ({pairs} pairs)")) {
        problems.push(format!(
            "docs/deploy.md resources: the manifest has {pairs} (function, endpoint) pairs, the alarms row does not say \"({pairs} pairs)\""
        ));
    }
    let (alarms, by) = count_of(t, "AWS::CloudWatch::Alarm");
    let webhook = by.get("HasWebhook").copied().unwrap_or_default();
    let api = by.get("UseHttpApi").copied().unwrap_or_default();
    let said = format!(
        "these ({alarms}, {} with a webhook,\n  {} more with `Front=HttpApi`)",
        alarms + webhook,
        NUMBERS.get(api).copied().unwrap_or("many")
    );
    if !deploy.contains(&said) {
        problems.push(format!(
            "docs/deploy.md costs: the template has {alarms} alarms, {webhook} more with a webhook, {api} with the HTTP API; expected the words {said:?}"
        ));
    }
    problems
}

/// docs/operations.md's alarm table: a row for every alarm of the template (the upstream ones by
/// their pattern), and no alarm the template does not have.
fn operations_alarms(ops: &str, t: &Yaml) -> Vec<String> {
    const UPSTREAM: &str = "<stack>-<function>-upstream-<endpoint>";
    let rows = table_after(ops, "## Alarms, and what to do for each");
    let named: BTreeSet<String> = rows
        .iter()
        .flat_map(|r| ticked(cells(r)[0]))
        .filter(|n| n.starts_with("<stack>-"))
        .collect();
    let mut want = BTreeSet::new();
    for (_, r) in t["Resources"].as_hash().into_iter().flatten() {
        if r["Type"].as_str() != Some("AWS::CloudWatch::Alarm") {
            continue;
        }
        let name = r["Properties"]["AlarmName"].as_str().unwrap_or_default();
        let name = name.replace("${AWS::StackName}", "<stack>");
        want.insert(if name.contains("-upstream-") {
            UPSTREAM.to_owned()
        } else {
            name
        });
    }
    let mut problems = Vec::new();
    for n in want.difference(&named) {
        problems.push(format!("docs/operations.md alarms: no row for {n}"));
    }
    for n in named.difference(&want) {
        if !n.contains("-upstream-") {
            problems.push(format!(
                "docs/operations.md alarms: {n} is no alarm of the template"
            ));
        }
    }
    problems
}

/// docs/performance.md's chosen memory per function (the power-tuning table's rule) is each
/// function's `MemorySize` in the template.
fn performance_memory(perf: &str, t: &Yaml) -> Vec<String> {
    let rows = table_after(perf, "### The memory each function gets");
    let global = t["Globals"]["Function"]["MemorySize"].as_i64();
    let mut problems = Vec::new();
    for f in Function::ALL {
        let said = rows
            .iter()
            .find(|r| ticked(cells(r)[0]).first().map(String::as_str) == Some(f.package()))
            .and_then(|r| cells(r).get(1)?.trim_end_matches(" MB").parse::<i64>().ok());
        let declared = t["Resources"]
            .as_hash()
            .into_iter()
            .flatten()
            .map(|(_, r)| r)
            .find(|r| r["Metadata"]["BuildProperties"]["Binary"].as_str() == Some(f.package()))
            .and_then(|r| r["Properties"]["MemorySize"].as_i64().or(global));
        if said.is_none() || said != declared {
            problems.push(format!(
                "docs/performance.md memory: {f} is chosen at {said:?} MB, the template gives it {declared:?}"
            ));
        }
    }
    problems
}

/// The docs the checks read.
struct Docs {
    api: String,
    readme: String,
    deploy: String,
    operations: String,
    performance: String,
}

impl Docs {
    fn read() -> Self {
        Self {
            api: read("docs/api.md"),
            readme: read("README.md"),
            deploy: read("docs/deploy.md"),
            operations: read("docs/operations.md"),
            performance: read("docs/performance.md"),
        }
    }
}

fn all_problems(d: &Docs, t: &Yaml) -> Vec<String> {
    let (api, readme, deploy) = (&d.api, &d.readme, &d.deploy);
    let mut problems = Vec::new();
    problems.extend(api_function_table(api));
    problems.extend(deploy_function_row(deploy));
    problems.extend(env_table(
        api,
        "### 2.1 Environment variables",
        "docs/api.md §2.1",
        t,
    ));
    problems.extend(api_route_columns(api));
    problems.extend(readme_function_count(readme));
    problems.extend(deploy_counts(deploy, t));
    problems.extend(operations_alarms(&d.operations, t));
    problems.extend(performance_memory(&d.performance, t));
    problems
}

#[test]
fn the_packages_are_the_manifests_functions() {
    let dir = wxface_harness::workspace_root().join("functions");
    let found: BTreeSet<String> = std::fs::read_dir(&dir)
        .expect("functions/")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("Cargo.toml").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        found,
        packages(),
        "functions/ against wxface::functions::Function::ALL"
    );
}

#[test]
fn the_docs_tables_and_counts_are_the_codes_and_the_templates() {
    let problems = all_problems(&Docs::read(), &template());
    assert!(problems.is_empty(), "{problems:#?}");
}

/// Each check, on a doc with a mistake planted: caught.
#[test]
fn a_planted_mistake_in_each_table_and_count_is_caught() {
    let t = template();
    let reconcile_row = read("docs/api.md")
        .lines()
        .find(|l| l.starts_with("| `reconcile` |"))
        .map(|row| format!("{row}\n"))
        .expect("docs/api.md §1 has reconcile's row");
    // The counts as the docs must say them now, and one fewer: nothing here to retype when a
    // function or an alarm is added.
    let n = Function::ALL.len();
    let (said_functions, fewer_functions) = (functions_in_words(n), functions_in_words(n - 1));
    let readme_count = format!("README: the manifest has {n} functions");
    let alarms = count_of(&t, "AWS::CloudWatch::Alarm").0;
    let (said_alarms, fewer_alarms) = (
        format!("these ({alarms},"),
        format!("these ({},", alarms - 1),
    );
    // (the doc, the text replaced, its replacement, a problem that must name it)
    let mistakes: &[(&str, &str, &str, &str)] = &[
        // A function missing from docs/api.md §1, and one from docs/deploy.md's resources.
        ("api", &reconcile_row, "", "function reconcile is missing"),
        (
            "deploy",
            ", `<stack>-reconcile`",
            "",
            "docs/deploy.md resources",
        ),
        // A route the code does not mount; a stale count of the functions.
        (
            "api",
            "`POST /authinfo/real-name` |",
            "`POST /authinfo/realname` |",
            "authinfo's routes behind the HTTP API",
        ),
        ("readme", &said_functions, &fewer_functions, &readme_count),
        // A variable the template sets, undocumented; one no function reads; a secret read by
        // one function too many.
        (
            "api",
            "| `PUSH_MODE` |",
            "| PUSH_MODE |",
            "docs/api.md §2.1: the template sets PUSH_MODE",
        ),
        (
            "api",
            "| `PUSH_MODE` |",
            "| `PUSH_MODE`, `PUSH_MODES` |",
            "PUSH_MODES is read by no function",
        ),
        (
            "api",
            "| `MERCHANT_SECRET_ID` | authinfo |",
            "| `MERCHANT_SECRET_ID` | authinfo, lookup |",
            "MERCHANT_SECRET_ID is read by",
        ),
        // Stale counts.
        ("deploy", "| five secrets |", "| four secrets |", "secrets"),
        ("deploy", &said_alarms, &fewer_alarms, "alarms"),
        (
            "deploy",
            "(16 pairs)",
            "(12 pairs)",
            "(function, endpoint) pairs",
        ),
        // An alarm without its row in the operations guide, and one the template does not have.
        (
            "operations",
            "| `<stack>-reconcile-lag` |",
            "| reconcile's lag |",
            "no row for <stack>-reconcile-lag",
        ),
        // A function's memory that is not the template's.
        (
            "performance",
            "| `lookup` | 256 MB |",
            "| `lookup` | 1024 MB |",
            "lookup is chosen at Some(1024) MB, the template gives it Some(256)",
        ),
        (
            "operations",
            "`<stack>-secrets-stale`",
            "`<stack>-secrets-old`",
            "<stack>-secrets-old is no alarm of the template",
        ),
    ];
    for &(doc, from, to, want) in mistakes {
        let mut docs = Docs::read();
        let text = match doc {
            "api" => &mut docs.api,
            "readme" => &mut docs.readme,
            "deploy" => &mut docs.deploy,
            "performance" => &mut docs.performance,
            _ => &mut docs.operations,
        };
        assert!(text.contains(from), "{doc} no longer says {from:?}");
        *text = text.replace(from, to);
        let problems = all_problems(&docs, &t);
        assert!(
            problems.iter().any(|p| p.contains(want)),
            "{doc}: {from:?} -> {to:?}: expected a problem with {want:?}, got {problems:#?}"
        );
    }
}
