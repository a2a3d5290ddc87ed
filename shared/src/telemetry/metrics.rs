//! CloudWatch embedded metric format (EMF): a metric is one JSON object
//! printed on its own line; CloudWatch Logs extracts it. No PutMetricData
//! call, no extra permission, no latency on the request path.
//!
//! Namespace `wxface`:
//!
//! | metric | unit | dimensions |
//! |---|---|---|
//! | `Verifications` | Count | Function, Flow, Status (`issued`, `verified`, `failed`, `rejected`); a tenant's also the field `AppId` |
//! | `WebhookDeliveries` | Count | Outcome (deliver-webhooks: `delivered`, `retry`, `gone`, `disabled`, `no_webhook`) |
//! | `UpstreamCalls`, `UpstreamErrors` | Count | Function, Upstream (the WeChat / WeChat Pay endpoint) |
//! | `UpstreamErrorRate` | Percent (100 failed, 0 not: its average is the failure rate) | Function, Upstream |
//! | `UpstreamLatency` | Milliseconds | Function, Upstream |
//! | `TokenRefreshes` | Count | Function |
//! | `EventsPublished`, `EventsUnpublished`, `EventsUnreadable` | Count | Function (publish-events: published, left to retry, skipped as never publishable) |
//! | `SecretReloadFailures` | Count | none (one alarm for all functions; the log line names the function) |

use std::io::Write;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const NAMESPACE: &str = "wxface";

type Sink = Box<dyn Fn(&str) + Send + Sync>;

static SINK: OnceLock<Mutex<Option<Sink>>> = OnceLock::new();

/// Sends metric lines somewhere else than stdout (tests).
pub fn set_sink(sink: impl Fn(&str) + Send + Sync + 'static) {
    let cell = SINK.get_or_init(|| Mutex::new(None));
    if let Ok(mut s) = cell.lock() {
        *s = Some(Box::new(sink));
    }
}

fn function_name() -> String {
    std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "local".into())
}

/// `{"_aws":{...},"<dimension>":"<value>",...,"<metric>":<value>,...}`,
/// and `props`: fields of the log line that are no dimension (searchable in
/// Logs Insights, no metric of their own).
fn record(
    timestamp: u128,
    metrics: &[(&str, &str, f64)],
    dims: &[(&str, &str)],
    props: &[(&str, &str)],
) -> String {
    // A string or a number as JSON; neither can fail to serialize.
    fn json(v: impl serde::Serialize) -> String {
        serde_json::to_string(&v).unwrap_or_default()
    }
    let names: Vec<String> = dims.iter().map(|(k, _)| json(k)).collect();
    let defs: Vec<String> = metrics
        .iter()
        .map(|(n, u, _)| format!("{{\"Name\":{},\"Unit\":{}}}", json(n), json(u)))
        .collect();
    let mut out = format!(
        "{{\"_aws\":{{\"Timestamp\":{timestamp},\"CloudWatchMetrics\":[{{\"Namespace\":{},\"Dimensions\":[[{}]],\"Metrics\":[{}]}}]}}",
        json(NAMESPACE),
        names.join(","),
        defs.join(",")
    );
    for (k, v) in dims.iter().chain(props) {
        out.push_str(&format!(",{}:{}", json(k), json(v)));
    }
    for (n, _, v) in metrics {
        out.push_str(&format!(",{}:{}", json(n), json(v)));
    }
    out.push('}');
    out
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default()
}

/// One EMF record: `metrics` are (name, unit, value); `dims` are (name, value). Written
/// straight into one string (no JSON tree: this runs on every request).
fn emit(metrics: &[(&str, &str, f64)], dims: &[(&str, &str)]) {
    emit_with(metrics, dims, &[]);
}

fn emit_with(metrics: &[(&str, &str, f64)], dims: &[(&str, &str)], props: &[(&str, &str)]) {
    let line = record(now_ms(), metrics, dims, props);
    if let Some(cell) = SINK.get()
        && let Ok(sink) = cell.lock()
        && let Some(sink) = sink.as_ref()
    {
        sink(&line);
        return;
    }
    // One write per line, so concurrent records never interleave.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
}

/// A session was issued (`issued`) or reached a final status; a tenant's
/// carries its `AppId` (a field, not a dimension: one metric per tenant
/// would cost per tenant; usage per tenant is the table's, docs/api.md §9).
pub fn verification(flow: &str, status: &str, appid: Option<&str>) {
    let function = function_name();
    let appid = appid.map(|a| ("AppId", a));
    emit_with(
        &[("Verifications", "Count", 1.0)],
        &[("Function", &function), ("Flow", flow), ("Status", status)],
        appid.as_slice(),
    );
}

