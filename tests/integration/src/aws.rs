//! What every world stands on: moto, a fresh sessions table and the secrets
//! a test names, all unique to the test so tests share one moto safely.

use std::collections::HashMap;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;
use wxface_harness::fixtures::unique_name;
use wxface_harness::{Moto, logs, secrets, template};

pub type Item = HashMap<String, AttributeValue>;

pub struct AwsWorld {
    pub moto: Moto,
    pub config: SdkConfig,
    pub table: String,
}

impl AwsWorld {
    /// Captures the logs, starts (or joins) moto and creates a sessions table.
    pub async fn start(table_prefix: &str) -> Self {
        logs::capture();
        let moto = Moto::start().await;
        let config = moto.sdk_config().await;
        let table = unique_name(table_prefix);
        template::create_sessions_table(&aws_sdk_dynamodb::Client::new(&config), &table)
            .await
            .expect("table");
        AwsWorld {
            moto,
            config,
            table,
        }
    }

    /// A new secret named after `prefix`, holding `value` (none: no value yet,
    /// as a fresh deploy leaves it); its id.
    pub async fn secret(&self, prefix: &str, value: Option<&Value>) -> String {
        let id = unique_name(prefix);
        let sm = aws_sdk_secretsmanager::Client::new(&self.config);
        let text = value.map(Value::to_string);
        secrets::create_secret(&sm, &id, text.as_deref())
            .await
            .unwrap_or_else(|e| panic!("secret {prefix}: {e}"));
        id
    }

    /// A function's environment: SESSIONS_TABLE names this table, `vars` the rest.
    pub fn env(&self, vars: &[(&str, String)]) -> impl Fn(&str) -> Option<String> + use<> {
        let mut env: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        env.insert("SESSIONS_TABLE".into(), self.table.clone());
        move |k| env.get(k).cloned()
    }
}

/// Every item of `table`.
pub async fn scan(config: &SdkConfig, table: &str) -> Vec<Item> {
    let ddb = aws_sdk_dynamodb::Client::new(config);
    let out = ddb.scan().table_name(table).send().await.expect("scan");
    out.items().to_vec()
}

/// The partition key of `item`.
pub fn pk(item: &Item) -> &str {
    item.get("pk").and_then(|v| v.as_s().ok()).map_or("", |s| s)
}

/// Items as sorted lines of sorted attributes: equal tables, equal texts.
pub fn as_text<'a>(items: impl IntoIterator<Item = &'a Item>) -> Vec<String> {
    let mut lines: Vec<String> = items
        .into_iter()
        .map(|i| {
            let mut kv: Vec<_> = i.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
            kv.sort();
            kv.join(",")
        })
        .collect();
    lines.sort();
    lines
}
