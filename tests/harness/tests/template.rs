//! template.yaml's permissions and deadlines:
//!
//! - no IAM policy statement anywhere in the template has a wildcard (`*`) in an Action or a
//!   Resource (but X-Ray's two write actions, which take no other resource), or uses NotAction /
//!   NotResource; no role attaches a managed policy, and no function
//!   uses SAM's generated role (its AWSLambdaBasicExecutionRole allows `logs:*` on `"*"`) or a SAM
//!   policy template, since neither shows its statements here;
//! - each function can use exactly the secrets of docs/api.md §2 that it needs, in the way it needs
//!   them: the three mini-program functions read the app secret and the WeChat credentials and
//!   read and write the token secret (as lookup and reconcile, which ask WeChat about pending 2.0
//!   sessions), issue-key alone reads the identity secret, publish-events reads the app secret
//!   only (never a WeChat credential), authinfo only reads the merchant secret; and no function's
//!   environment names a secret it should not have;
//! - DynamoDB: only item actions (Get/Put/Update/DeleteItem), only on the sessions table, each
//!   bound to the item kinds (key prefixes) that function's code touches;
//! - event-callback answers WeChat's push within its 5 s: its timeout is below 5 s;
//! - the fronts (README "Fronts"): with `Front=FunctionUrls` a URL per caller-facing function
//!   (lookup's `AWS_IAM`), with `Front=HttpApi` exactly the HTTP API routes of the code's route
//!   table (`wxface::http::routes`), each to its function, lookup's `AWS_IAM`, no catch-all, and
//!   nothing of the other front; the China rule; every ARN through `${AWS::Partition}`;
//! - each function's environment: every variable its settings require (the manifest's
//!   `Function::env`, found by running the settings' parser), none of its own that it never reads.
//!
//! The template is read with the harness's parser (`template::load_template`), in which
//! CloudFormation's short-form tags keep their values: `!Ref X` reads as "X", `!GetAtt X.Arn` as
//! "X.Arn", `!Sub "..${X}.."` as its string. Each rule is also run on a copy of the template broken
//! on purpose, so a rule that stopped catching its fault fails as well.

use std::collections::{BTreeMap, BTreeSet};

use wxface::functions::{Function, Target};
use wxface::upstream::Upstream;
use wxface_harness::template::load_template;
use yaml_rust2::Yaml;

/// The function binaries: the manifest's functions (the docs test holds `functions/` to it), so
/// a new function is checked as soon as it is listed.
fn function_binaries() -> Vec<String> {
    Function::ALL
        .iter()
        .map(|f| f.package().to_owned())
        .collect()
}

/// The variables naming the secrets (docs/api.md §2).
const APP_SECRET: &str = "WECHAT_APP_SECRET_ID";
const WECHAT_SECRET: &str = "WECHAT_CREDENTIALS_SECRET_ID";
const TOKEN_SECRET: &str = "ACCESS_TOKEN_SECRET_ID";
const MERCHANT_SECRET: &str = "MERCHANT_SECRET_ID";
const IDENTITY_SECRET: &str = "IDENTITY_KEY_SECRET_ID";
const SECRET_VARS: [&str; 5] = [
    APP_SECRET,
    WECHAT_SECRET,
    TOKEN_SECRET,
    MERCHANT_SECRET,
    IDENTITY_SECRET,
];

const GET: &str = "secretsmanager:GetSecretValue";
const PUT: &str = "secretsmanager:PutSecretValue";

/// What each function may do with each secret (its manifest, `wxface::functions`); anything
/// absent is forbidden.
fn allowed_secret_actions(binary: &str) -> BTreeMap<&'static str, BTreeSet<&'static str>> {
    let Some(f) = Function::parse(binary) else {
        return BTreeMap::new();
    };
    f.secrets()
        .into_iter()
        .map(|s| {
            let actions = if s.written() {
                BTreeSet::from([GET, PUT])
            } else {
                BTreeSet::from([GET])
            };
            (s.env_var(), actions)
        })
        .collect()
}

const XRAY_ACTIONS: [&str; 2] = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"];

/// The tenants' secrets and their access tokens (docs/api.md §9), as the template must name
/// them: the only wildcards a Secrets Manager resource may hold, within the stack's own prefix.
const TENANT_SECRETS: &str = "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${AWS::StackName}/tenants/*";
const TENANT_TOKENS: &str = "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${AWS::StackName}/tenants/*/access-token-*";
const TENANT_WEBHOOKS: &str = "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${AWS::StackName}/tenants/*/webhook-*";

/// The manifest's target of a statement's resources, for the tenants' grants: `None` for any
/// other resource.
fn tenant_target(s: &Statement) -> Option<Target> {
    match string_list(&s.body["Resource"]).as_slice() {
        [r] if r == TENANT_SECRETS => Some(Target::TenantSecrets),
        [r] if r == TENANT_TOKENS => Some(Target::TenantTokens),
        [r] if r == TENANT_WEBHOOKS => Some(Target::TenantWebhooks),
        [r] if r == "*" && string_list(&s.body["Action"]) == ["secretsmanager:ListSecrets"] => {
            Some(Target::Everything)
        }
        _ => None,
    }
}

const DYNAMODB_ITEM_ACTIONS: [&str; 4] = [
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
];

/// The item kinds (key prefixes, as `dynamodb:LeadingKeys` patterns) each function's code reads
/// or writes, by action (its manifest). Anything else is forbidden.
fn item_kinds(binary: &str) -> BTreeSet<(&'static str, &'static str)> {
    Function::parse(binary)
        .map(|f| f.items().into_iter().collect())
        .unwrap_or_default()
}

const DYNAMODB_STREAM_ACTIONS: [&str; 4] = [
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
];

/// The WeChat / WeChat Pay endpoints `binary` calls (its manifest); each pair has its own
/// upstream alarm.
fn upstreams(binary: &str) -> &'static [Upstream] {
    Function::parse(binary).map_or(&[], Function::upstreams)
}

/// WeChat waits this long for the push reply.
const PUSH_DEADLINE_SECS: i64 = 5;
/// Lambda's timeout when a template sets none.
const LAMBDA_DEFAULT_TIMEOUT_SECS: i64 = 3;
const _: () = assert!(LAMBDA_DEFAULT_TIMEOUT_SECS < PUSH_DEADLINE_SECS);

fn real_template() -> Yaml {
    let path = wxface_harness::template_path();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    load_template(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn key(k: &str) -> Yaml {
    Yaml::String(k.to_owned())
}

/// Every string inside `y` (scalars of sequences and mapping values, recursively).
fn leaves(y: &Yaml) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(y: &Yaml, out: &mut Vec<String>) {
        match y {
            Yaml::String(s) | Yaml::Real(s) => out.push(s.clone()),
            Yaml::Integer(i) => out.push(i.to_string()),
            Yaml::Boolean(b) => out.push(b.to_string()),
            Yaml::Array(a) => a.iter().for_each(|v| walk(v, out)),
            Yaml::Hash(h) => h.values().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    walk(y, &mut out);
    out
}

/// `y` as a list of strings: a scalar or a sequence of scalars (Action, Resource).
fn string_list(y: &Yaml) -> Vec<String> {
    match y {
        Yaml::Array(a) => a.iter().flat_map(leaves).collect(),
        Yaml::BadValue => Vec::new(),
        other => leaves(other),
    }
}

struct Template<'a> {
    resources: &'a yaml_rust2::yaml::Hash,
    globals: &'a Yaml,
}

impl<'a> Template<'a> {
    fn new(doc: &'a Yaml) -> Result<Self, String> {
        let resources = doc["Resources"]
            .as_hash()
            .ok_or("template has no Resources mapping")?;
        Ok(Self {
            resources,
            globals: &doc["Globals"]["Function"],
        })
    }

    fn ids_of_type(&self, ty: &str) -> BTreeSet<String> {
        self.resources
            .iter()
            .filter(|(_, r)| r["Type"].as_str() == Some(ty))
            .filter_map(|(k, _)| k.as_str().map(String::from))
            .collect()
    }

    fn resource(&self, id: &str) -> &'a Yaml {
        &self.resources[&key(id)]
    }

    /// The logical ids among `candidates` that `y` refers to: "X", "X.Attr" (GetAtt), "${X}" or
    /// "${X.Attr}" inside a string (Sub), or the long forms ({Ref: X}, {Fn::GetAtt: [X, Attr]}).
    fn refs(y: &Yaml, candidates: &BTreeSet<String>) -> BTreeSet<String> {
        let mut found = BTreeSet::new();
        for s in leaves(y) {
            let head = s.split('.').next().unwrap_or_default();
            if candidates.contains(&s) {
                found.insert(s.clone());
            } else if candidates.contains(head) {
                found.insert(head.to_owned());
            }
            let mut rest = s.as_str();
            while let Some(start) = rest.find("${") {
                let inner = &rest[start + 2..];
                let Some(end) = inner.find('}') else { break };
                let name = inner[..end].split('.').next().unwrap_or_default();
                if candidates.contains(name) {
                    found.insert(name.to_owned());
                }
                rest = &inner[end..];
            }
        }
        found
    }

    /// (logical id, binary) of every function.
    fn functions(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for id in self
            .ids_of_type("AWS::Serverless::Function")
            .into_iter()
            .chain(self.ids_of_type("AWS::Lambda::Function"))
        {
            let binary = self.resource(&id)["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .unwrap_or("")
                .to_owned();
            out.push((id, binary));
        }
        out
    }

    /// A function property, or its value in Globals.Function.
    fn function_prop(&self, id: &str, prop: &str) -> &'a Yaml {
        let own = &self.resource(id)["Properties"][prop];
        if own.is_badvalue() {
            &self.globals[prop]
        } else {
            own
        }
    }

    fn env_var(&self, id: &str, var: &str) -> &'a Yaml {
        let own = &self.resource(id)["Properties"]["Environment"]["Variables"][var];
        if own.is_badvalue() {
            &self.globals["Environment"]["Variables"][var]
        } else {
            own
        }
    }
}

