//! Scans tables and logs for the fixtures' personal data (docs/api.md §5).
//!
//! The needles are derived from [`crate::fixtures::PEOPLE`]: each name and ID number (the ID
//! with `X` and with `x`), their MD5 (lower- and uppercase hex), SHA-256 (lower- and uppercase
//! hex), standard and URL-safe base64, the JSON `\uXXXX`, Rust `\u{…}` and percent-encoded
//! forms of each name, and WeChat's `cert_hash` of each person (docs/wechat.md §3.4).
//!
//! A [`Finding`] names the needle by a label ("MD5 (lowercase hex) of the name of person 3")
//! and where it was found; it never contains the personal datum itself.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use md5::{Digest, Md5};

use crate::fixtures::PEOPLE;

/// One needle found somewhere. Holds labels and places only, never the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Where: `table T item #n attribute a`, or `path line n`.
    pub place: String,
    /// What: the needle's label, e.g. `SHA-256 (lowercase hex) of the ID of person 2`.
    pub what: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.place, self.what)
    }
}

fn md5_hex(s: &str) -> String {
    hex::encode(Md5::digest(s.as_bytes()))
}

fn sha256_hex(s: &str) -> String {
    hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, s.as_bytes()).as_ref())
}

/// WeChat's `cert_hash` (docs/wechat.md §3.4), checked against the official vectors in
/// `wxface::domain::pii`.
pub use wxface::domain::pii::cert_hash;

fn json_escaped(s: &str) -> String {
    s.encode_utf16().map(|u| format!("\\u{u:04x}")).collect()
}

fn rust_escaped(s: &str) -> String {
    s.chars()
        .map(|c| format!("\\u{{{:x}}}", c as u32))
        .collect()
}

fn percent_encoded(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02X}")).collect()
}

static EXTRA: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());

/// More needles for this process's scans: secrets and receipt material a run produced.
pub fn add_needles(more: impl IntoIterator<Item = (String, String)>) {
    let mut extra = EXTRA.lock().unwrap_or_else(|e| e.into_inner());
    extra.extend(more.into_iter().filter(|(_, n)| n.len() >= 16));
}

/// What must never be stored or logged besides personal data: the receipt and data keys of
/// every secret at `sm` (each long base64 line of a private key's PEM, the data keys, the
/// appsecret and the push keys).
pub async fn secret_needles(
    sm: &aws_sdk_secretsmanager::Client,
) -> Result<Vec<(String, String)>, String> {
    use aws_sdk_secretsmanager::error::DisplayErrorContext;
    let mut out = Vec::new();
    let list = sm
        .list_secrets()
        .max_results(100)
        .send()
        .await
        .map_err(|e| format!("ListSecrets: {}", DisplayErrorContext(&e)))?;
    for secret in list.secret_list() {
        let Some(name) = secret.name() else { continue };
        let Ok(Some(text)) = crate::secrets::get_secret(sm, name).await else {
            continue;
        };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
            continue;
        };
        for field in ["data_key", "appsecret", "push_token", "encoding_aes_key"] {
            if let Some(key) = v[field].as_str().filter(|k| k.len() >= 16) {
                out.push((format!("the {field} of {name}"), key.to_owned()));
            }
        }
        for key in v["previous_data_keys"]
            .as_object()
            .into_iter()
            .flat_map(|o| o.values())
        {
            out.push((
                format!("a previous data key of {name}"),
                key.as_str().unwrap_or_default().to_owned(),
            ));
        }
        if let Some(key) = v["identity_key"].as_str() {
            out.push((format!("the identity_key of {name}"), key.to_owned()));
        }
        for k in v["receipt_keys"].as_array().into_iter().flatten() {
            for line in k["private_key"].as_str().unwrap_or_default().lines() {
                if !line.starts_with("-----") && line.len() >= 40 {
                    out.push((format!("a receipt private key of {name}"), line.to_owned()));
                }
            }
        }
    }
    Ok(out)
}

