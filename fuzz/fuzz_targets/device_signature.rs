//! Fuzz target `device_signature`: any bytes as the four `Purse-*` device signature headers plus a
//! method, path and body, through the server's header parser, freshness check and verifier. It must
//! never panic, every error has a known code, a fuzzed signature never verifies, and a request the
//! target signs itself with a fixed key always does (and stops verifying when its body changes).
//! Run it as fuzz/README.md says.
#![no_main]

use std::sync::OnceLock;

use ed25519_dalek::{Signer, SigningKey};
use libfuzzer_sys::fuzz_target;
use purse_core::api::identity::{
    HEADER_DEVICE_ID, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP, device_signature_message,
};
use purse_core::keys::PublicKey;
use purse_server::identity::error::IdentityError;
use purse_server::identity::signature::{self, SignatureHeaders};

const KNOWN_CODES: &[&str] = &[
    "device_signature_missing",
    "device_signature_malformed",
    "device_signature_stale",
    "device_signature_invalid",
];

const NOW_MS: i64 = 1_700_000_000_000;

fn key() -> &'static (SigningKey, PublicKey) {
    static KEY: OnceLock<(SigningKey, PublicKey)> = OnceLock::new();
    KEY.get_or_init(|| {
        let secret = SigningKey::from_bytes(&[42; 32]);
        let public = PublicKey::from_bytes(secret.verifying_key().as_bytes()).expect("a key");
        (secret, public)
    })
}

fn known(err: &IdentityError) {
    assert!(
        KNOWN_CODES.contains(&err.code()),
        "unknown code {}",
        err.code()
    );
}

fuzz_target!(|data: &[u8]| {
    // device id, timestamp, nonce, signature, method, path, then the body (may hold newlines).
    let mut parts = data.splitn(7, |&b| b == b'\n');
    let mut next = || parts.next();
    let (device, ts, nonce, sig) = (next(), next(), next(), next());
    let method = String::from_utf8_lossy(next().unwrap_or(b"POST")).into_owned();
    let path = String::from_utf8_lossy(next().unwrap_or(b"/v1/transfers")).into_owned();
    let body = next().unwrap_or(b"");
    let (secret, public) = key();

    let get = |name: &'static str| match name {
        HEADER_DEVICE_ID => device,
        HEADER_TIMESTAMP => ts,
        HEADER_NONCE => nonce,
        HEADER_SIGNATURE => sig,
        _ => None,
    };
    match signature::parse_headers(get) {
        Ok(headers) => {
            assert!(headers.timestamp_ms >= 0);
            assert!(!headers.device_id.is_empty());
            if let Err(err) = signature::check_fresh(headers.timestamp_ms, NOW_MS) {
                known(&err);
            }
            // Nobody can forge an Ed25519 signature by mutation.
            let err = signature::verify(public, &method, &path, body, &headers)
                .expect_err("a fuzzed device signature verified");
            known(&err);
            check_own_signature(secret, public, &method, &path, body, &headers);
        }
        Err(err) => known(&err),
    }
});

/// The parsed device, timestamp and nonce, signed with the real key: verifies, and a changed body
/// does not.
fn check_own_signature(
    secret: &SigningKey,
    public: &PublicKey,
    method: &str,
    path: &str,
    body: &[u8],
    parsed: &SignatureHeaders,
) {
    let message = device_signature_message(
        method,
        path,
        body,
        parsed.timestamp_ms,
        &parsed.nonce,
        &parsed.device_id,
    );
    let signed = SignatureHeaders {
        signature: secret.sign(&message).to_bytes(),
        ..parsed.clone()
    };
    signature::verify(public, method, path, body, &signed).expect("our own signature verifies");
    let mut changed = body.to_vec();
    changed.push(b' ');
    let err = signature::verify(public, method, path, &changed, &signed)
        .expect_err("a changed body verified");
    known(&err);
}
