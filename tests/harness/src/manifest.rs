//! The function manifest (`wxface::functions`) for the tools that are not Rust: `wxface-dev
//! manifest` prints it as JSON for the deploy test, and `--check-env` holds the local stack's
//! environment file to it.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use wxface::functions::{Function, Target};
use wxface::http::routes::Auth;

/// Every function: its routes, environment, secrets (by variable), table items, stream, other
/// grants and upstreams.
pub fn to_json() -> Value {
    let functions: Vec<Value> = Function::ALL.iter().map(|&f| function(f)).collect();
    json!({ "functions": functions })
}

fn function(f: Function) -> Value {
    let routes: Vec<Value> = f
        .routes()
        .iter()
        .map(|r| {
            json!({
                "method": r.method, "path": r.path, "url_path": r.url_path,
                "auth": match r.auth { Auth::None => "NONE", Auth::AwsIam => "AWS_IAM" },
            })
        })
        .collect();
    let env: Vec<Value> = f
        .env()
        .into_iter()
        .map(|v| json!({"name": v.name, "required": v.required}))
        .collect();
    let secrets: Vec<Value> = f
        .secrets()
        .into_iter()
        .map(|s| json!({"env_var": s.env_var(), "written": s.written()}))
        .collect();
    let items: Vec<Value> = f.items().iter().map(|(a, k)| json!([a, k])).collect();
    let grants: Vec<Value> = f
        .grants()
        .iter()
        .map(|g| {
            let on = match g.on {
                Target::EventBus => "bus".to_owned(),
                Target::ScheduleGroup => "schedules".to_owned(),
                Target::Resource(id) => id.to_owned(),
                Target::TenantSecrets => "tenant_secrets".to_owned(),
                Target::TenantTokens => "tenant_tokens".to_owned(),
                Target::TenantWebhooks => "tenant_webhooks".to_owned(),
                Target::Everything => "*".to_owned(),
            };
            json!({"action": g.action, "on": on})
        })
        .collect();
    let upstreams: Vec<&str> = f.upstreams().iter().map(|u| u.name()).collect();
    json!({
        "package": f.package(), "routes": routes, "env": env, "secrets": secrets,
        "items": items, "reads_stream": f.reads_stream(), "grants": grants,
        "upstreams": upstreams,
    })
}

/// Variables an env file may set for the tools rather than the functions.
const FOR_THE_TOOLS: [&str; 3] = [
    "RUST_LOG",
    "AWS_DEFAULT_REGION",
    "AWS_EC2_METADATA_DISABLED",
];

/// The problems of an environment file (`NAME=value` lines) that all functions share, as
/// `cargo lambda watch --env-file` gives it: a variable some function requires and the file
/// lacks, or one the file sets and no function reads.
pub fn check_env_file(text: &str) -> Vec<String> {
    let set: BTreeSet<&str> = text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, _)| k.trim())
        .filter(|k| !k.is_empty() && !k.starts_with('#'))
        .collect();
    let mut problems = Vec::new();
    let mut read = BTreeSet::new();
    for f in Function::ALL {
        for v in f.env() {
            if v.required && !set.contains(v.name.as_str()) {
                problems.push(format!(
                    "{f} requires {}, which the file does not set",
                    v.name
                ));
            }
            read.insert(v.name);
        }
    }
    for k in set {
        if !read.contains(k) && !FOR_THE_TOOLS.contains(&k) {
            problems.push(format!("the file sets {k}, which no function reads"));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_env_file_missing_a_required_variable_or_setting_a_stray_one_is_caught() {
        let full: String = Function::ALL
            .iter()
            .flat_map(|f| f.env())
            .map(|v| format!("{}=\"x\"\n", v.name))
            .collect();
        assert_eq!(check_env_file(&full), Vec::<String>::new());
        let without = full.replace("RECONCILE_SCHEDULE_GROUP=\"x\"\n", "");
        assert_eq!(
            check_env_file(&without),
            ["reconcile requires RECONCILE_SCHEDULE_GROUP, which the file does not set"]
        );
        let stray = format!("{full}RECONCILE_GROUP=\"x\"\nRUST_LOG=info\n");
        assert_eq!(
            check_env_file(&stray),
            ["the file sets RECONCILE_GROUP, which no function reads"]
        );
    }

    #[test]
    fn the_json_lists_every_function_with_its_grants() {
        let j = to_json();
        let fs = j["functions"].as_array().unwrap();
        assert_eq!(fs.len(), Function::ALL.len());
        let reconcile = fs.iter().find(|f| f["package"] == "reconcile").unwrap();
        assert!(
            reconcile["grants"]
                .as_array()
                .unwrap()
                .iter()
                .any(|g| g["on"] == "schedules")
        );
        let lookup = fs.iter().find(|f| f["package"] == "lookup").unwrap();
        assert_eq!(lookup["routes"][0]["auth"], "AWS_IAM");
    }
}