/// A policy statement and where it comes from (for messages).
struct Statement<'a> {
    origin: String,
    body: &'a Yaml,
}

/// A policy's statements; a statement under `!If [condition, statement, other]` counts with each
/// branch that is one (both can be in force, under some parameters).
fn statements_of<'a>(document: &'a Yaml, origin: &str) -> Vec<Statement<'a>> {
    match &document["Statement"] {
        Yaml::Array(a) => a
            .iter()
            .enumerate()
            .flat_map(|(i, body)| match body {
                Yaml::Array(branches) => branches
                    .iter()
                    .skip(1)
                    .filter(|b| b.as_hash().is_some())
                    .map(|body| Statement {
                        origin: format!("{origin} statement {} (under a condition)", i + 1),
                        body,
                    })
                    .collect::<Vec<_>>(),
                _ => vec![Statement {
                    origin: format!("{origin} statement {}", i + 1),
                    body,
                }],
            })
            .collect(),
        Yaml::Hash(_) => vec![Statement {
            origin: format!("{origin} statement 1"),
            body: &document["Statement"],
        }],
        _ => Vec::new(),
    }
}

/// The statements of the inline `Policies` of role `role` (its `Properties`).
fn inline_statements<'a>(role: &str, props: &'a Yaml) -> Vec<Statement<'a>> {
    let policies = props["Policies"].as_vec().map_or(&[][..], |v| v.as_slice());
    policies
        .iter()
        .flat_map(|p| {
            let name = p["PolicyName"].as_str().unwrap_or("?");
            statements_of(&p["PolicyDocument"], &format!("{role} policy {name}"))
        })
        .collect()
}