/// One stream batch of publish-events: events the bus took, and records
/// left for Lambda to retry (an alarm watches those).
/// One stream batch: events published, records left to retry, and records
/// skipped because they can never be published.
pub fn events(published: usize, unpublished: usize, unreadable: usize) {
    let function = function_name();
    emit(
        &[
            ("EventsPublished", "Count", published as f64),
            ("EventsUnpublished", "Count", unpublished as f64),
            ("EventsUnreadable", "Count", unreadable as f64),
        ],
        &[("Function", &function)],
    );
}

/// One call to WeChat or WeChat Pay, with its retries, and how it ended.
pub fn upstream_call(upstream: crate::upstream::Upstream, ok: bool, elapsed: Duration) {
    let upstream = upstream.name();
    let function = function_name();
    emit(
        &[
            ("UpstreamCalls", "Count", 1.0),
            ("UpstreamErrors", "Count", if ok { 0.0 } else { 1.0 }),
            // What the upstream alarms watch: a plain average, no metric math.
            ("UpstreamErrorRate", "Percent", if ok { 0.0 } else { 100.0 }),
            (
                "UpstreamLatency",
                "Milliseconds",
                elapsed.as_secs_f64() * 1000.0,
            ),
        ],
        &[("Function", &function), ("Upstream", upstream)],
    );
}

/// A secret's re-read failed, came back empty or did not parse: a stale copy
/// was served, or refused for being too old (`adapters::secrets`).
pub fn secret_reload_failed() {
    emit(&[("SecretReloadFailures", "Count", 1.0)], &[]);
}

/// One try of a tenant's webhook (deliver-webhooks): `delivered`, `retry`,
/// `gone`, `disabled`, `no_webhook`.
pub fn webhook(outcome: &str) {
    emit(
        &[("WebhookDeliveries", "Count", 1.0)],
        &[("Outcome", outcome)],
    );
}

pub fn token_refresh() {
    let function = function_name();
    emit(
        &[("TokenRefreshes", "Count", 1.0)],
        &[("Function", &function)],
    );
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};
    use std::sync::{Arc, Mutex};

    use super::*;

    #[test]
    fn records_are_valid_emf() {
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink = lines.clone();
        set_sink(move |l| sink.lock().unwrap().push(l.to_owned()));
        upstream_call(
            crate::upstream::Upstream::Getinfo,
            false,
            Duration::from_millis(12),
        );
        verification("v1", "verified", Some("wxfedcba9876543210"));
        let lines = lines.lock().unwrap();
        let rec: Value = lines
            .iter()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .find(|v| v.get("Upstream").is_some())
            .expect("an upstream record");
        assert_eq!(rec["_aws"]["CloudWatchMetrics"][0]["Namespace"], "wxface");
        assert_eq!(
            rec["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0],
            json!(["Function", "Upstream"])
        );
        assert_eq!(rec["UpstreamErrors"], 1.0);
        assert_eq!(rec["UpstreamErrorRate"], 100.0);
        assert_eq!(rec["UpstreamLatency"], 12.0);
        // Every metric named in the directive has a value at the top level.
        for m in rec["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
        {
            assert!(rec[m["Name"].as_str().unwrap()].is_number());
        }
        let v: Value = lines
            .iter()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .find(|v| v.get("Flow").is_some())
            .unwrap();
        assert_eq!(
            (v["Flow"].as_str(), v["Status"].as_str()),
            (Some("v1"), Some("verified"))
        );
        // The tenant's appid is a field of the line, not a dimension of the metric.
        assert_eq!(v["AppId"], "wxfedcba9876543210");
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0],
            json!(["Function", "Flow", "Status"])
        );
    }

    #[test]
    fn a_record_is_the_embedded_metric_format_object() {
        let line = record(
            1_796_000_000_000,
            &[
                ("UpstreamCalls", "Count", 1.0),
                ("UpstreamLatency", "Milliseconds", 12.5),
            ],
            &[("Function", "verify-result"), ("Upstream", "get\"info")],
            &[],
        );
        let want = json!({
            "_aws": {
                "Timestamp": 1_796_000_000_000u64,
                "CloudWatchMetrics": [{
                    "Namespace": "wxface",
                    "Dimensions": [["Function", "Upstream"]],
                    "Metrics": [
                        {"Name": "UpstreamCalls", "Unit": "Count"},
                        {"Name": "UpstreamLatency", "Unit": "Milliseconds"}
                    ],
                }],
            },
            "Function": "verify-result",
            "Upstream": "get\"info",
            "UpstreamCalls": 1.0,
            "UpstreamLatency": 12.5,
        });
        assert_eq!(serde_json::from_str::<Value>(&line).unwrap(), want);
        assert!(!line.contains('\n'));
        // No dimensions (SecretReloadFailures): an empty dimension set.
        let bare: Value =
            serde_json::from_str(&record(1, &[("X", "Count", 1.0)], &[], &[("AppId", "wx1")]))
                .unwrap();
        assert_eq!(
            bare["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([[]])
        );
    }
}
