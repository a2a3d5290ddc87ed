//! Digests WeChat defines (cert_hash, the 1.0 md5s) and the random
//! identifiers the simulator mints.

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use md5::{Digest, Md5};
use sim_kit::{random_bytes, random_hex};

/// `cert_hash` of docs/wechat.md §3.4: standard base64 (with padding)
/// of each field, joined as `cert_type=..&cert_name=..&cert_no=..`, then
/// lowercase hex SHA-256.
pub fn cert_hash(cert_type: &str, cert_name: &str, cert_no: &str) -> String {
    let joined = format!(
        "cert_type={}&cert_name={}&cert_no={}",
        STANDARD.encode(cert_type.as_bytes()),
        STANDARD.encode(cert_name.as_bytes()),
        STANDARD.encode(cert_no.as_bytes()),
    );
    hex::encode(digest(&SHA256, joined.as_bytes()).as_ref())
}

/// Lowercase hex MD5 of raw bytes.
pub fn md5_hex(data: &[u8]) -> String {
    hex::encode(Md5::digest(data))
}

/// `name_utf8_md5` (docs/wechat.md §2.6): MD5 of the UTF-8 name, no normalisation.
pub fn name_utf8_md5(name: &str) -> String {
    md5_hex(name.as_bytes())
}

/// `id_card_number_md5` (docs/wechat.md §2.6): MD5 of the ID number with a trailing check
/// character `x` upper-cased. Nothing else is normalised: WeChat hashes what
/// it was given, so a backend that sends untrimmed input should notice.
pub fn id_card_number_md5(id_card_number: &str) -> String {
    match id_card_number.strip_suffix('x') {
        Some(head) => md5_hex(format!("{head}X").as_bytes()),
        None => md5_hex(id_card_number.as_bytes()),
    }
}

/// Unpadded base64url of `n` random bytes (`4 * n / 3` characters).
pub(crate) fn random_b64url(n: usize) -> String {
    URL_SAFE_NO_PAD.encode(random_bytes(n))
}

/// Standard base64 of `n` random bytes (the shape of a `session_key`).
pub(crate) fn random_b64(n: usize) -> String {
    STANDARD.encode(random_bytes(n))
}

/// WeChat's diagnostic request id: `xxxxxxxx-xxxxxxxx-xxxxxxxx`.
pub(crate) fn rid() -> String {
    format!("{}-{}-{}", random_hex(4), random_hex(4), random_hex(4))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Official vector, docs/wechat.md §3.4 / §12.
    #[test]
    fn cert_hash_official_vector() {
        assert_eq!(
            cert_hash("IDENTITY_CARD", "张三", "310101199801011234"),
            "3c241f7ff324977aeb91f173bb2a7b06569e6fd784d5573db34a636d8671108b"
        );
    }

    // Extra vector of docs/wechat.md §3.4 (the ID ends in an upper-case X).
    #[test]
    fn cert_hash_extra_vector() {
        assert_eq!(
            cert_hash("IDENTITY_CARD", "李四", "11010519491231002X"),
            "f760f1974c678ec7a11476ae9a2787ac8ba5c833f5e6be755fd3838aa80b6458"
        );
    }

    #[test]
    fn cert_hash_depends_on_every_field() {
        let base = cert_hash("IDENTITY_CARD", "张三", "310101199801011234");
        assert_ne!(
            base,
            cert_hash("IDENTITY_CARD", "张四", "310101199801011234")
        );
        assert_ne!(
            base,
            cert_hash("IDENTITY_CARD", "张三", "310101199801011235")
        );
        assert_ne!(base, cert_hash("PASSPORT", "张三", "310101199801011234"));
    }

    // docs/wechat.md §2.6 / §12: name md5 seen in a real getinfo response, and 张三.
    #[test]
    fn name_md5_vectors() {
        assert_eq!(name_utf8_md5("曾浩"), "ee075aef91ddd81394b6f68d7ff998cb");
        assert_eq!(name_utf8_md5("张三"), "615db57aa314529aaa0fbe95b3e95bd3");
    }

    // docs/wechat.md §2.6: ID md5s, including the lower-case x pitfall.
    #[test]
    fn id_card_md5_vectors() {
        assert_eq!(
            id_card_number_md5("11010519491231002X"),
            "ae05564031c21338aa8a2e7266e7855c"
        );
        assert_eq!(
            id_card_number_md5("11010519491231002x"),
            "ae05564031c21338aa8a2e7266e7855c"
        );
        assert_eq!(
            md5_hex(b"11010519491231002x"),
            "84488d6c78590d326627f5ecf902d3f9"
        );
        assert_eq!(
            id_card_number_md5("310101199801011234"),
            "c54ee6f3f16eba72b9d8781c30bfb655"
        );
    }

    #[test]
    fn rid_shape() {
        let r = rid();
        let parts: Vec<&str> = r.split('-').collect();
        assert_eq!(parts.len(), 3);
        for p in parts {
            assert_eq!(p.len(), 8);
            assert!(
                p.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            );
        }
        assert_ne!(rid(), rid());
    }
}