/// Every IAM policy statement of the template, and problems with policies that hide theirs.
fn all_statements<'a>(t: &Template<'a>, problems: &mut Vec<String>) -> Vec<Statement<'a>> {
    let mut out = Vec::new();
    for (k, r) in t.resources {
        let id = k.as_str().unwrap_or("?");
        let props = &r["Properties"];
        match r["Type"].as_str().unwrap_or("") {
            "AWS::IAM::Role" => {
                out.extend(statements_of(
                    &props["AssumeRolePolicyDocument"],
                    &format!("{id} AssumeRolePolicyDocument"),
                ));
                out.extend(inline_statements(id, props));
                if !props["ManagedPolicyArns"].is_badvalue() {
                    problems.push(format!(
                        "{id}: attaches managed policies ({}); their statements cannot be checked here and AWS's own use \"*\"",
                        leaves(&props["ManagedPolicyArns"]).join(", ")
                    ));
                }
            }
            "AWS::IAM::Policy" | "AWS::IAM::ManagedPolicy" | "AWS::IAM::RolePolicy" => {
                out.extend(statements_of(&props["PolicyDocument"], id));
            }
            "AWS::Serverless::Function" => {
                for (i, p) in sam_policies(props).into_iter().enumerate() {
                    if !p["Statement"].is_badvalue() {
                        out.extend(statements_of(p, &format!("{id} Policies[{i}]")));
                    } else if let Some(name) = p.as_str() {
                        problems.push(format!(
                            "{id}: Policies names the managed policy {name}; its statements cannot be checked here"
                        ));
                    } else {
                        let names = p
                            .as_hash()
                            .map(|h| {
                                h.keys()
                                    .filter_map(|k| k.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            })
                            .unwrap_or_default();
                        problems.push(format!(
                            "{id}: Policies uses the SAM policy template {names}, whose statements cannot be checked here (several use \"*\")"
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// A SAM function's `Policies`: a list, or a single entry.
fn sam_policies(props: &Yaml) -> Vec<&Yaml> {
    match &props["Policies"] {
        Yaml::Array(a) => a.iter().collect(),
        Yaml::BadValue => Vec::new(),
        one => vec![one],
    }
}

fn check_wildcards(statements: &[Statement], problems: &mut Vec<String>) {
    for s in statements {
        for field in ["NotAction", "NotResource", "NotPrincipal"] {
            if !s.body[field].is_badvalue() {
                problems.push(format!(
                    "{}: uses {field}, which allows everything not listed",
                    s.origin
                ));
            }
        }
        // X-Ray's write actions have no resource-level permissions: "*" is their only resource.
        let xray_only = {
            let actions = string_list(&s.body["Action"]);
            !actions.is_empty() && actions.iter().all(|a| XRAY_ACTIONS.contains(&a.as_str()))
        };
        // EventBridge Scheduler names schedules, not groups: reconcile's schedules are those
        // of its own group, `…:schedule/<stack>-reconcile/*`.
        let own_schedules = string_list(&s.body["Action"]) == ["scheduler:CreateSchedule"];
        for field in ["Action", "Resource"] {
            for v in string_list(&s.body[field]) {
                let group_schedules = own_schedules
                    && field == "Resource"
                    && v.ends_with(":schedule/${AWS::StackName}-reconcile/*")
                    && v.matches('*').count() == 1;
                if v.contains('*')
                    && !(xray_only && field == "Resource" && v == "*")
                    && !group_schedules
                    && !(field == "Resource" && tenant_target(s).is_some())
                {
                    problems.push(format!("{}: wildcard in {field}: {v}", s.origin));
                }
            }
        }
    }
}

/// The statements that apply to one function: its role's inline policies, policies attached to
/// that role, and the function's own `Policies`.
fn function_statements<'a>(
    t: &Template<'a>,
    id: &str,
    binary: &str,
    problems: &mut Vec<String>,
) -> Vec<Statement<'a>> {
    let roles = t.ids_of_type("AWS::IAM::Role");
    let role_prop = t.function_prop(id, "Role");
    let mut out = Vec::new();
    if role_prop.is_badvalue() {
        problems.push(format!(
            "{binary} ({id}): no Role, so SAM generates one with AWSLambdaBasicExecutionRole (logs actions on \"*\"); give it its own AWS::IAM::Role"
        ));
    } else {
        let role_ids = Template::refs(role_prop, &roles);
        if role_ids.is_empty() {
            problems.push(format!(
                "{binary} ({id}): its Role is not an AWS::IAM::Role of this template, so its permissions cannot be checked"
            ));
        }
        for role in &role_ids {
            out.extend(inline_statements(role, &t.resource(role)["Properties"]));
            for (k, r) in t.resources {
                let pid = k.as_str().unwrap_or("?");
                let ty = r["Type"].as_str().unwrap_or("");
                let attached = match ty {
                    "AWS::IAM::Policy" | "AWS::IAM::ManagedPolicy" => {
                        Template::refs(&r["Properties"]["Roles"], &roles).contains(role)
                    }
                    "AWS::IAM::RolePolicy" => {
                        Template::refs(&r["Properties"]["RoleName"], &roles).contains(role)
                    }
                    _ => false,
                };
                if attached {
                    out.extend(statements_of(&r["Properties"]["PolicyDocument"], pid));
                }
            }
        }
    }
    for (i, p) in sam_policies(&t.resource(id)["Properties"])
        .into_iter()
        .enumerate()
    {
        out.extend(statements_of(p, &format!("{id} Policies[{i}]")));
    }
    out
}

fn is_allow(s: &Statement) -> bool {
    s.body["Effect"].as_str() == Some("Allow")
}

/// The Allow statements among `statements` with actions of `service` (a prefix such as
/// "dynamodb:", in any case), each with those actions.
fn allowed_actions<'s, 'a>(
    statements: &'s [Statement<'a>],
    service: &str,
) -> Vec<(&'s Statement<'a>, Vec<String>)> {
    let mut out = Vec::new();
    for s in statements.iter().filter(|s| is_allow(s)) {
        let mut actions = string_list(&s.body["Action"]);
        actions.retain(|a| a.to_ascii_lowercase().starts_with(service));
        if !actions.is_empty() {
            out.push((s, actions));
        }
    }
    out
}

/// Everything wrong with the template, as readable lines (empty: all rules hold).
fn check(doc: &Yaml) -> Vec<String> {
    let t = match Template::new(doc) {
        Ok(t) => t,
        Err(e) => return vec![e],
    };
    let mut problems = Vec::new();

    // 1. No wildcard in any IAM policy statement of the template.
    let statements = all_statements(&t, &mut problems);
    if statements.is_empty() {
        problems.push("no IAM policy statement found at all".into());
    }
    check_wildcards(&statements, &mut problems);

    // The functions, by binary.
    let functions = t.functions();
    let binaries = function_binaries();
    for (id, binary) in &functions {
        if !binaries.contains(binary) {
            problems.push(format!(
                "{id}: no package under functions/ (Metadata.BuildProperties.Binary is {binary:?})"
            ));
        }
    }
    for f in &binaries {
        let n = functions.iter().filter(|(_, b)| b == f).count();
        if n != 1 {
            problems.push(format!("function {f} is declared {n} times"));
        }
    }

    // The secrets, by the variable that names them.
    let secret_ids = t.ids_of_type("AWS::SecretsManager::Secret");
    let mut secret_of_var: BTreeMap<&str, String> = BTreeMap::new();
    for (id, binary) in &functions {
        for var in SECRET_VARS {
            let value = t.env_var(id, var);
            if value.is_badvalue() {
                continue;
            }
            if !allowed_secret_actions(binary).contains_key(var) {
                problems.push(format!(
                    "{binary}: its environment names {var}, a secret it should not have"
                ));
            }
            let refs = Template::refs(value, &secret_ids);
            match refs.iter().next() {
                Some(s) if refs.len() == 1 => {
                    if let Some(other) = secret_of_var.insert(var, s.clone())
                        && other != *s
                    {
                        problems.push(format!(
                            "{var} names {other} in one function and {s} in another"
                        ));
                    }
                }
                _ => problems.push(format!(
                    "{binary}: {var} is not a secret of this template ({})",
                    leaves(value).join(" ")
                )),
            }
        }
    }
    let var_of_secret: BTreeMap<String, &str> = secret_of_var
        .iter()
        .map(|(var, id)| (id.clone(), *var))
        .collect();
    let tables = t.ids_of_type("AWS::DynamoDB::Table");

    for (id, binary) in &functions {
        let own = function_statements(&t, id, binary, &mut problems);

        // 2. Secrets: exactly what the function needs.
        let mut granted: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut tenant_grants: BTreeSet<(String, String)> = BTreeSet::new();
        for (s, actions) in allowed_actions(&own, "secretsmanager:") {
            // 2b. The tenants' secrets: exactly the manifest's grants (below).
            if let Some(target) = tenant_target(s) {
                for a in actions {
                    tenant_grants.insert((a, format!("{target:?}")));
                }
                continue;
            }
            let targets = Template::refs(&s.body["Resource"], &secret_ids);
            if targets.is_empty() {
                problems.push(format!(
                    "{binary}: {}: Secrets Manager actions on a resource that is no secret of this template ({})",
                    s.origin,
                    string_list(&s.body["Resource"]).join(", ")
                ));
            }
            for target in targets {
                granted
                    .entry(target)
                    .or_default()
                    .extend(actions.iter().cloned());
            }
        }
        let allowed = allowed_secret_actions(binary);
        for secret in &secret_ids {
            let var = var_of_secret.get(secret).copied();
            let may: BTreeSet<String> = var
                .and_then(|v| allowed.get(v))
                .map(|a| a.iter().map(|s| s.to_string()).collect())
                .unwrap_or_default();
            let has = granted.get(secret).cloned().unwrap_or_default();
            let listed = |names: Vec<&String>| {
                let names: Vec<&str> = names.into_iter().map(|s| s.as_str()).collect();
                names.join(", ")
            };
            let extra = listed(has.difference(&may).collect());
            let missing = listed(may.difference(&has).collect());
            if !extra.is_empty() {
                let var = var.unwrap_or("no function's variable");
                problems.push(format!(
                    "{binary}: can {extra} on secret {secret} ({var}), which it should not"
                ));
            }
            if !missing.is_empty() {
                let var = var.unwrap_or("?");
                problems.push(format!(
                    "{binary}: lacks {missing} on secret {secret} ({var}), which it needs"
                ));
            }
        }
        for var in allowed.keys() {
            if !secret_of_var.contains_key(var) || t.env_var(id, var).is_badvalue() {
                problems.push(format!(
                    "{binary}: its environment does not name {var}, which it needs"
                ));
            }
        }

        let want_tenant: BTreeSet<(String, String)> = Function::parse(binary)
            .map(Function::grants)
            .unwrap_or_default()
            .into_iter()
            .filter(|g| g.action.starts_with("secretsmanager:"))
            .map(|g| (g.action.to_owned(), format!("{:?}", g.on)))
            .collect();
        for (a, on) in tenant_grants.symmetric_difference(&want_tenant) {
            let (verb, why) = if want_tenant.contains(&(a.clone(), on.clone())) {
                ("lacks", "which it needs")
            } else {
                ("can", "which it should not")
            };
            problems.push(format!("{binary}: {verb} {a} on the tenants' {on}, {why}"));
        }

        // 3. DynamoDB: item actions on the sessions table only, each bound to the function's
        // own item kinds (dynamodb:LeadingKeys); its stream read only by publish-events and
        // reconcile, and nothing but read.
        let reads_stream = Function::parse(binary).is_some_and(Function::reads_stream);
        let mut kinds: BTreeSet<(String, String)> = BTreeSet::new();
        for (s, actions) in allowed_actions(&own, "dynamodb:") {
            let resources = string_list(&s.body["Resource"]);
            let on_stream = resources.iter().any(|r| r.ends_with(".StreamArn"));
            let (suffix, allowed_here): (&str, &[&str]) = if on_stream {
                (".StreamArn", &DYNAMODB_STREAM_ACTIONS)
            } else {
                (".Arn", &DYNAMODB_ITEM_ACTIONS)
            };
            if on_stream && !reads_stream {
                problems.push(format!(
                    "{binary}: {}: {} on the table's stream, which only publish-events and reconcile read",
                    s.origin,
                    actions.join(", ")
                ));
            }
            for a in &actions {
                if !allowed_here.contains(&a.as_str()) {
                    let what = if on_stream {
                        "reading the table's stream"
                    } else {
                        "the functions use (item reads and writes)"
                    };
                    problems.push(format!("{binary}: {}: {a} is more than {what}", s.origin));
                }
            }
            for r in &resources {
                let is_table = r.strip_suffix(suffix).is_some_and(|t| tables.contains(t));
                if !is_table {
                    problems.push(format!(
                        "{binary}: {}: DynamoDB actions on {r}, not the sessions table's {}",
                        s.origin,
                        suffix.trim_start_matches('.')
                    ));
                }
            }
            if on_stream {
                continue;
            }
            let keys = &s.body["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"];
            let prefixes = string_list(keys);
            if prefixes.is_empty() {
                problems.push(format!(
                    "{binary}: {}: {} without a dynamodb:LeadingKeys condition (every item kind)",
                    s.origin,
                    actions.join(", ")
                ));
            }
            for a in &actions {
                for p in &prefixes {
                    kinds.insert((a.clone(), p.clone()));
                }
            }
        }
        let want: BTreeSet<(String, String)> = item_kinds(binary)
            .into_iter()
            .map(|(a, p)| (a.to_owned(), p.to_owned()))
            .collect();
        for (a, p) in kinds.difference(&want) {
            problems.push(format!(
                "{binary}: can {a} on items {p}, which its code does not touch"
            ));
        }
        for (a, p) in want.difference(&kinds) {
            problems.push(format!("{binary}: lacks {a} on items {p}, which it needs"));
        }

        // 4. Events: only publish-events puts them, on one bus.
        for (s, actions) in allowed_actions(&own, "events:") {
            let bus = string_list(&s.body["Resource"]).join(" ");
            if actions.iter().any(|a| !manifest_grants(binary, a)) {
                problems.push(format!(
                    "{binary}: {}: {} is not for it (only publish-events puts events)",
                    s.origin,
                    actions.join(", ")
                ));
            } else if !bus.contains(":event-bus/") || !bus.contains("EventBusName") {
                problems.push(format!(
                    "{binary}: {}: events on {bus}, not the EventBusName bus",
                    s.origin
                ));
            }
        }

        // 4b. Booking checks: only reconcile, in its own group, passing only the scheduler role.
        for prefix in ["scheduler:", "iam:"] {
            for (s, actions) in allowed_actions(&own, prefix) {
                let ok = actions.iter().all(|a| manifest_grants(binary, a))
                    && match prefix {
                        "scheduler:" => actions == ["scheduler:CreateSchedule"],
                        _ => {
                            actions == ["iam:PassRole"]
                                && string_list(&s.body["Resource"])
                                    == ["ReconcileSchedulerRole.Arn"]
                                && s.body["Condition"]["StringEquals"]["iam:PassedToService"]
                                    .as_str()
                                    == Some("scheduler.amazonaws.com")
                        }
                    };
                if !ok {
                    problems.push(format!(
                        "{binary}: {}: {} is not for it (only reconcile books checks, passing only the scheduler role to the scheduler)",
                        s.origin,
                        actions.join(", ")
                    ));
                }
            }
        }

        // 4c. Queues: exactly the manifest's grants, each on its own queue.
        let mut queue_grants: BTreeSet<(String, String)> = BTreeSet::new();
        for (s, actions) in allowed_actions(&own, "sqs:") {
            for r in string_list(&s.body["Resource"]) {
                for a in &actions {
                    queue_grants.insert((a.clone(), r.trim_end_matches(".Arn").to_owned()));
                }
            }
        }
        let want_queue: BTreeSet<(String, String)> = Function::parse(binary)
            .map(Function::grants)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|g| match g.on {
                Target::Resource(id) if g.action.starts_with("sqs:") => {
                    Some((g.action.to_owned(), id.to_owned()))
                }
                _ => None,
            })
            .collect();
        for (a, q) in queue_grants.symmetric_difference(&want_queue) {
            let verb = if want_queue.contains(&(a.clone(), q.clone())) {
                "lacks"
            } else {
                "can"
            };
            problems.push(format!("{binary}: {verb} {a} on {q}"));
        }

        // 5. Function URLs only as resources of their front (see check_fronts).
        if !t.function_prop(id, "FunctionUrlConfig").is_badvalue() {
            problems.push(format!(
                "{binary}: FunctionUrlConfig makes a function URL in every front; declare an AWS::Lambda::Url with Condition {URL_FRONT}"
            ));
        }

        // 6. event-callback answers within WeChat's 5 s.
        if binary == "event-callback" {
            let timeout = t.function_prop(id, "Timeout");
            match timeout.as_i64() {
                Some(secs) if secs < PUSH_DEADLINE_SECS => {}
                Some(secs) => problems.push(format!(
                    "event-callback: timeout {secs} s is not below WeChat's {PUSH_DEADLINE_SECS} s push deadline"
                )),
                // Lambda's default (3 s) applies.
                None if timeout.is_badvalue() => {}
                None => problems.push(format!(
                    "event-callback: timeout is not a number of seconds ({})",
                    leaves(timeout).join(" ")
                )),
            }
        }
    }

    // 7. One upstream alarm per endpoint each function calls, on the plain metric (no metric
    // math, which not every CloudFormation accepts), at the parameter's threshold.
    let ids: BTreeSet<String> = functions.iter().map(|(id, _)| id.clone()).collect();
    let mut alarmed: BTreeSet<(String, String)> = BTreeSet::new();
    for id in t.ids_of_type("AWS::CloudWatch::Alarm") {
        let p = &t.resource(&id)["Properties"];
        if !p["Metrics"].is_badvalue() {
            problems.push(format!(
                "{id}: metric math (Metrics); alarm on one metric instead"
            ));
        }
        if p["MetricName"].as_str() != Some("UpstreamErrorRate") {
            continue;
        }
        let dims = p["Dimensions"].as_vec().cloned().unwrap_or_default();
        let dim = |name: &str| {
            dims.iter()
                .find(|d| d["Name"].as_str() == Some(name))
                .map(|d| d["Value"].clone())
                .unwrap_or(Yaml::BadValue)
        };
        let function = Template::refs(&dim("Function"), &ids).into_iter().next();
        let binary = functions
            .iter()
            .find(|(fid, _)| Some(fid) == function.as_ref())
            .map(|(_, b)| b.clone());
        match (binary, dim("Upstream").as_str()) {
            (Some(b), Some(u)) if dims.len() == 2 => {
                alarmed.insert((b, u.to_owned()));
            }
            _ => problems.push(format!(
                "{id}: its dimensions are not one function of this template and one endpoint"
            )),
        }
        let right = p["Namespace"].as_str() == Some(metrics_namespace())
            && p["Statistic"].as_str() == Some("Average")
            && p["Threshold"].as_str() == Some("UpstreamErrorRatePercent");
        if !right {
            problems.push(format!(
                "{id}: not the Average of wxface's UpstreamErrorRate against UpstreamErrorRatePercent"
            ));
        }
    }
    let wanted: BTreeSet<(String, String)> = Function::ALL
        .iter()
        .flat_map(|f| {
            let name = f.package();
            upstreams(name)
                .iter()
                .map(move |e| (name.to_owned(), e.name().to_owned()))
        })
        .collect();
    for (f, e) in wanted.difference(&alarmed) {
        problems.push(format!("{f}: no upstream alarm on {e}"));
    }
    for (f, e) in alarmed.difference(&wanted) {
        problems.push(format!(
            "{f}: an upstream alarm on {e}, which it does not call"
        ));
    }
    check_fronts(doc, &t, &functions, &mut problems);
    check_events(&t, &functions, &mut problems);
    check_environment(&t, &functions, &mut problems);
    problems
}

/// Whether the manifest grants `binary` the `action` (beyond secrets and the table).
fn manifest_grants(binary: &str, action: &str) -> bool {
    Function::parse(binary).is_some_and(|f| f.grants().iter().any(|g| g.action == action))
}

/// Rule 10: each function is given every variable its settings require, and none of its own
/// that they do not read (Globals' are shared by all; Lambda sets the region and credentials).
fn check_environment(t: &Template, functions: &[(String, String)], problems: &mut Vec<String>) {
    const LAMBDA_SETS: [&str; 4] = [
        "AWS_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
    ];
    for (id, binary) in functions {
        let Some(f) = Function::parse(binary) else {
            continue;
        };
        let env = f.env();
        for v in env.iter().filter(|v| v.required) {
            if !LAMBDA_SETS.contains(&v.name.as_str()) && t.env_var(id, &v.name).is_badvalue() {
                problems.push(format!(
                    "{binary}: its environment lacks {}, which it requires",
                    v.name
                ));
            }
        }
        let own = &t.resource(id)["Properties"]["Environment"]["Variables"];
        for (k, _) in own.as_hash().into_iter().flatten() {
            let k = k.as_str().unwrap_or_default();
            if !env.iter().any(|v| v.name == k) {
                problems.push(format!(
                    "{binary}: its environment sets {k}, which it does not read"
                ));
            }
        }
    }
}

/// Forged events (rule 9): the stack's own bus refuses a wxface event from anyone but
/// publish-events, and every rule takes only this account's events.
fn check_events(t: &Template, functions: &[(String, String)], problems: &mut Vec<String>) {
    let roles = t.ids_of_type("AWS::IAM::Role");
    let publisher_role = functions
        .iter()
        .find(|(_, b)| b == "publish-events")
        .and_then(|(id, _)| {
            Template::refs(t.function_prop(id, "Role"), &roles)
                .into_iter()
                .next()
        });
    let buses = t.ids_of_type("AWS::Events::EventBus");
    if buses.is_empty() {
        problems.push("no event bus of the stack's own (EventBusName empty)".into());
    }
    for bus in &buses {
        let policy = &t.resource(bus)["Properties"]["Policy"];
        let guarded = statements_of(policy, bus).iter().any(|s| {
            let c = &s.body["Condition"];
            s.body["Effect"].as_str() == Some("Deny")
                && s.body["Principal"].as_str() == Some("*")
                && string_list(&s.body["Action"]) == ["events:PutEvents"]
                && leaves(&s.body["Resource"])
                    .iter()
                    .any(|l| l.contains(":event-bus/"))
                && c["ForAnyValue:StringEquals"]["events:source"].as_str()
                    == Some(wxface::domain::event::SOURCE)
                && publisher_role.as_ref().is_some_and(|role| {
                    Template::refs(&c["ArnNotEquals"]["aws:PrincipalArn"], &roles).contains(role)
                })
        });
        if !guarded {
            problems.push(format!(
                "{bus}: its policy does not refuse wxface events from all but publish-events' role"
            ));
        }
    }
    for rule in t.ids_of_type("AWS::Events::Rule") {
        let account = &t.resource(&rule)["Properties"]["EventPattern"]["account"];
        if !leaves(account).iter().any(|l| l == "AWS::AccountId") {
            problems.push(format!("{rule}: its pattern takes events of any account"));
        }
    }
    // A record publish-events skips (never publishable) is alarmed: its event is missing.
    let publisher = functions.iter().find(|(_, b)| b == "publish-events");
    let skipped_alarmed = t.ids_of_type("AWS::CloudWatch::Alarm").iter().any(|id| {
        let p = &t.resource(id)["Properties"];
        p["Namespace"].as_str() == Some(metrics_namespace())
            && p["MetricName"].as_str() == Some("EventsUnreadable")
            && publisher.is_some_and(|(fid, _)| leaves(&p["Dimensions"]).contains(fid))
    });
    if !skipped_alarmed {
        problems.push("publish-events: no alarm on EventsUnreadable (skipped records)".into());
    }
    // The webhook token's rotation script updates this connection's header.
    for conn in t.ids_of_type("AWS::Events::Connection") {
        let key = &t.resource(&conn)["Properties"]["AuthParameters"]["ApiKeyAuthParameters"];
        let script = std::fs::read_to_string(
            wxface_harness::workspace_root().join("scripts/rotate-webhook-token.sh"),
        )
        .unwrap_or_default();
        let header = key["ApiKeyName"].as_str().unwrap_or("(none)");
        if !script.contains(&format!("\"ApiKeyName\": \"{header}\"")) {
            problems.push(format!(
                "{conn}: scripts/rotate-webhook-token.sh does not rotate its header {header}"
            ));
        }
    }
}

const URL_FRONT: &str = "UseFunctionUrls";
const API_FRONT: &str = "UseHttpApi";
const API_DOMAIN: &str = "HasApiDomain";

/// The binary of the function `y` refers to.
fn function_of(t: &Template, functions: &[(String, String)], y: &Yaml) -> Option<String> {
    let ids: BTreeSet<String> = functions.iter().map(|(id, _)| id.clone()).collect();
    let refs = Template::refs(y, &ids);
    let id = refs.iter().next()?;
    let _ = t;
    functions
        .iter()
        .find(|(fid, _)| fid == id)
        .map(|(_, b)| b.clone())
}

/// 8. The two fronts, each only under its condition; the HTTP API's routes are the code's.
fn check_fronts(
    doc: &Yaml,
    t: &Template,
    functions: &[(String, String)],
    problems: &mut Vec<String>,
) {
    use wxface::http::routes::{Auth, api_routes};
    let front = &doc["Parameters"]["Front"];
    if front["Default"].as_str() != Some("FunctionUrls")
        || string_list(&front["AllowedValues"]) != ["FunctionUrls", "HttpApi"]
    {
        problems
            .push("parameter Front: not [FunctionUrls, HttpApi] with default FunctionUrls".into());
    }
    let condition = |id: &str| {
        t.resource(id)["Condition"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    };

    // Function URLs: one per function the code mounts at a URL, only with Front=FunctionUrls.
    let mut urls: BTreeMap<String, String> = BTreeMap::new();
    for id in t.ids_of_type("AWS::Lambda::Url") {
        let p = &t.resource(&id)["Properties"];
        if condition(&id) != URL_FRONT {
            problems.push(format!("{id}: a function URL without Condition {URL_FRONT} (it would exist behind the HTTP API too)"));
        }
        match function_of(t, functions, &p["TargetFunctionArn"]) {
            Some(b) => {
                if urls
                    .insert(b.clone(), p["AuthType"].as_str().unwrap_or("").to_owned())
                    .is_some()
                {
                    problems.push(format!("{b}: more than one function URL"));
                }
            }
            None => problems.push(format!(
                "{id}: its TargetFunctionArn is no function of this template"
            )),
        }
    }
    // Every function the code mounts has a URL too (the same routes, at their URL paths).
    let url_functions: BTreeSet<&str> = api_routes().iter().map(|r| r.function).collect();
    for f in &url_functions {
        let want = if *f == "lookup" { "AWS_IAM" } else { "NONE" };
        match urls.get(*f) {
            Some(auth) if auth == want => {}
            Some(auth) => problems.push(format!("{f}: its function URL is {auth}, not {want}")),
            None => problems.push(format!("{f}: no function URL (Front=FunctionUrls)")),
        }
    }
    for f in urls.keys() {
        if !url_functions.contains(f.as_str()) {
            problems.push(format!(
                "{f}: a function URL, but the code mounts no route of it"
            ));
        }
    }

    // Permissions: each under its front's condition.
    for id in t.ids_of_type("AWS::Lambda::Permission") {
        let p = &t.resource(&id)["Properties"];
        let via_url =
            !p["FunctionUrlAuthType"].is_badvalue() || !p["InvokedViaFunctionUrl"].is_badvalue();
        let want = if p["Principal"].as_str() == Some("apigateway.amazonaws.com") {
            API_FRONT
        } else if via_url {
            URL_FRONT
        } else {
            continue;
        };
        if condition(&id) != want {
            problems.push(format!(
                "{id}: a permission of one front without Condition {want}"
            ));
        }
    }

    // The HTTP API: everything of it only with Front=HttpApi.
    for ty in [
        "AWS::ApiGatewayV2::Api",
        "AWS::ApiGatewayV2::Stage",
        "AWS::ApiGatewayV2::Integration",
        "AWS::ApiGatewayV2::Route",
        "AWS::ApiGatewayV2::DomainName",
        "AWS::ApiGatewayV2::ApiMapping",
        "AWS::Serverless::HttpApi",
    ] {
        for id in t.ids_of_type(ty) {
            if ![API_FRONT, API_DOMAIN].contains(&condition(&id).as_str()) {
                problems.push(format!(
                    "{id}: part of the HTTP API without Condition {API_FRONT}"
                ));
            }
        }
    }
    for (id, _) in functions {
        if !t.resource(id)["Properties"]["Events"]
            .as_hash()
            .is_none_or(|h| {
                h.values()
                    .all(|e| !matches!(e["Type"].as_str(), Some("HttpApi" | "Api")))
            })
        {
            problems.push(format!(
                "{id}: an HttpApi/Api event (SAM cannot make it conditional; declare the routes)"
            ));
        }
    }
    let apis = t.ids_of_type("AWS::ApiGatewayV2::Api");
    if apis.len() != 1 {
        problems.push(format!("{} HTTP APIs; want exactly one", apis.len()));
        return;
    }
    let api = apis.iter().next().cloned().unwrap_or_default();
    if t.resource(&api)["Properties"]["ProtocolType"].as_str() != Some("HTTP") {
        problems.push(format!("{api}: not an HTTP API"));
    }
    let integrations = t.ids_of_type("AWS::ApiGatewayV2::Integration");
    let mut declared: BTreeSet<(String, String, String)> = BTreeSet::new();
    for id in t.ids_of_type("AWS::ApiGatewayV2::Route") {
        let p = &t.resource(&id)["Properties"];
        let key = p["RouteKey"].as_str().unwrap_or("").to_owned();
        let auth = p["AuthorizationType"].as_str().unwrap_or("NONE").to_owned();
        let Some(integration) = Template::refs(&p["Target"], &integrations)
            .into_iter()
            .next()
        else {
            problems.push(format!(
                "{id} ({key}): its Target is no integration of this template"
            ));
            continue;
        };
        let ip = &t.resource(&integration)["Properties"];
        if ip["IntegrationType"].as_str() != Some("AWS_PROXY")
            || ip["PayloadFormatVersion"].as_str() != Some("2.0")
        {
            problems.push(format!(
                "{integration}: not an AWS_PROXY integration with payload format 2.0"
            ));
        }
        let function =
            function_of(t, functions, &ip["IntegrationUri"]).unwrap_or_else(|| "?".into());
        declared.insert((key, function, auth));
    }
    let wanted: BTreeSet<(String, String, String)> = api_routes()
        .iter()
        .map(|r| {
            let auth = if r.auth == Auth::AwsIam {
                "AWS_IAM"
            } else {
                "NONE"
            };
            (r.key(), r.function.to_owned(), auth.to_owned())
        })
        .collect();
    for (k, f, a) in wanted.difference(&declared) {
        problems.push(format!("HTTP API: no route {k} to {f} ({a})"));
    }
    for (k, f, a) in declared.difference(&wanted) {
        problems.push(format!(
            "HTTP API: route {k} to {f} ({a}) is not one of the code's routes"
        ));
    }
    // Each function the API invokes may be invoked by it.
    for f in api_routes()
        .iter()
        .map(|r| r.function)
        .collect::<BTreeSet<_>>()
    {
        let allowed = t
            .ids_of_type("AWS::Lambda::Permission")
            .into_iter()
            .any(|id| {
                let p = &t.resource(&id)["Properties"];
                p["Principal"].as_str() == Some("apigateway.amazonaws.com")
                    && function_of(t, functions, &p["FunctionName"]).as_deref() == Some(f)
                    && Template::refs(&p["SourceArn"], &apis).contains(&api)
            });
        if !allowed {
            problems.push(format!("{f}: no permission for the HTTP API to invoke it"));
        }
    }
    // The $default stage, throttled, with access logs that hold nothing personal.
    let stages = t.ids_of_type("AWS::ApiGatewayV2::Stage");
    let stage_ok = stages.iter().any(|id| {
        let p = &t.resource(id)["Properties"];
        let s = &p["DefaultRouteSettings"];
        p["StageName"].as_str() == Some("$default")
            && !s["ThrottlingRateLimit"].is_badvalue()
            && !s["ThrottlingBurstLimit"].is_badvalue()
    });
    if !stage_ok {
        problems.push("HTTP API: no throttled $default stage".into());
    }
    let logs = t.ids_of_type("AWS::Logs::LogGroup");
    for id in &stages {
        let a = &t.resource(id)["Properties"]["AccessLogSettings"];
        let format = a["Format"].as_str().unwrap_or("");
        let to_group = Template::refs(&a["DestinationArn"], &logs)
            .into_iter()
            .next();
        let kept = to_group
            .as_ref()
            .is_some_and(|g| !t.resource(g)["Properties"]["RetentionInDays"].is_badvalue());
        if !kept || format.is_empty() {
            problems.push(format!(
                "{id}: no access log to a log group of this template with a retention"
            ));
        }
        for token in [
            "$context.path",
            "$context.identity.sourceIp",
            "$context.identity.userAgent",
            "$input",
            "querystring",
            "$request",
        ] {
            if format
                .to_ascii_lowercase()
                .contains(&token.to_ascii_lowercase())
            {
                problems.push(format!(
                    "{id}: its access log records {token}, which may identify a person"
                ));
            }
        }
    }
    let alarmed = t
        .ids_of_type("AWS::CloudWatch::Alarm")
        .into_iter()
        .any(|id| {
            let p = &t.resource(&id)["Properties"];
            p["Namespace"].as_str() == Some("AWS/ApiGateway")
                && p["MetricName"].as_str() == Some("5xx")
                && Template::refs(&p["Dimensions"], &apis).contains(&api)
        });
    if !alarmed {
        problems.push("HTTP API: no alarm on its 5xx".into());
    }

    // The China regions: function URLs and X-Ray's Lambda tracing do not exist there.
    let china = doc["Rules"].as_hash().is_some_and(|rules| {
        rules.values().any(|r| {
            let when = leaves(&r["RuleCondition"]);
            let asserts = leaves(&r["Assertions"]);
            when.iter().any(|l| l == "AWS::Partition")
                && when.iter().any(|l| l == "aws-cn")
                && asserts.iter().any(|l| l == "Front")
                && asserts.iter().any(|l| l == "HttpApi")
                && asserts.iter().any(|l| l == "Tracing")
        })
    });
    if !china {
        problems
            .push("Rules: none refuses Front=FunctionUrls and Tracing in partition aws-cn".into());
    }
    // Partition-clean: no ARN written for one partition.
    for l in leaves(&doc["Resources"])
        .iter()
        .chain(leaves(&doc["Outputs"]).iter())
    {
        if l.contains("arn:aws:") {
            problems.push(format!(
                "an ARN of partition aws only ({l}); use ${{AWS::Partition}}"
            ));
        }
    }
    if leaves(&doc["Globals"]["Function"]["Architectures"]) != ["Architecture"] {
        problems.push("Globals.Function.Architectures is not the Architecture parameter".into());
    }
}

fn metrics_namespace() -> &'static str {
    wxface::telemetry::metrics::NAMESPACE
}

// ------------------------------------------------------------------ the real template

#[test]
fn a_missing_or_stray_environment_variable_is_caught() {
    fn vars<'a>(doc: &'a mut Yaml, binary: &str) -> &'a mut yaml_rust2::yaml::Hash {
        let (id, _) = ids(doc, binary);
        hash_mut(
            doc,
            &["Resources", &id, "Properties", "Environment", "Variables"],
        )
    }
    expect_caught(
        |doc| {
            vars(doc, "reconcile").remove(&key("RECONCILE_SCHEDULE_GROUP"));
        },
        &["reconcile", "lacks RECONCILE_SCHEDULE_GROUP"],
    );
    expect_caught(
        |doc| {
            vars(doc, "publish-events").insert(key("PUSH_MODE"), s("safe"));
        },
        &["publish-events", "sets PUSH_MODE, which it does not read"],
    );
}

#[test]
fn the_template_grants_least_privilege_and_meets_the_push_deadline() {
    let problems = check(&real_template());
    assert!(
        problems.is_empty(),
        "template.yaml breaks {} rule(s):\n  {}",
        problems.len(),
        problems.join("\n  ")
    );
}

/// Every endpoint of the `Upstream` enum is called by some function's manifest and used by
/// an adapter (`Upstream::<Variant>` in the non-test part of the WeChat or WeChat Pay adapter),
/// and no adapter names an endpoint by a string literal.
#[test]
fn the_upstream_table_is_the_codes_endpoints() {
    let root = wxface_harness::workspace_root().join("shared/src/adapters");
    let mut code = String::new();
    for file in ["wechat.rs", "wechatpay/client.rs"] {
        let text = std::fs::read_to_string(root.join(file)).expect("adapter source");
        code.push_str(text.split("#[cfg(test)]").next().unwrap_or_default());
    }
    let table: BTreeSet<Upstream> = Function::ALL
        .iter()
        .flat_map(|f| f.upstreams().iter().copied())
        .collect();
    for u in Upstream::ALL {
        assert!(table.contains(&u), "{u}: no function's manifest calls it");
        let variant = format!("{u:?}");
        assert!(
            code.contains(&format!("Upstream::{variant}")),
            "{u}: no adapter calls it"
        );
        assert!(
            !code.contains(&format!("\"{}\"", u.name())),
            "{u}: an adapter names it by a string literal"
        );
    }
}

// ------------------------------------------------------------------ the rules catch faults

/// The node at `path` (mapping keys, or sequence indexes as numbers).
fn at<'a>(y: &'a mut Yaml, path: &[&str]) -> &'a mut Yaml {
    let mut cur = y;
    for p in path {
        cur = match cur {
            Yaml::Hash(h) => h
                .get_mut(&key(p))
                .unwrap_or_else(|| panic!("no key {p} in the template")),
            Yaml::Array(a) => {
                let i: usize = p.parse().expect("a sequence index");
                &mut a[i]
            }
            _ => panic!("cannot descend into {p}"),
        };
    }
    cur
}