/// Every (label, needle) pair. Labels never contain the value. Duplicate needles are dropped.
pub fn needles() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = EXTRA.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut push = |label: String, needle: String| {
        if !needle.is_empty() && !out.iter().any(|(_, n)| *n == needle) {
            out.push((label, needle));
        }
    };
    for (i, (name, id)) in PEOPLE.iter().enumerate() {
        let who = format!("person {}", i + 1);
        let upper_id = id.to_ascii_uppercase();
        let lower_id = id.replace('X', "x");
        let mut values = vec![
            (format!("the name of {who}"), name.to_string()),
            (format!("the ID of {who}"), upper_id.clone()),
        ];
        if lower_id != upper_id {
            values.push((format!("the ID (lowercase x) of {who}"), lower_id.clone()));
        }
        for (what, v) in &values {
            push(what.clone(), v.clone());
            let md5 = md5_hex(v);
            push(format!("MD5 (lowercase hex) of {what}"), md5.clone());
            push(
                format!("MD5 (uppercase hex) of {what}"),
                md5.to_ascii_uppercase(),
            );
            let sha = sha256_hex(v);
            push(format!("SHA-256 (lowercase hex) of {what}"), sha.clone());
            push(
                format!("SHA-256 (uppercase hex) of {what}"),
                sha.to_ascii_uppercase(),
            );
            // Without the `=` padding, so it is also found inside longer base64 text that
            // happens to start aligned.
            push(
                format!("base64 of {what}"),
                STANDARD.encode(v).trim_end_matches('=').to_string(),
            );
            push(
                format!("base64url of {what}"),
                URL_SAFE.encode(v).trim_end_matches('=').to_string(),
            );
        }
        push(
            format!("the name of {who}, JSON-escaped"),
            json_escaped(name),
        );
        push(
            format!("the name of {who}, JSON-escaped (uppercase hex)"),
            json_escaped(name)
                .replace("\\u", "\\U")
                .to_ascii_uppercase()
                .replace("\\U", "\\u"),
        );
        push(
            format!("the name of {who}, Rust-escaped"),
            rust_escaped(name),
        );
        push(
            format!("the name of {who}, percent-encoded"),
            percent_encoded(name),
        );
        push(
            format!("the name of {who}, percent-encoded (lowercase hex)"),
            percent_encoded(name).to_ascii_lowercase(),
        );
        for (variant, idv) in [("", &upper_id), (" (lowercase x)", &lower_id)] {
            let h = cert_hash("IDENTITY_CARD", name, idv);
            push(format!("cert_hash{variant} of {who}"), h.clone());
            push(
                format!("cert_hash{variant} (uppercase hex) of {who}"),
                h.to_ascii_uppercase(),
            );
        }
    }
    out
}

/// Looks for every needle in `text`; one finding per needle found, at `place`.
pub fn scan_text(place: &str, text: &str) -> Vec<Finding> {
    scan_with(&needles(), place, text)
}

fn scan_with(needles: &[(String, String)], place: &str, text: &str) -> Vec<Finding> {
    needles
        .iter()
        .filter(|(_, n)| text.contains(n.as_str()))
        .map(|(label, _)| Finding {
            place: place.to_string(),
            what: label.clone(),
        })
        .collect()
}

/// Writes every string an attribute value holds (keys of maps included) on its own line,
/// unescaped, so a needle is found whatever the nesting.
fn dump_value(v: &AttributeValue, out: &mut String) {
    match v {
        AttributeValue::S(s) | AttributeValue::N(s) => {
            out.push_str(s);
            out.push('\n');
        }
        AttributeValue::B(b) => dump_bytes(b.as_ref(), out),
        AttributeValue::Bool(b) => out.push_str(&format!("{b}\n")),
        AttributeValue::Null(_) => out.push_str("null\n"),
        AttributeValue::Ss(v) | AttributeValue::Ns(v) => {
            for s in v {
                out.push_str(s);
                out.push('\n');
            }
        }
        AttributeValue::Bs(v) => {
            for b in v {
                dump_bytes(b.as_ref(), out);
            }
        }
        AttributeValue::L(v) => {
            for x in v {
                dump_value(x, out);
            }
        }
        AttributeValue::M(m) => {
            for (k, x) in m {
                out.push_str(k);
                out.push('\n');
                dump_value(x, out);
            }
        }
        other => out.push_str(&format!("{other:?}\n")),
    }
}

