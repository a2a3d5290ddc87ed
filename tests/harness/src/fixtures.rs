//! Personal data used by the tests and the demo.
//!
//! Every name and ID number any test or the demo sends must come from [`PEOPLE`]: the PII scan
//! ([`crate::pii`]) looks for exactly these values (and their digests) in the tables and logs.
//! The people are made up; every ID number has a valid birth date and GB 11643 check digit.

use std::sync::atomic::{AtomicU64, Ordering};

/// (name, 18-character ID number with a valid GB 11643-1999 check digit).
pub const PEOPLE: &[(&str, &str)] = &[
    ("王小明", "11010519900307283X"),
    ("李娜", "310104198508124566"),
    ("陈静", "44030519921225301X"),
    ("刘建国", "510107197806301120"),
    ("买买提·艾力", "650102198704153319"),
    ("赵敏", "330106199501010022"),
    ("欧阳晓燕", "210203196902281144"),
    ("周杰", "42010620000229155X"),
];

/// A fixture person, by index (wraps around).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Person {
    pub name: &'static str,
    pub id_card_number: &'static str,
}

/// Person `i` of [`PEOPLE`] (modulo its length).
pub fn person(i: usize) -> Person {
    let (name, id_card_number) = PEOPLE[i % PEOPLE.len()];
    Person {
        name,
        id_card_number,
    }
}

/// The first fixture person whose ID number ends in `X`.
pub fn person_with_x() -> Person {
    PEOPLE
        .iter()
        .position(|(_, id)| id.ends_with('X'))
        .map(person)
        .expect("a fixture ID ends in X")
}

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];

/// GB 11643 check character for the first 17 digits (`None` unless exactly 17 ASCII digits).
pub fn check_digit(first17: &str) -> Option<char> {
    if first17.len() != 17 || !first17.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let sum: u32 = first17
        .bytes()
        .zip(WEIGHTS)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    "10X98765432".chars().nth((sum % 11) as usize)
}

/// 18 characters whose last one is the right check character (uppercase `X`).
/// Checks only the check digit, not the birth date.
pub fn has_valid_check_digit(id: &str) -> bool {
    id.len() == 18 && id.is_char_boundary(17) && check_digit(&id[..17]) == id[17..].chars().next()
}

/// `id` with its check character replaced by a wrong one: for invalid-input tests.
pub fn with_wrong_check_digit(id: &str) -> String {
    let good = check_digit(&id[..17]).expect("17 digits");
    let bad = if good == '0' { '1' } else { '0' };
    format!("{}{bad}", &id[..17])
}

/// A name unique to this process and call, for tables, secrets and openids on a shared
/// emulator: `<prefix>-<pid>-<counter>-<nanos>` (only `[A-Za-z0-9_.-]`).
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{n}-{nanos:08x}", std::process::id())
}

/// Masks a name for display: first character kept, the rest `*` (张三 → 张*).
pub fn mask_name(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => std::iter::once(first).chain(chars.map(|_| '*')).collect(),
        None => String::new(),
    }
}

/// Masks an ID number for display: first 4 and last 4 kept (3101**********1234).
pub fn mask_id(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    if chars.len() <= 8 {
        return "*".repeat(chars.len());
    }
    let n = chars.len();
    chars[..4]
        .iter()
        .chain(std::iter::repeat_n(&'*', n - 8))
        .chain(chars[n - 4..].iter())
        .collect()
}

/// A mini-program the simulator knows besides its test app: a tenant (docs/api.md §9), with its
/// own secret, push token and EncodingAESKey.
pub fn tenant_app(appid: &str, original_id: &str) -> wechat_sim::SimApp {
    wechat_sim::SimApp {
        appid: appid.into(),
        secret: format!("secret-of-{appid}"),
        push_token: format!("token{}", appid.get(2..8).unwrap_or("x")),
        encoding_aes_key: format!("{}{}", appid.get(2..).unwrap_or(""), "K".repeat(27)),
        original_id: original_id.into(),
        ..wechat_sim::SimApp::test_app()
    }
}

/// The tenant of `make dev`, the demo and the two-tenant tests.
pub fn demo_tenant() -> wechat_sim::SimApp {
    tenant_app("wxfedcba9876543210", "gh_fedcba987654")
}

/// The simulator's configuration with the test app and [`demo_tenant`].
pub fn two_app_sim_config() -> wechat_sim::SimConfig {
    let mut config = wechat_sim::SimConfig::default();
    config.apps.push(demo_tenant());
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fixture_id_is_valid() {
        assert!(PEOPLE.len() >= 6);
        for (name, id) in PEOPLE {
            assert_eq!(id.len(), 18, "{name}");
            assert!(has_valid_check_digit(id), "check digit of person {name}");
            let (y, m, d): (u32, u32, u32) = (
                id[6..10].parse().unwrap(),
                id[10..12].parse().unwrap(),
                id[12..14].parse().unwrap(),
            );
            let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
            let days = [
                31,
                if leap { 29 } else { 28 },
                31,
                30,
                31,
                30,
                31,
                31,
                30,
                31,
                30,
                31,
            ];
            assert!(
                (1900..=2025).contains(&y) && (1..=12).contains(&m),
                "{name}"
            );
            assert!(d >= 1 && d <= days[m as usize - 1], "birth date of {name}");
            assert!(
                !name.chars().any(|c| c.is_ascii()),
                "{name} is written in Chinese"
            );
        }
        assert!(PEOPLE.iter().any(|(_, id)| id.ends_with('X')));
        assert!(PEOPLE.iter().any(|(n, _)| n.contains('·')));
        assert!(person_with_x().id_card_number.ends_with('X'));
    }

    #[test]
    fn check_digit_matches_known_vectors() {
        // From docs/wechat.md §3.4 (a locally verified vector).
        assert!(has_valid_check_digit("11010519491231002X"));
        // The doc's official cert_hash example uses an ID whose check digit is wrong.
        assert!(!has_valid_check_digit("310101199801011234"));
        assert_eq!(check_digit("31010119980101123"), Some('2'));
        assert!(!has_valid_check_digit("11010519491231002x"));
        assert_eq!(check_digit("1234"), None);
        for (_, id) in PEOPLE {
            assert!(!has_valid_check_digit(&with_wrong_check_digit(id)));
        }
    }

    #[test]
    fn masks() {
        assert_eq!(mask_name("张三"), "张*");
        assert_eq!(mask_name("买买提·艾力"), "买*****");
        assert_eq!(mask_id("310101199801011234"), "3101**********1234");
        assert_eq!(mask_id("123"), "***");
    }

    #[test]
    fn unique_names_differ() {
        assert_ne!(unique_name("t"), unique_name("t"));
    }
}