fn hash(pairs: &[(&str, Yaml)]) -> Yaml {
    let mut h = yaml_rust2::yaml::Hash::new();
    for (k, v) in pairs {
        h.insert(key(k), v.clone());
    }
    Yaml::Hash(h)
}

fn s(v: &str) -> Yaml {
    key(v)
}

/// (function logical id, its role's logical id) for a binary, from the real template.
fn ids(doc: &Yaml, binary: &str) -> (String, String) {
    let t = Template::new(doc).unwrap();
    let (id, _) = t
        .functions()
        .into_iter()
        .find(|(_, b)| b == binary)
        .unwrap_or_else(|| panic!("no function {binary}"));
    let roles = t.ids_of_type("AWS::IAM::Role");
    let role = Template::refs(t.function_prop(&id, "Role"), &roles)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("{binary} has no role of the template"));
    (id, role)
}

fn statements_mut<'a>(doc: &'a mut Yaml, role: &str) -> &'a mut Vec<Yaml> {
    match at(
        doc,
        &[
            "Resources",
            role,
            "Properties",
            "Policies",
            "0",
            "PolicyDocument",
            "Statement",
        ],
    ) {
        Yaml::Array(a) => a,
        _ => panic!("{role}: Statement is not a list"),
    }
}

fn secret_of(doc: &Yaml, binary: &str, var: &str) -> String {
    let (id, _) = ids(doc, binary);
    leaves(&doc["Resources"][id.as_str()]["Properties"]["Environment"]["Variables"][var])
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("{binary} has no {var}"))
}

