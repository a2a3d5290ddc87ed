//! The two personal data a verification starts from. Both redact themselves
//! in `Debug` and have no `Display`, so they cannot be logged by accident.

use std::fmt;

use super::error::ValidationError;

/// A name as printed on the ID card: trimmed, 1-64 characters, no control
/// characters and no digits.
#[derive(Clone, PartialEq, Eq)]
pub struct PersonName(String);

impl PersonName {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let name = raw.trim();
        let len = name.chars().count();
        if len == 0 {
            return Err(ValidationError::Name("must not be empty"));
        }
        if len > 64 {
            return Err(ValidationError::Name("must be at most 64 characters"));
        }
        if name.chars().any(char::is_control) {
            return Err(ValidationError::Name("must not contain control characters"));
        }
        if name.chars().any(is_digit) {
            return Err(ValidationError::Name("must not contain digits"));
        }
        if name.chars().any(is_invisible_format) {
            return Err(ValidationError::Name(
                "must not contain invisible or direction-changing characters",
            ));
        }
        Ok(Self(name.to_owned()))
    }

    /// The clear value, for the two places that need it: the WeChat request
    /// and the keyed digests.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Any script's digits (ASCII, full-width, Arabic-Indic, …). CJK numerals
/// such as 〇 or 一 can be part of a name and pass.
fn is_digit(c: char) -> bool {
    let ideographic = matches!(c, '〇' | '\u{3021}'..='\u{3029}' | '\u{3038}'..='\u{303A}');
    c.is_numeric() && !ideographic
}

/// Bidirectional controls, zero-width and other invisible format
/// characters: a name that shows one thing and hashes to another.
fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
    )
}

impl fmt::Debug for PersonName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PersonName(<redacted>)")
    }
}

/// A mainland second-generation resident ID number (GB 11643-1999): 17 digits
/// and a check character, with a real birth date. A trailing `x` is upper-cased,
/// which is also the form WeChat hashes.
#[derive(Clone, PartialEq, Eq)]
pub struct IdCardNumber(String);

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK_CHARS: &[u8; 11] = b"10X98765432";

impl IdCardNumber {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let mut id = raw.trim().to_owned();
        if id.ends_with('x') {
            id.pop();
            id.push('X');
        }
        let bytes = id.as_bytes();
        if bytes.len() != 18 || !id.is_ascii() {
            return Err(ValidationError::IdCardNumber("must be 18 characters"));
        }
        if !bytes[..17].iter().all(u8::is_ascii_digit) {
            return Err(ValidationError::IdCardNumber("must start with 17 digits"));
        }
        if bytes[0] == b'0' {
            return Err(ValidationError::IdCardNumber("has no valid region code"));
        }
        if !valid_birth_date(&bytes[6..14]) {
            return Err(ValidationError::IdCardNumber("has no valid birth date"));
        }
        if bytes[17] != check_char(&bytes[..17]) {
            return Err(ValidationError::IdCardNumber("has a wrong check digit"));
        }
        Ok(Self(id))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// The GB 11643 check character of the first 17 digits.
pub fn check_char(first17: &[u8]) -> u8 {
    let sum: u32 = first17
        .iter()
        .zip(WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    CHECK_CHARS[(sum % 11) as usize]
}

fn valid_birth_date(yyyymmdd: &[u8]) -> bool {
    let num = |r: std::ops::Range<usize>| -> u32 {
        yyyymmdd[r]
            .iter()
            .fold(0, |acc, d| acc * 10 + u32::from(d - b'0'))
    };
    let (year, month, day) = (num(0..4), num(4..6), num(6..8));
    if !(1900..=2099).contains(&year) || !(1..=12).contains(&month) || day == 0 {
        return false;
    }
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    day <= days
}

impl fmt::Debug for IdCardNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdCardNumber(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_check(first17: &str) -> String {
        format!("{first17}{}", check_char(first17.as_bytes()) as char)
    }

    #[test]
    fn names_are_trimmed_and_checked() {
        for (raw, kept) in [("  张三 ", "张三"), ("买买提·艾力", "买买提·艾力")] {
            assert_eq!(PersonName::parse(raw).unwrap().expose(), kept);
        }
        assert_eq!(
            PersonName::parse(""),
            Err(ValidationError::Name("must not be empty"))
        );
        assert_eq!(PersonName::parse("   ").unwrap_err().code(), "invalid_name");
        assert!(PersonName::parse("张三1").is_err());
        assert!(PersonName::parse("张三１").is_err());
        assert!(PersonName::parse("张\n三").is_err());
        // Other scripts' digits, and text that displays differently than it is.
        for bad in [
            "张٣",
            "张৩",
            "张\u{202E}三",
            "张\u{2066}三",
            "张\u{200B}三",
            "\u{FEFF}张三",
        ] {
            assert!(PersonName::parse(bad).is_err(), "{bad:?}");
        }
        assert!(PersonName::parse("李〇").is_ok());
        assert!(PersonName::parse("王一二").is_ok());
        assert!(PersonName::parse(&"张".repeat(64)).is_ok());
        assert!(PersonName::parse(&"张".repeat(65)).is_err());
    }

    #[test]
    fn check_digit_follows_gb11643() {
        // The example ID of WeChat's docs ends in X.
        assert!(IdCardNumber::parse("11010519491231002X").is_ok());
        assert_eq!(
            IdCardNumber::parse("11010519491231002x").unwrap().expose(),
            "11010519491231002X"
        );
        // The doc's cert_hash example number has a wrong check digit.
        assert_eq!(
            IdCardNumber::parse("310101199801011234"),
            Err(ValidationError::IdCardNumber("has a wrong check digit"))
        );
        let good = with_check("31010119980101123");
        assert!(IdCardNumber::parse(&format!(" {good} ")).is_ok());
    }

    #[test]
    fn dates_and_lengths_are_checked() {
        for bad in [
            with_check("31010119980231123"), // 31 Feb
            with_check("31010119981301123"), // month 13
            with_check("31010118000101123"), // before 1900
            with_check("31010119990229123"), // not a leap year
            with_check("01010119980101123"), // region 0
            "3101011998010112".to_owned(),
            "3101011998010112345".to_owned(),
            "31010119980101123Y".to_owned(),
            "３10101199801011234".to_owned(),
        ] {
            assert!(IdCardNumber::parse(&bad).is_err(), "{bad} accepted");
        }
        assert!(IdCardNumber::parse(&with_check("31010120000229123")).is_ok());
    }

    #[test]
    fn debug_never_shows_the_value() {
        let id = IdCardNumber::parse("11010519491231002X").unwrap();
        let name = PersonName::parse("张三").unwrap();
        let shown = format!("{id:?} {name:?}");
        assert!(!shown.contains("110105") && !shown.contains("张"));
    }
}
