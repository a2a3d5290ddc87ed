//! The harness against a real moto_server: table from template.yaml, secrets, PII scan, logs.

use aws_sdk_dynamodb::types::{AttributeValue, BillingMode, KeyType, TimeToLiveStatus};
use std::collections::HashMap;
use wxface_harness::fixtures::{PEOPLE, unique_name};
use wxface_harness::{Moto, logs, pii, secrets, template};

#[tokio::test]
async fn sessions_table_is_created_as_the_template_declares() {
    let moto = Moto::start().await;
    let ddb = moto.dynamodb().await;
    let table = unique_name("harness-table");
    template::create_sessions_table(&ddb, &table).await.unwrap();
    // Idempotent.
    template::create_sessions_table(&ddb, &table).await.unwrap();

    // Both descriptions, read back from the emulator.
    let desc = ddb.describe_table().table_name(&table).send();
    let ttl = ddb.describe_time_to_live().table_name(&table).send();
    let (desc, ttl) = tokio::join!(desc, ttl);
    let (desc, ttl) = (desc.unwrap(), ttl.unwrap());
    let t = desc.table().unwrap();
    let keys = t.key_schema();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].attribute_name(), "pk");
    assert_eq!(keys[0].key_type(), &KeyType::Hash);
    assert_eq!(t.attribute_definitions()[0].attribute_name(), "pk");
    assert_eq!(
        t.billing_mode_summary().and_then(|b| b.billing_mode()),
        Some(&BillingMode::PayPerRequest)
    );
    let ttl = ttl.time_to_live_description().unwrap();
    assert_eq!(ttl.attribute_name(), Some("expires_at"));
    assert_eq!(ttl.time_to_live_status(), Some(&TimeToLiveStatus::Enabled));

    ddb.delete_table().table_name(&table).send().await.unwrap();
}

