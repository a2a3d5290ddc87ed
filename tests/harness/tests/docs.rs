//! The docs' tables and counts against the code (the function manifest, `wxface::functions`)
//! and template.yaml, so a doc cannot drift from what is deployed:
//!
//! - the packages under `functions/` are exactly the manifest's functions;
//! - docs/api.md §1's function table and docs/deploy.md's resources row list exactly those
//!   functions;
//! - docs/api.md §2.1's environment table and README's name every variable the template sets on
//!   a function, and §2.1 says of each secret's variable exactly which functions read it;
//! - docs/deploy.md's count of the secrets and of the alarms (always, with a webhook, with the
//!   HTTP API) is the template's.
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

/// An environment table names every variable the template sets; in docs/api.md it also says,
/// of each secret's variable, exactly which functions read it.
fn env_table(doc: &str, heading: &str, name: &str, t: &Yaml, readers: bool) -> Vec<String> {
    let rows = table_after(doc, heading);
    let mut problems = Vec::new();
    let documented: BTreeSet<String> = rows.iter().flat_map(|r| ticked(cells(r)[0])).collect();
    for v in template_env_vars(t).difference(&documented) {
        problems.push(format!(
            "{name}: the template sets {v}, which the table does not name"
        ));
    }
    if !readers {
        return problems;
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

/// The docs the checks read.
struct Docs {
    api: String,
    readme: String,
    deploy: String,
}

impl Docs {
    fn read() -> Self {
        Self {
            api: read("docs/api.md"),
            readme: read("README.md"),
            deploy: read("docs/deploy.md"),
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
        true,
    ));
    problems.extend(env_table(
        readme,
        "## Configuration",
        "README configuration",
        t,
        false,
    ));
    problems.extend(deploy_counts(deploy, t));
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
    let caught = |change: &dyn Fn(&mut Docs), want: &str| {
        let mut docs = Docs::read();
        change(&mut docs);
        let problems = all_problems(&docs, &t);
        assert!(
            problems.iter().any(|p| p.contains(want)),
            "expected a problem with {want:?}, got {problems:#?}"
        );
    };
    // A function missing from docs/api.md §1, and one from docs/deploy.md's resources.
    caught(
        &|d| {
            let row = d
                .api
                .lines()
                .find(|l| l.starts_with("| `reconcile` |"))
                .unwrap();
            d.api = d.api.replace(&format!("{row}\n"), "");
        },
        "function reconcile is missing",
    );
    caught(
        &|d| d.deploy = d.deploy.replace(", `<stack>-reconcile`", ""),
        "docs/deploy.md resources",
    );
    // A variable the template sets, undocumented (in either table); a secret read by one
    // function too many.
    caught(
        &|d| d.api = d.api.replace("| `PUSH_MODE` |", "| PUSH_MODE |"),
        "docs/api.md §2.1: the template sets PUSH_MODE",
    );
    caught(
        &|d| d.readme = d.readme.replace("| `PUSH_MODE` |", "| PUSH_MODE |"),
        "README configuration: the template sets PUSH_MODE",
    );
    caught(
        &|d| {
            d.api = d.api.replace(
                "| `MERCHANT_SECRET_ID` | authinfo |",
                "| `MERCHANT_SECRET_ID` | authinfo, lookup |",
            )
        },
        "MERCHANT_SECRET_ID is read by",
    );
    // Stale counts.
    caught(
        &|d| d.deploy = d.deploy.replace("| five secrets |", "| four secrets |"),
        "secrets",
    );
    caught(
        &|d| d.deploy = d.deploy.replace("these (29,", "these (22,"),
        "alarms",
    );
    caught(
        &|d| d.deploy = d.deploy.replace("(16 pairs)", "(12 pairs)"),
        "(function, endpoint) pairs",
    );
}