fn allow(action: &str, resource: Yaml) -> Yaml {
    hash(&[
        ("Effect", s("Allow")),
        ("Action", s(action)),
        ("Resource", resource),
    ])
}

/// Breaks the real template with `mutate`, and expects a problem containing every one of `want`.
fn expect_caught(mutate: impl FnOnce(&mut Yaml), want: &[&str]) {
    let mut doc = real_template();
    assert!(check(&doc).is_empty(), "the real template must pass first");
    mutate(&mut doc);
    let problems = check(&doc);
    assert!(
        problems.iter().any(|p| want.iter().all(|w| p.contains(w))),
        "expected a problem mentioning {want:?}, got: {problems:#?}"
    );
}

/// [`expect_caught`] for one more statement, made by `statement`, in `binary`'s role.
fn expect_granted_caught(binary: &str, statement: impl FnOnce(&Yaml) -> Yaml, want: &[&str]) {
    expect_caught(
        |doc| {
            let extra = statement(doc);
            let (_, role) = ids(doc, binary);
            statements_mut(doc, &role).push(extra);
        },
        want,
    );
}

/// `binary` allowed `action` on the secret that `var` names in `owner`'s environment, which
/// it should not be.
fn expect_secret_grant_caught(binary: &str, action: &str, owner: &str, var: &str) {
    let grant = |doc: &Yaml| allow(action, s(&secret_of(doc, owner, var)));
    expect_granted_caught(binary, grant, &[binary, action, var, "should not"]);
}