#[tokio::test]
async fn secrets_with_and_without_value() {
    let moto = Moto::start().await;
    let sm = moto.secretsmanager().await;
    let empty = unique_name("harness/token");
    secrets::create_secret(&sm, &empty, None).await.unwrap();
    assert_eq!(secrets::get_secret(&sm, &empty).await.unwrap(), None);
    // Idempotent, and leaves the secret unchanged.
    secrets::create_secret(&sm, &empty, Some("x"))
        .await
        .unwrap();
    assert_eq!(secrets::get_secret(&sm, &empty).await.unwrap(), None);
    secrets::put_secret(&sm, &empty, r#"{"access_token":"t","expires_at":1}"#)
        .await
        .unwrap();
    assert_eq!(
        secrets::get_secret(&sm, &empty).await.unwrap().as_deref(),
        Some(r#"{"access_token":"t","expires_at":1}"#)
    );

    let full = unique_name("harness/app");
    secrets::create_secret(&sm, &full, Some(r#"{"appid":"wx1"}"#))
        .await
        .unwrap();
    assert_eq!(
        secrets::get_secret(&sm, &full).await.unwrap().as_deref(),
        Some(r#"{"appid":"wx1"}"#)
    );
    assert!(
        secrets::get_secret(&sm, &unique_name("missing"))
            .await
            .is_err()
    );

    let key = secrets::random_data_key();
    use base64::Engine;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(&key)
        .unwrap();
    assert_eq!(raw.len(), 32);
    assert_ne!(key, secrets::random_data_key());
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

/// Puts `item` into `table`, then scans every table: (items scanned, findings).
async fn plant_and_scan(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    item: HashMap<String, AttributeValue>,
) -> (usize, Vec<pii::Finding>) {
    let put = ddb.put_item().table_name(table).set_item(Some(item));
    put.send().await.unwrap();
    pii::scan_tables(ddb).await.unwrap()
}

#[tokio::test]
async fn table_scan_finds_planted_pii_and_passes_clean_items() {
    // A private server: this test plants personal data, which must not reach the shared one
    // (the test script scans that one at the end of the run).
    let moto = Moto::spawn().await;
    assert!(moto.is_private());
    let ddb = moto.dynamodb().await;
    let table = unique_name("pii-scan");
    template::create_sessions_table(&ddb, &table).await.unwrap();

    let clean: HashMap<String, AttributeValue> = HashMap::from([
        ("pk".to_string(), s("session#a1B2c3D4e5")),
        ("status".to_string(), s("verified")),
        (
            "expires_at".to_string(),
            AttributeValue::N("1763800000".into()),
        ),
        (
            "name_hmac".to_string(),
            s("7b1d0c9e8f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c"),
        ),
    ]);
    let (items, findings) = plant_and_scan(&ddb, &table, clean).await;
    assert_eq!(items, 1);
    assert_eq!(findings, vec![]);

    // A leak hidden in a nested map: the MD5 of a fixture ID number.
    let (name, id) = PEOPLE[1];
    let md5 = {
        use md5::{Digest, Md5};
        hex::encode(Md5::digest(id.as_bytes()))
    };
    let leaky: HashMap<String, AttributeValue> = HashMap::from([
        ("pk".to_string(), s("session#zz")),
        (
            "wechat".to_string(),
            AttributeValue::M(HashMap::from([(
                "nested".to_string(),
                AttributeValue::L(vec![s(&md5)]),
            )])),
        ),
        ("raw".to_string(), AttributeValue::B(name.as_bytes().into())),
    ]);
    let (items, findings) = plant_and_scan(&ddb, &table, leaky).await;
    assert_eq!(items, 2);
    assert!(
        findings
            .iter()
            .any(|f| f.what == "MD5 (lowercase hex) of the ID of person 2"
                && f.place.contains(&table)
                && f.place.ends_with("attribute wechat")),
        "{findings:?}"
    );
    assert!(
        findings
            .iter()
            .any(|f| f.what == "the name of person 2" && f.place.ends_with("attribute raw")),
        "{findings:?}"
    );
    for f in &findings {
        let shown = f.to_string();
        assert!(!shown.contains(name) && !shown.contains(id) && !shown.contains(&md5));
    }
}

#[test]
fn captured_logs_go_to_the_process_file_and_the_simulator_apart() {
    logs::capture();
    logs::capture(); // once per process
    let marker = unique_name("log-marker");
    tracing::debug!(target: "wxface", marker = %marker, "harness log capture check");
    tracing::debug!(target: "hyper", marker = %marker, "below info elsewhere: dropped");
    tracing::info!(target: "wechat_sim", marker = %marker, "simulator line");

    let text = std::fs::read_to_string(logs::log_file()).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| l.contains(&marker)).collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let v: serde_json::Value = serde_json::from_str(lines[0]).expect("JSON lines");
    assert_eq!(v["level"], "DEBUG");
    assert_eq!(v["target"], "wxface");

    let sim =
        std::fs::read_to_string(logs::sim_log_dir().join(format!("{}.log", std::process::id())))
            .unwrap();
    assert!(
        sim.lines()
            .any(|l| l.contains(&marker) && l.contains("simulator line"))
    );
}

#[tokio::test]
async fn concurrent_transactions_are_atomic_not_500s() {
    // Plain moto_server fails some of these with HTTP 500 (it is not thread-safe);
    // scripts/moto_server.py serializes requests as DynamoDB's atomicity requires.
    use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
    let moto = Moto::start().await;
    let config = aws_sdk_dynamodb::config::Builder::from(&moto.sdk_config().await)
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
        .build();
    let ddb = aws_sdk_dynamodb::Client::from_conf(config);
    let table = unique_name("harness-race");
    template::create_sessions_table(&ddb, &table).await.unwrap();
    for i in 0..100 {
        ddb.put_item()
            .table_name(&table)
            .item("pk", s(&format!("seed#{i}")))
            .item("payload", s(&"x".repeat(64)))
            .send()
            .await
            .unwrap();
    }

    let mut tasks = Vec::new();
    for worker in 0..8 {
        let (ddb, table) = (ddb.clone(), table.clone());
        tasks.push(tokio::spawn(async move {
            let (mut won, mut cancelled, mut other) = (0, 0, Vec::new());
            for j in 0..8 {
                let once = Put::builder()
                    .table_name(&table)
                    .item("pk", s("once"))
                    .item("winner", s(&worker.to_string()))
                    .condition_expression("attribute_not_exists(pk)")
                    .build()
                    .unwrap();
                let log = Put::builder()
                    .table_name(&table)
                    .item("pk", s(&format!("log#{worker}#{j}")))
                    .build()
                    .unwrap();
                let r = ddb
                    .transact_write_items()
                    .transact_items(TransactWriteItem::builder().put(once).build())
                    .transact_items(TransactWriteItem::builder().put(log).build())
                    .send()
                    .await;
                match r {
                    Ok(_) => won += 1,
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|e| e.is_transaction_canceled_exception()) =>
                    {
                        cancelled += 1
                    }
                    Err(e) => {
                        other.push(aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())
                    }
                }
            }
            (won, cancelled, other)
        }));
    }
    let (mut won, mut cancelled, mut other) = (0, 0, Vec::new());
    for t in tasks {
        let (w, c, o) = t.await.unwrap();
        won += w;
        cancelled += c;
        other.extend(o);
    }
    assert!(
        other.is_empty(),
        "unexpected errors: {:?}",
        &other[..other.len().min(3)]
    );
    assert_eq!((won, cancelled), (1, 63));
    ddb.delete_table().table_name(&table).send().await.unwrap();
}
