//! Random identifiers the simulators mint.

/// Cryptographically random bytes. Only a broken OS RNG can fail, never a
/// request, so failing loudly is right.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    aws_lc_rs::rand::fill(&mut buf).expect("system RNG failed");
    buf
}

/// Lowercase hex of `n` random bytes.
pub fn random_hex(n: usize) -> String {
    hex::encode(random_bytes(n))
}

/// 16 random bytes as lowercase hex in a UUID's 8-4-4-4-12 shape (no
/// version bits: a shape, not an RFC 9562 UUID).
pub fn random_uuid() -> String {
    let h = random_hex(16);
    [&h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..]].join("-")
}

/// A uniformly random integer in `lo..=hi` (`lo` when the range is empty).
pub fn random_in(lo: u64, hi: u64) -> u64 {
    if hi <= lo {
        return lo;
    }
    let span = hi - lo + 1;
    let mut buf = [0u8; 8];
    aws_lc_rs::rand::fill(&mut buf).expect("system RNG failed");
    // Modulo bias over 2^64 is irrelevant for delays and nonces.
    lo + u64::from_le_bytes(buf) % span
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_in_stays_in_range() {
        for _ in 0..200 {
            let v = random_in(5, 7);
            assert!((5..=7).contains(&v));
        }
        assert_eq!(random_in(9, 3), 9);
    }

    #[test]
    fn random_hex_is_lowercase_and_fresh() {
        let h = random_hex(16);
        assert_eq!(h.len(), 32);
        assert!(
            h.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_ne!(random_hex(16), h);
    }

    #[test]
    fn random_uuid_shape() {
        let u = random_uuid();
        let lens: Vec<usize> = u.split('-').map(str::len).collect();
        assert_eq!(lens, [8, 4, 4, 4, 12]);
        assert!(u.bytes().all(|b| b == b'-' || b.is_ascii_hexdigit()));
        assert_ne!(random_uuid(), u);
    }
}