/// The mapping at `path`.
fn hash_mut<'a>(doc: &'a mut Yaml, path: &[&str]) -> &'a mut yaml_rust2::yaml::Hash {
    match at(doc, path) {
        Yaml::Hash(h) => h,
        _ => panic!("{path:?} is not a mapping"),
    }
}

/// The Properties of `binary`'s function.
fn function_props<'a>(doc: &'a mut Yaml, binary: &str) -> &'a mut yaml_rust2::yaml::Hash {
    let (id, _) = ids(doc, binary);
    hash_mut(doc, &["Resources", &id, "Properties"])
}

#[test]
fn a_wildcard_action_is_caught() {
    expect_caught(
        |doc| {
            let (_, role) = ids(doc, "issue-key");
            let st = &mut statements_mut(doc, &role)[0];
            *at(st, &["Action"]) = s("dynamodb:*");
        },
        &["wildcard in Action", "dynamodb:*"],
    );
}

#[test]
fn a_wildcard_resource_is_caught() {
    let index = s("${SessionsTable.Arn}/index/*");
    let want = ["wildcard in Resource", "/index/*"];
    expect_granted_caught("verify-result", |_| allow("dynamodb:GetItem", index), &want);
    let logs = |_: &Yaml| allow("logs:PutLogEvents", s("*"));
    expect_granted_caught("authinfo", logs, &["wildcard in Resource"]);
}

