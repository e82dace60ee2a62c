//! The webhook signature (docs/formats.md, "Webhook signature"): `Purse-Signature:
//! t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, one `v1` per active secret.
//! Pure functions; it never reads a database or the clock. The receiver's check, [`verify`], is the
//! provider webhook verifier (`crate::providers::verify`): one parser for one header format.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Prefix of every webhook signing secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// The lowercase hex HMAC-SHA256 of `"<t>.<body>"` keyed by the ASCII bytes of the whole
/// `secret` (prefix included).
pub fn v1(secret: &str, t: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    data_encoding::HEXLOWER.encode(&mac.finalize().into_bytes())
}

/// The `Purse-Signature` header value: `t=<t>` then one `v1=` per secret, in the order given
/// (the current secret first, then the one being rotated out).
pub fn header(secrets: &[&str], t: i64, body: &[u8]) -> String {
    assert!(
        !secrets.is_empty(),
        "a webhook is signed with at least one secret"
    );
    let mut value = format!("t={t}");
    for secret in secrets {
        value.push_str(",v1=");
        value.push_str(&v1(secret, t, body));
    }
    value
}

/// How far a receiver lets `t` be from its clock, either way (docs/formats.md: 5 minutes).
pub const TOLERANCE_S: u64 = 300;

/// What a merchant's receiver does with a delivery: accept it if `t` is within [`TOLERANCE_S`] of
/// `now_s` and any `v1` matches one of `secrets` (constant-time comparison). The reference
/// implementation of the receiver side that docs/formats.md describes.
pub fn verify(
    secrets: &[String],
    header: Option<&str>,
    body: &[u8],
    now_s: i64,
) -> Result<(), crate::providers::SignatureError> {
    crate::providers::verify(secrets, header, body, now_s, TOLERANCE_S)
}

/// A new secret: `whsec_` and 32 random bytes as base64url without padding.
pub fn new_secret() -> String {
    use rand_core::{OsRng, RngCore};
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    format!(
        "{SECRET_PREFIX}{}",
        data_encoding::BASE64URL_NOPAD.encode(&bytes)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The "Webhook signature" test vector of docs/formats.md, as name/value pairs.
    fn doc_vector() -> Vec<(String, String)> {
        const DOC: &str = include_str!("../../../docs/formats.md");
        let section = DOC
            .split("## Webhook signature")
            .nth(1)
            .expect("a Webhook signature section in docs/formats.md");
        let block = section
            .split("### Test vector")
            .nth(1)
            .and_then(|rest| rest.split("```text\n").nth(1))
            .and_then(|rest| rest.split("\n```").next())
            .expect("a text block under Test vector");
        block
            .lines()
            .map(|line| {
                let (name, value) = line.split_once('=').expect("name = value");
                (name.trim().to_owned(), value.trim_start().to_owned())
            })
            .collect()
    }

    #[test]
    fn doc_test_vector_matches() {
        let vector = doc_vector();
        let field = |name: &str| {
            vector
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| panic!("{name} in the vector"))
        };
        let t: i64 = field("t").parse().expect("t");
        let body = field("body");
        let secret = field("secret");
        let previous = field("previous_secret");
        assert_eq!(
            format!("{t}.{body}"),
            field("signed_payload"),
            "the signed payload"
        );
        assert_eq!(v1(&secret, t, body.as_bytes()), field("v1"));
        assert_eq!(v1(&previous, t, body.as_bytes()), field("v1_previous"));
        assert_eq!(
            header(&[&secret, &previous], t, body.as_bytes()),
            field("header")
        );
        assert_eq!(
            header(&[&secret], t, body.as_bytes()),
            format!("t={t},v1={}", field("v1"))
        );
    }

    #[test]
    fn any_change_breaks_the_signature() {
        let secret = new_secret();
        assert!(
            secret.starts_with(SECRET_PREFIX) && secret.len() == 6 + 43,
            "{secret}"
        );
        let good = v1(&secret, 1_700_000_000, b"{}");
        assert_ne!(good, v1(&secret, 1_700_000_001, b"{}"));
        assert_ne!(good, v1(&secret, 1_700_000_000, b"{ }"));
        assert_ne!(good, v1(&new_secret(), 1_700_000_000, b"{}"));
    }

    #[test]
    fn receivers_verify_every_secret_and_refuse_stale_or_tampered_deliveries() {
        use crate::providers::SignatureError;
        let (current, previous) = (new_secret(), new_secret());
        let t = 1_700_000_000;
        let body = br#"{"id":"evt_1"}"#;
        let signed = header(&[&current, &previous], t, body);
        for secret in [&current, &previous] {
            let secrets = [secret.clone()];
            assert_eq!(verify(&secrets, Some(&signed), body, t), Ok(()));
            assert_eq!(verify(&secrets, Some(&signed), body, t + 300), Ok(()));
            assert_eq!(
                verify(&secrets, Some(&signed), body, t + 301),
                Err(SignatureError::Stale)
            );
            assert_eq!(
                verify(&secrets, Some(&signed), body, t - 301),
                Err(SignatureError::Stale)
            );
            assert_eq!(
                verify(&secrets, Some(&signed), b"{}", t),
                Err(SignatureError::Invalid)
            );
        }
        assert_eq!(
            verify(&[new_secret()], Some(&signed), body, t),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            verify(&[current], None, body, t),
            Err(SignatureError::Missing)
        );
    }
}
