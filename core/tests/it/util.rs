//! Shared helpers for the purse-core integration tests: fixed keys and hex. Small on purpose;
//! anything used by one topic module lives in that module.

#![allow(dead_code)] // shared by every topic module; not all of them use every helper

use purse_core::keys::SecretKey;

/// RFC 8032 section 7.1, TEST 1: the secret seed.
pub const RFC8032_TEST1_SEED_HEX: &str =
    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
/// RFC 8032 section 7.1, TEST 1: the public key of that seed.
pub const RFC8032_TEST1_PUBLIC_HEX: &str =
    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

/// Lowercase or uppercase hex to bytes; panics on bad input (test data only).
pub fn hex(text: &str) -> Vec<u8> {
    assert!(text.len() % 2 == 0, "odd hex length: {text}");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex digit"))
        .collect()
}

/// A fixed, publicly known key (RFC 8032 TEST 1), so vectors in docs and tests can be re-derived.
pub fn fixed_key() -> SecretKey {
    let seed: [u8; 32] = hex(RFC8032_TEST1_SEED_HEX).try_into().unwrap();
    SecretKey::from_bytes(&seed)
}

/// A deterministic key per `n`, for tests that need several distinct keys.
pub fn key_n(n: u8) -> SecretKey {
    SecretKey::from_bytes(&[n; 32])
}