#[test]
fn not_action_is_caught() {
    let statement = hash(&[
        ("Effect", s("Allow")),
        ("NotAction", s("iam:CreateUser")),
        ("Resource", s("SessionsTable.Arn")),
    ]);
    expect_granted_caught("event-callback", |_| statement, &["NotAction"]);
}

#[test]
fn authinfo_reading_the_app_secret_is_caught() {
    expect_secret_grant_caught("authinfo", GET, "issue-key", APP_SECRET);
}

#[test]
fn authinfo_writing_the_token_secret_is_caught() {
    expect_secret_grant_caught("authinfo", PUT, "issue-key", TOKEN_SECRET);
}

#[test]
fn a_mini_program_function_reading_the_merchant_secret_is_caught() {
    for binary in ["issue-key", "verify-result", "event-callback"] {
        expect_secret_grant_caught(binary, GET, "authinfo", MERCHANT_SECRET);
    }
}

/// publish-events never calls WeChat: it cannot read its credentials or its token.
#[test]
fn publish_events_reading_wechat_credentials_is_caught() {
    expect_secret_grant_caught("publish-events", GET, "verify-result", WECHAT_SECRET);
    expect_secret_grant_caught("publish-events", GET, "issue-key", TOKEN_SECRET);
}

#[test]
fn an_unalarmed_skipped_record_and_a_webhook_header_the_rotation_misses_are_caught() {
    expect_caught(
        |doc| {
            hash_mut(doc, &["Resources"]).remove(&s("EventsUnreadableAlarm"));
        },
        &["EventsUnreadable"],
    );
    expect_caught(
        |doc| {
            *at(
                doc,
                &[
                    "Resources",
                    "WebhookConnection",
                    "Properties",
                    "AuthParameters",
                    "ApiKeyAuthParameters",
                    "ApiKeyName",
                ],
            ) = s("X-Other-Token");
        },
        &["rotate-webhook-token.sh", "X-Other-Token"],
    );
}

#[test]
fn booking_checks_beyond_reconciles_group_or_by_another_function_is_caught() {
    let anywhere = |_: &Yaml| {
        allow(
            "scheduler:CreateSchedule",
            s("arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:schedule/*"),
        )
    };
    expect_granted_caught("reconcile", anywhere, &["reconcile", "wildcard"]);
    let by_lookup = |_: &Yaml| {
        allow(
            "scheduler:CreateSchedule",
            s(
                "arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:schedule/${AWS::StackName}-reconcile/*",
            ),
        )
    };
    expect_granted_caught("lookup", by_lookup, &["lookup", "scheduler:CreateSchedule"]);
    let pass_any = |_: &Yaml| allow("iam:PassRole", s("LookupRole.Arn"));
    expect_granted_caught("reconcile", pass_any, &["reconcile", "iam:PassRole"]);
}

#[test]
fn writing_the_app_secret_is_caught() {
    expect_secret_grant_caught("verify-result", PUT, "verify-result", APP_SECRET);
}

#[test]
fn a_secret_named_in_the_wrong_environment_is_caught() {
    expect_caught(
        |doc| {
            let token = secret_of(doc, "issue-key", TOKEN_SECRET);
            let (id, _) = ids(doc, "authinfo");
            let vars = hash_mut(
                doc,
                &["Resources", &id, "Properties", "Environment", "Variables"],
            );
            vars.insert(key(TOKEN_SECRET), s(&token));
        },
        &["authinfo", TOKEN_SECRET, "should not have"],
    );
}

#[test]
fn a_slow_event_callback_is_caught() {
    expect_caught(
        |doc| {
            let (id, _) = ids(doc, "event-callback");
            *at(doc, &["Resources", &id, "Properties", "Timeout"]) = Yaml::Integer(5);
        },
        &["event-callback", "timeout 5 s"],
    );
    // Without its own timeout it inherits the global one (15 s).
    expect_caught(
        |doc| {
            function_props(doc, "event-callback").remove(&key("Timeout"));
        },
        &["event-callback", "not below"],
    );
}

#[test]
fn sams_generated_role_and_managed_policies_are_caught() {
    let crud = || {
        let table = hash(&[("TableName", s("SessionsTable"))]);
        Yaml::Array(vec![hash(&[("DynamoDBCrudPolicy", table)])])
    };
    expect_caught(
        |doc| {
            let props = function_props(doc, "issue-key");
            props.remove(&key("Role"));
            props.insert(key("Policies"), crud());
        },
        &["issue-key", "no Role"],
    );
    expect_caught(
        |doc| {
            function_props(doc, "issue-key").insert(key("Policies"), crud());
        },
        &["SAM policy template DynamoDBCrudPolicy"],
    );
    let basic = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole";
    expect_caught(
        |doc| {
            let (_, role) = ids(doc, "authinfo");
            let props = hash_mut(doc, &["Resources", &role, "Properties"]);
            props.insert(key("ManagedPolicyArns"), Yaml::Array(vec![s(basic)]));
        },
        &["managed policies", "AWSLambdaBasicExecutionRole"],
    );
}

#[test]
fn broader_dynamodb_access_is_caught() {
    let scan = |_: &Yaml| allow("dynamodb:Scan", s("SessionsTable.Arn"));
    expect_granted_caught("authinfo", scan, &["authinfo", "dynamodb:Scan"]);
}

#[test]
fn events_and_the_stream_beyond_publish_events_are_caught() {
    let put = |_: &Yaml| {
        allow(
            "events:PutEvents",
            s("arn:aws:events:us-east-1:1:event-bus/${EventBusName}"),
        )
    };
    expect_granted_caught("verify-result", put, &["verify-result", "events:PutEvents"]);
    let other_bus = |_: &Yaml| {
        allow(
            "events:PutEvents",
            s("arn:aws:events:us-east-1:1:event-bus/other"),
        )
    };
    expect_granted_caught(
        "publish-events",
        other_bus,
        &["publish-events", "not the EventBusName bus"],
    );
    let items = |_: &Yaml| allow("dynamodb:GetItem", s("SessionsTable.Arn"));
    expect_granted_caught(
        "publish-events",
        items,
        &["publish-events", "dynamodb:GetItem"],
    );
    let stream_by_others = |_: &Yaml| allow("dynamodb:GetRecords", s("SessionsTable.StreamArn"));
    expect_granted_caught(
        "lookup",
        stream_by_others,
        &["lookup", "dynamodb:GetRecords"],
    );
}

#[test]
fn a_missing_or_metric_math_upstream_alarm_is_caught() {
    expect_caught(
        |doc| {
            let resources = hash_mut(doc, &["Resources"]);
            resources.remove(&s("VerifyResultGetinfoUpstreamAlarm"));
        },
        &["verify-result: no upstream alarm on getinfo"],
    );
    expect_caught(
        |doc| {
            let alarm = hash_mut(
                doc,
                &[
                    "Resources",
                    "AuthinfoFacemchUsersUpstreamAlarm",
                    "Properties",
                ],
            );
            alarm.insert(s("Metrics"), Yaml::Array(vec![]));
        },
        &["AuthinfoFacemchUsersUpstreamAlarm: metric math"],
    );
}

