//! Fuzz target `paycode_decode`: any bytes through the pay code decoder and verifier. It must never
//! panic, every error has a known code, and nothing the fuzzer makes ever verifies.
//! Run it as fuzz/README.md says.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use purse_core::keys::{PublicKey, SecretKey};
use purse_core::paycode;

const KNOWN_CODES: &[&str] = &["paycode_invalid", "paycode_wrong_key", "paycode_tampered"];

const BASE45: &[u8; 45] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

fuzz_target!(|data: &[u8]| {
    // The bytes as text, as a scanner would hand them over.
    check(&String::from_utf8_lossy(data));
    // The bytes as the binary of a code: base45 makes almost every input well-formed text, so the
    // fuzzer reaches the layout checks (header, flags, lengths, cap) behind the text form.
    check(&format!("{}{}", paycode::PREFIX, base45(data)));
});

/// Derived once: deriving a public key costs more than a whole decode.
fn device() -> &'static PublicKey {
    static DEVICE: OnceLock<PublicKey> = OnceLock::new();
    DEVICE.get_or_init(|| SecretKey::from_bytes(&[7; 32]).public_key())
}

fn check(text: &str) {
    let device = device();
    match paycode::decode(text) {
        Ok(unverified) => {
            let claims = unverified.claims().clone();
            assert!(claims.validity_secs() > 0);
            assert!(text.len() <= paycode::TEXT_CHARS_MAX);
            if let Some(cap) = claims.cap() {
                assert!(cap.minor() > 0);
            }
            // The fuzzer cannot forge an Ed25519 signature: a decodable code never verifies.
            let err = unverified
                .verify(device, None, claims.issued_at_unix(), None)
                .expect_err("a fuzzed pay code verified");
            assert!(
                KNOWN_CODES.contains(&err.code()),
                "unknown code {}",
                err.code()
            );
        }
        Err(err) => {
            assert_eq!(err.code(), "paycode_invalid");
            assert!(!err.to_string().is_empty());
        }
    }
}

fn base45(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() / 2 * 3 + 2);
    for chunk in bytes.chunks(2) {
        let (mut n, digits) = match *chunk {
            [a, b] => (u32::from(a) << 8 | u32::from(b), 3),
            [a] => (u32::from(a), 2),
            _ => continue,
        };
        for _ in 0..digits {
            out.push(char::from(BASE45[(n % 45) as usize]));
            n /= 45;
        }
    }
    out
}
