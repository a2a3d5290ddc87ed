//! The system's randomness, for ids, nonces and keys.

/// Fills `buf` from the system RNG.
pub fn random_bytes(buf: &mut [u8]) {
    // The system RNG failing is not recoverable and never happens on Lambda.
    aws_lc_rs::rand::fill(buf).expect("system random number generator");
}