/// The logical id of the resource of type `ty` whose property `prop` reads `value`.
fn resource_where(doc: &Yaml, ty: &str, prop: &str, value: &str) -> String {
    let t = Template::new(doc).unwrap();
    t.ids_of_type(ty)
        .into_iter()
        .find(|id| {
            leaves(&t.resource(id)["Properties"][prop])
                .iter()
                .any(|l| l == value)
        })
        .unwrap_or_else(|| panic!("no {ty} with {prop} {value}"))
}

fn route_id(doc: &Yaml, key: &str) -> String {
    resource_where(doc, "AWS::ApiGatewayV2::Route", "RouteKey", key)
}

#[test]
fn a_lookup_anyone_can_call_is_caught() {
    expect_caught(
        |doc| {
            let url = resource_where(doc, "AWS::Lambda::Url", "AuthType", "AWS_IAM");
            *at(doc, &["Resources", &url, "Properties", "AuthType"]) = s("NONE");
        },
        &["lookup", "function URL is NONE, not AWS_IAM"],
    );
    expect_caught(
        |doc| {
            let route = route_id(doc, "GET /lookup");
            *at(
                doc,
                &["Resources", &route, "Properties", "AuthorizationType"],
            ) = s("NONE");
        },
        &["no route GET /lookup to lookup (AWS_IAM)"],
    );
}

#[test]
fn a_route_to_the_wrong_function_a_missing_one_and_a_catch_all_are_caught() {
    expect_caught(
        |doc| {
            let route = route_id(doc, "POST /authinfo/real-name");
            let target = s("integrations/${IssueKeyIntegration}");
            *at(doc, &["Resources", &route, "Properties", "Target"]) = target;
        },
        &["no route POST /authinfo/real-name to authinfo"],
    );
    expect_caught(
        |doc| {
            let route = route_id(doc, "GET /.well-known/jwks.json");
            hash_mut(doc, &["Resources"]).remove(&key(&route));
        },
        &["no route GET /.well-known/jwks.json to verify-result"],
    );
    expect_caught(
        |doc| {
            let route = route_id(doc, "POST /issue-key");
            *at(doc, &["Resources", &route, "Properties", "RouteKey"]) = s("$default");
        },
        &["route $default to issue-key (NONE) is not one of the code's routes"],
    );
}

#[test]
fn a_function_url_behind_the_http_api_is_caught() {
    expect_caught(
        |doc| {
            let url = resource_where(doc, "AWS::Lambda::Url", "AuthType", "AWS_IAM");
            hash_mut(doc, &["Resources", &url]).remove(&key("Condition"));
        },
        &["without Condition UseFunctionUrls"],
    );
    expect_caught(
        |doc| {
            let url = hash(&[("AuthType", s("NONE"))]);
            function_props(doc, "issue-key").insert(key("FunctionUrlConfig"), url);
        },
        &["issue-key: FunctionUrlConfig"],
    );
    expect_caught(
        |doc| {
            let route = route_id(doc, "POST /issue-key");
            hash_mut(doc, &["Resources", &route]).remove(&key("Condition"));
        },
        &["part of the HTTP API without Condition UseHttpApi"],
    );
}

#[test]
fn no_china_rule_a_partition_bound_arn_and_personal_access_logs_are_caught() {
    expect_caught(
        |doc| {
            hash_mut(doc, &[]).remove(&key("Rules"));
        },
        &["Rules: none refuses Front=FunctionUrls"],
    );
    expect_caught(
        |doc| {
            let (_, role) = ids(doc, "publish-events");
            let bus = s("arn:aws:events:us-east-1:123456789012:event-bus/EventBusName");
            let statements = statements_mut(doc, &role);
            let put = statements
                .iter_mut()
                .find(|st| st["Sid"].as_str() == Some("PutVerificationEvents"))
                .unwrap();
            put["Resource"] = bus;
        },
        &["an ARN of partition aws only"],
    );
    expect_caught(
        |doc| {
            let t = Template::new(doc).unwrap();
            let stage = t
                .ids_of_type("AWS::ApiGatewayV2::Stage")
                .into_iter()
                .next()
                .unwrap();
            let format = at(
                doc,
                &[
                    "Resources",
                    &stage,
                    "Properties",
                    "AccessLogSettings",
                    "Format",
                ],
            );
            let with_ip = format
                .as_str()
                .unwrap()
                .replace('}', r#","ip":"$context.identity.sourceIp"}"#);
            *format = s(&with_ip);
        },
        &["records $context.identity.sourceIp"],
    );
}

#[test]
fn only_xrays_two_actions_may_have_a_wildcard_resource() {
    expect_caught(
        |doc| {
            let (_, role) = ids(doc, "lookup");
            let statements = statements_mut(doc, &role);
            let traced = statements
                .iter_mut()
                .find(|st| matches!(st, Yaml::Array(_)))
                .expect("the role's X-Ray statement under TracingActive");
            let Yaml::Array(branches) = traced else {
                unreachable!()
            };
            let Yaml::Array(actions) = &mut branches[1]["Action"] else {
                panic!("X-Ray's actions")
            };
            actions.push(s("dynamodb:GetItem"));
        },
        &["wildcard in Resource: *"],
    );
}

#[test]
fn a_function_writing_another_functions_items_is_caught() {
    // The internet-facing authinfo may not write a session (say, as verified).
    expect_caught(
        |doc| {
            let (_, role) = ids(doc, "authinfo");
            let st = statements_mut(doc, &role)
                .iter_mut()
                .find(|st| st["Sid"].as_str() == Some("KioskItems"))
                .unwrap();
            let Yaml::Array(keys) =
                &mut st["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
            else {
                panic!("KioskItems' leading keys")
            };
            keys.push(s("session#*"));
        },
        &["authinfo: can dynamodb:PutItem on items session#*"],
    );
    // Without the condition, a role reaches every item kind.
    expect_caught(
        |doc| {
            let (_, role) = ids(doc, "lookup");
            let st = statements_mut(doc, &role)
                .iter_mut()
                .find(|st| st["Sid"].as_str() == Some("SessionItems"))
                .unwrap();
            let Yaml::Hash(h) = st else {
                panic!("a statement")
            };
            h.remove(&key("Condition"));
        },
        &["lookup", "without a dynamodb:LeadingKeys condition"],
    );
}

#[test]
fn a_bus_anyone_may_put_wxface_events_on_and_a_rule_of_any_account_are_caught() {
    expect_caught(
        |doc| {
            let t = Template::new(doc).unwrap();
            let bus = t
                .ids_of_type("AWS::Events::EventBus")
                .into_iter()
                .next()
                .unwrap();
            hash_mut(doc, &["Resources", &bus, "Properties"]).remove(&key("Policy"));
        },
        &["its policy does not refuse wxface events"],
    );
    expect_caught(
        |doc| {
            let t = Template::new(doc).unwrap();
            let rule = t
                .ids_of_type("AWS::Events::Rule")
                .into_iter()
                .next()
                .unwrap();
            hash_mut(doc, &["Resources", &rule, "Properties", "EventPattern"])
                .remove(&key("account"));
        },
        &["its pattern takes events of any account"],
    );
}

#[test]
fn the_tenants_secrets_granted_beyond_their_prefix_or_to_the_wrong_function_are_caught() {
    let tenant_statement = |doc: &mut Yaml, binary: &str, sid: &str| -> Yaml {
        let (_, role) = ids(doc, binary);
        statements_mut(doc, &role)
            .iter()
            .find(|st| st["Sid"].as_str() == Some(sid))
            .unwrap_or_else(|| panic!("{binary}: {sid}"))
            .clone()
    };
    // Every secret of the account, not the stack's tenants'.
    expect_caught(
        |doc| {
            let (_, role) = ids(doc, "lookup");
            let st = statements_mut(doc, &role)
                .iter_mut()
                .find(|st| st["Sid"].as_str() == Some("ReadTenantSecrets"))
                .unwrap();
            st["Resource"] =
                s("arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:*");
        },
        &["lookup", "wildcard in Resource"],
    );
    // publish-events never calls WeChat: no tenant's credentials.
    expect_caught(
        |doc| {
            let read = tenant_statement(doc, "lookup", "ReadTenantSecrets");
            let (_, role) = ids(doc, "publish-events");
            statements_mut(doc, &role).push(read);
        },
        &["publish-events: can secretsmanager:GetSecretValue on the tenants' TenantSecrets"],
    );
    // A function that serves tenants but cannot keep their tokens.
    expect_caught(
        |doc| {
            let (_, role) = ids(doc, "reconcile");
            statements_mut(doc, &role)
                .retain(|st| st["Sid"].as_str() != Some("TenantAccessTokens"));
        },
        &["reconcile: lacks secretsmanager:PutSecretValue on the tenants' TenantTokens"],
    );
}
