//! Fuzz target `access_token`: any bytes through the server's access token (JWT) verifier, as raw
//! text, as a header / payload / signature built from the bytes, and as that header and payload
//! signed with the real server key. It must never panic, every error has a known code, nothing
//! fuzzed verifies unless the real key signed it, and what verifies is an `EdDSA` token of our
//! issuer and audience that has not expired.
//! Run it as fuzz/README.md says.
#![no_main]

use std::sync::OnceLock;

use ed25519_dalek::{Signer, SigningKey};
use libfuzzer_sys::fuzz_target;
use purse_server::identity::jwt::{DEFAULT_AUDIENCE, DEFAULT_ISSUER, TokenSigner};
use purse_server::identity::keys::ServerKey;

const KNOWN_CODES: &[&str] = &[
    "token_malformed",
    "token_algorithm_rejected",
    "token_signature_invalid",
    "token_expired",
    "token_issuer_invalid",
    "token_audience_invalid",
];

const SEED: [u8; 32] = [5; 32];
const B64: data_encoding::Encoding = data_encoding::BASE64URL_NOPAD;

fn signer() -> &'static TokenSigner {
    static SIGNER: OnceLock<TokenSigner> = OnceLock::new();
    SIGNER.get_or_init(|| {
        TokenSigner::new(
            &ServerKey::from_seed(SEED),
            DEFAULT_ISSUER,
            DEFAULT_AUDIENCE,
        )
        .expect("a signer")
    })
}

fn refused(token: &str) {
    let err = signer()
        .verify(token)
        .expect_err("a token not signed by the server key verified");
    assert!(
        KNOWN_CODES.contains(&err.code()),
        "unknown code {}",
        err.code()
    );
}

fuzz_target!(|data: &[u8]| {
    let signer = signer();
    // The bytes as a bearer token.
    refused(&String::from_utf8_lossy(data));

    // The bytes as header JSON, payload JSON and signature, so the JSON behind base64 is reached.
    let mut parts = data.splitn(3, |&b| b == 0xff);
    let head = parts.next().unwrap_or_default();
    let payload = parts.next().unwrap_or_default();
    let sig = parts.next().unwrap_or_default();
    let signing_input = format!("{}.{}", B64.encode(head), B64.encode(payload));
    refused(&format!("{signing_input}.{}", B64.encode(sig)));

    // The same header and payload signed with the real key: accepted only if every check holds.
    let key = SigningKey::from_bytes(&SEED);
    let signature = key.sign(signing_input.as_bytes()).to_bytes();
    let token = format!("{signing_input}.{}", B64.encode(&signature));
    match signer.verify(&token) {
        Ok(claims) => {
            let header: serde_json::Value =
                serde_json::from_slice(head).expect("an accepted header is JSON");
            assert_eq!(
                header["alg"], "EdDSA",
                "accepted a token whose alg is not EdDSA"
            );
            assert_eq!(claims.iss, DEFAULT_ISSUER);
            assert_eq!(claims.aud, DEFAULT_AUDIENCE);
            let now_s = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("after 1970")
                .as_secs();
            assert!(claims.exp >= now_s, "accepted an expired token");
        }
        Err(err) => assert!(
            KNOWN_CODES.contains(&err.code()),
            "unknown code {}",
            err.code()
        ),
    }
});