fn dump_bytes(b: &[u8], out: &mut String) {
    out.push_str(&String::from_utf8_lossy(b));
    out.push('\n');
    out.push_str(&STANDARD.encode(b));
    out.push('\n');
}

/// Dumps one item as text (attribute name, then its values, one per line).
pub fn dump_item(item: &std::collections::HashMap<String, AttributeValue>) -> String {
    let sorted: BTreeMap<&String, &AttributeValue> = item.iter().collect();
    let mut out = String::new();
    for (k, v) in sorted {
        out.push_str(k);
        out.push('\n');
        dump_value(v, &mut out);
    }
    out
}

/// Scans every item of every table. Returns the number of items scanned and the findings
/// (place: `table T item #n attribute a`).
pub async fn scan_tables(ddb: &aws_sdk_dynamodb::Client) -> Result<(usize, Vec<Finding>), String> {
    use aws_sdk_dynamodb::error::DisplayErrorContext;
    let needles = needles();
    let mut tables = Vec::new();
    let mut start: Option<String> = None;
    loop {
        let out = ddb
            .list_tables()
            .set_exclusive_start_table_name(start.take())
            .send()
            .await
            .map_err(|e| format!("ListTables: {}", DisplayErrorContext(&e)))?;
        tables.extend(out.table_names().iter().cloned());
        match out.last_evaluated_table_name() {
            Some(last) => start = Some(last.to_string()),
            None => break,
        }
    }

    let mut items = 0usize;
    let mut findings = Vec::new();
    for table in &tables {
        let mut start_key = None;
        let mut n = 0usize;
        loop {
            let out = ddb
                .scan()
                .table_name(table)
                .set_exclusive_start_key(start_key.take())
                .send()
                .await
                .map_err(|e| format!("Scan {table}: {}", DisplayErrorContext(&e)))?;
            for item in out.items() {
                n += 1;
                let sorted: BTreeMap<&String, &AttributeValue> = item.iter().collect();
                for (attr, v) in sorted {
                    let mut text = String::new();
                    dump_value(v, &mut text);
                    findings.extend(scan_with(
                        &needles,
                        &format!("table {table} item #{n} attribute {attr}"),
                        &text,
                    ));
                }
            }
            match out.last_evaluated_key() {
                Some(k) if !k.is_empty() => start_key = Some(k.clone()),
                _ => break,
            }
        }
        items += n;
    }
    Ok((items, findings))
}

