//! The docs' tables and counts against the code (the function manifest, `wxface::functions`)
//! and template.yaml, so a doc cannot drift from what is deployed:
//!
//! - the packages under `functions/` are exactly the manifest's functions;
//! - docs/api.md §1's function table and README's resources row list exactly those functions;
//! - docs/api.md §2.1's environment table and README's name every variable the template sets on
//!   a function, and §2.1 says of each secret's variable exactly which functions read it;
//! - README's count of the secrets and of the alarms (always, with a webhook, with the HTTP API)
//!   is the template's.
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

/// README's resources table: the functions' names, `<stack>-<package>`.
fn readme_function_row(readme: &str) -> Vec<String> {
    let row = readme
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
            "README resources: the functions row lists {listed:?}, the manifest {:?}",
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

/// README's counts: "| five secrets |" in the resources table; "these (29, 30 with a webhook,
/// one more with `Front=HttpApi`)" of the alarms.
fn readme_counts(readme: &str, t: &Yaml) -> Vec<String> {
    let mut problems = Vec::new();
    let (secrets, conditional) = count_of(t, "AWS::SecretsManager::Secret");
    let word = NUMBERS.get(secrets).copied().unwrap_or("many");
    if !readme.contains(&format!("| {word} secrets |")) {
        problems.push(format!(
            "README resources: the template has {word} secrets (and {conditional:?}), the row does not say \"{word} secrets\""
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
    if !readme.contains(&said) {
        problems.push(format!(
            "README costs: the template has {alarms} alarms, {webhook} more with a webhook, {api} with the HTTP API; expected the words {said:?}"
        ));
    }
    problems
}

fn all_problems(api: &str, readme: &str, t: &Yaml) -> Vec<String> {
    let mut problems = Vec::new();
    problems.extend(api_function_table(api));
    problems.extend(readme_function_row(readme));
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
    problems.extend(readme_counts(readme, t));
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
    let problems = all_problems(&read("docs/api.md"), &read("README.md"), &template());
    assert!(problems.is_empty(), "{problems:#?}");
}

/// Each check, on a doc with a mistake planted: caught.
#[test]
fn a_planted_mistake_in_each_table_and_count_is_caught() {
    let (api, readme, t) = (read("docs/api.md"), read("README.md"), template());
    let caught = |api: &str, readme: &str, want: &str| {
        let problems = all_problems(api, readme, &t);
        assert!(
            problems.iter().any(|p| p.contains(want)),
            "expected a problem with {want:?}, got {problems:#?}"
        );
    };
    // A function missing from docs/api.md §1, and one from README's resources.
    let row = api
        .lines()
        .find(|l| l.starts_with("| `reconcile` |"))
        .unwrap();
    caught(
        &api.replace(&format!("{row}\n"), ""),
        &readme,
        "function reconcile is missing",
    );
    caught(
        &api,
        &readme.replace(", `<stack>-reconcile`", ""),
        "README resources",
    );
    // A variable the template sets, undocumented; a secret read by one function too many.
    caught(
        &api.replace("| `PUSH_MODE` |", "| PUSH_MODE |"),
        &readme,
        "PUSH_MODE",
    );
    caught(
        &api.replace(
            "| `MERCHANT_SECRET_ID` | authinfo |",
            "| `MERCHANT_SECRET_ID` | authinfo, lookup |",
        ),
        &readme,
        "MERCHANT_SECRET_ID is read by",
    );
    // Stale counts.
    caught(
        &api,
        &readme.replace("| five secrets |", "| four secrets |"),
        "secrets",
    );
    caught(&api, &readme.replace("these (29,", "these (22,"), "alarms");
}