/// Scans every file under `dir` (recursively). Returns the number of lines scanned and the
/// findings (place: `path line n`, the first line the needle is on, and how many lines hold it).
pub fn scan_log_dir(dir: &Path) -> Result<(usize, Vec<Finding>), String> {
    if !dir.is_dir() {
        return Err(format!("{} is not a directory", dir.display()));
    }
    let needles = needles();
    let mut files = Vec::new();
    collect_files(dir, &mut files)?;
    files.sort();
    let mut lines = 0usize;
    let mut findings = Vec::new();
    for file in files {
        let bytes =
            std::fs::read(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        let text = String::from_utf8_lossy(&bytes);
        lines += text.lines().count();
        for (label, needle) in &needles {
            let hits: Vec<usize> = text
                .lines()
                .enumerate()
                .filter(|(_, l)| l.contains(needle.as_str()))
                .map(|(i, _)| i + 1)
                .collect();
            if let Some(first) = hits.first() {
                let more = if hits.len() > 1 {
                    format!(" (and {} more lines)", hits.len() - 1)
                } else {
                    String::new()
                };
                findings.push(Finding {
                    place: format!("{} line {first}{more}", file.display()),
                    what: label.clone(),
                });
            }
        }
    }
    Ok((lines, findings))
}

fn collect_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> Result<(), String> {
    let rd = std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    for entry in rd {
        let entry = entry.map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
        let path = entry.path();
        let ft = entry
            .file_type()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if ft.is_dir() {
            collect_files(&path, out)?;
        } else if ft.is_file() {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needles_cover_every_person_and_labels_hide_values() {
        let ns = needles();
        for (name, id) in PEOPLE {
            assert!(ns.iter().any(|(_, n)| n == name));
            assert!(ns.iter().any(|(_, n)| n == id));
            assert!(ns.iter().any(|(_, n)| *n == md5_hex(name)));
            assert!(ns.iter().any(|(_, n)| *n == md5_hex(id).to_uppercase()));
            assert!(ns.iter().any(|(_, n)| *n == sha256_hex(id)));
            assert!(
                ns.iter()
                    .any(|(_, n)| *n == cert_hash("IDENTITY_CARD", name, id))
            );
            if id.ends_with('X') {
                assert!(ns.iter().any(|(_, n)| *n == id.replace('X', "x")));
            }
        }
        for (label, needle) in &ns {
            for (name, id) in PEOPLE {
                assert!(
                    !label.contains(name) && !label.contains(id),
                    "label {label}"
                );
            }
            assert!(!label.contains(needle.as_str()));
        }
    }

    #[test]
    fn clean_text_passes() {
        let text = r#"{"level":"INFO","fields":{"message":"issued","out_seq_no":"a1B2c3D4e5","status":"verified","name":"张*","id":"1101**********283X"}}"#;
        assert_eq!(scan_text("clean", text), vec![]);
    }

    #[test]
    fn planted_needles_are_found() {
        let (name, id) = PEOPLE[2];
        let cases = [
            (format!("name={name}"), "the name of person 3"),
            (
                format!("id={}", id.replace('X', "x")),
                "the ID (lowercase x) of person 3",
            ),
            (
                format!("h={}", md5_hex(id)),
                "MD5 (lowercase hex) of the ID of person 3",
            ),
            (
                format!("h={}", md5_hex(name).to_uppercase()),
                "MD5 (uppercase hex) of the name of person 3",
            ),
            (
                format!("h={}", sha256_hex(id)),
                "SHA-256 (lowercase hex) of the ID of person 3",
            ),
            (
                format!("cert_hash={}", cert_hash("IDENTITY_CARD", name, id)),
                "cert_hash of person 3",
            ),
            (
                format!("b={}", STANDARD.encode(name)),
                "base64 of the name of person 3",
            ),
            (
                format!("{{\"n\":\"{}\"}}", json_escaped(name)),
                "the name of person 3, JSON-escaped",
            ),
        ];
        for (text, label) in cases {
            let f = scan_text("here", &text);
            assert!(
                f.iter().any(|f| f.what == label && f.place == "here"),
                "{label} not found: {f:?}"
            );
            for finding in &f {
                assert!(!finding.to_string().contains(name));
                assert!(!finding.to_string().contains(id));
            }
        }
    }

    #[test]
    fn planted_log_file_is_found_and_clean_one_passes() {
        let dir = std::env::temp_dir().join(crate::fixtures::unique_name("pii-scan"));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("clean.log"), "line one\nline two out_seq_no=abc\n").unwrap();
        let (name, id) = PEOPLE[4];
        std::fs::write(
            dir.join("sub/leak.log"),
            format!(
                "ok\nok\n{{\"body\":{{\"name\":\"{name}\",\"id_card_number\":\"{id}\"}}}}\nok\n"
            ),
        )
        .unwrap();
        let (lines, findings) = scan_log_dir(&dir).unwrap();
        assert_eq!(lines, 6);
        assert!(
            findings
                .iter()
                .any(|f| f.what == "the name of person 5" && f.place.ends_with("leak.log line 3"))
        );
        assert!(findings.iter().any(|f| f.what == "the ID of person 5"));
        assert!(findings.iter().all(|f| !f.place.contains("clean.log")));
        for f in &findings {
            assert!(!f.to_string().contains(name) && !f.to_string().contains(id));
        }

        std::fs::remove_file(dir.join("sub/leak.log")).unwrap();
        let (_, findings) = scan_log_dir(&dir).unwrap();
        assert_eq!(findings, vec![]);
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(scan_log_dir(&dir).is_err());
    }
}
