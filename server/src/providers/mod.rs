//! Payment providers as Purse sees them: the [`Provider`] trait (create an intent, fetch its
//! status, verify a webhook, fetch a settlement report) and the one implementation today,
//! [`sandbox::SandboxClient`], which speaks HTTP to the built-in sandbox acquirer
//! ([`crate::sandbox`]) exactly as it would to a real one. It never moves money and never
//! touches the database: [`crate::topups`] and [`crate::settlement`] decide what a provider's
//! answer means.
//!
//! Webhook signatures (docs/formats.md, "Provider webhook signature"): the header
//! `Sandbox-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>...]`, each `v1` being
//! HMAC-SHA256(secret, "<t>.<body>") under one of the provider's current secrets (several during a
//! rotation). [`sign`] and [`verify`] are the one implementation of it, used by both sides.

pub mod sandbox;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The webhook signature header the sandbox sends.
pub const SIGNATURE_HEADER: &str = "Sandbox-Signature";

/// Most `v1=` signatures one header may carry.
pub const SIGNATURES_MAX: usize = 8;

/// A payment intent as the provider reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    /// The provider's reference (`pi_...`).
    pub id: String,
    pub amount_minor: i64,
    pub currency: String,
    /// `card` or `bank_transfer`.
    pub method: String,
    /// `requires_confirmation`, `captured`, `declined`, `canceled`, `charged_back`.
    pub status: String,
    /// What the merchant (Purse) passed at creation: the top-up id.
    pub reference: String,
    /// Where the payer confirms (like 3-D Secure).
    pub confirm_url: String,
    pub created_at_ms: i64,
    #[serde(default)]
    pub captured_at_ms: Option<i64>,
    #[serde(default)]
    pub charged_back_at_ms: Option<i64>,
}

/// What Purse asks a provider to collect.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewIntent {
    pub amount_minor: i64,
    pub currency: String,
    pub method: String,
    /// Our id for it (the top-up id); echoed in webhooks and settlement lines are by intent id.
    pub reference: String,
}

/// A webhook event body as the provider sends it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookEvent {
    /// Unique per event; a redelivery carries the same id.
    pub id: String,
    /// `intent.captured`, `intent.declined`, `intent.charged_back`, ... (unknown types are
    /// acknowledged and ignored).
    #[serde(rename = "type")]
    pub type_: String,
    pub created_at_ms: i64,
    pub intent: Intent,
}

/// Why a provider call failed.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("the provider is unreachable: {0}")]
    Unreachable(String),
    #[error("the provider answered {status}: {body}")]
    Refused { status: u16, body: String },
    #[error("the provider's answer is malformed: {0}")]
    Malformed(String),
}

/// Why a webhook is refused (each is a 400 with its `code`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signature header is missing")]
    Missing,
    #[error("the signature header is malformed")]
    Malformed,
    #[error("the signature's timestamp is outside the tolerance")]
    Stale,
    #[error("no signature matches a current secret")]
    Invalid,
}

impl SignatureError {
    pub fn code(self) -> &'static str {
        match self {
            SignatureError::Missing => "webhook_signature_missing",
            SignatureError::Malformed => "webhook_signature_malformed",
            SignatureError::Stale => "webhook_timestamp_out_of_tolerance",
            SignatureError::Invalid => "webhook_signature_invalid",
        }
    }
}

/// A payment provider. Futures are not `Send`: HTTP clients run on the caller's actix runtime.
#[allow(async_fn_in_trait)]
pub trait Provider {
    /// The name in URLs and the database (`sandbox`).
    fn name(&self) -> &'static str;
    async fn create_intent(&self, intent: &NewIntent) -> Result<Intent, ProviderError>;
    async fn fetch_intent(&self, id: &str) -> Result<Intent, ProviderError>;
    /// Checks a webhook's signature header against `body` at `now_s`.
    fn verify_webhook(
        &self,
        header: Option<&str>,
        body: &[u8],
        now_s: i64,
    ) -> Result<(), SignatureError>;
    /// The settlement report CSV of `date` (`YYYY-MM-DD`), written to `out`.
    async fn fetch_settlement_report(
        &self,
        date: &str,
        out: &std::path::Path,
    ) -> Result<(), ProviderError>;
}

fn mac(secret: &str, timestamp_s: i64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(timestamp_s.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The signature header value for `body` at `timestamp_s`, one `v1=` per secret.
pub fn sign(secrets: &[String], timestamp_s: i64, body: &[u8]) -> String {
    let mut header = format!("t={timestamp_s}");
    for secret in secrets {
        let tag = mac(secret, timestamp_s, body).finalize().into_bytes();
        header.push_str(",v1=");
        header.push_str(&data_encoding::HEXLOWER.encode(&tag));
    }
    header
}

/// Verifies a signature header: a `t=` within `tolerance_s` of `now_s` and at least one `v1=`
/// that matches under one of `secrets` (compared in constant time).
pub fn verify(
    secrets: &[String],
    header: Option<&str>,
    body: &[u8],
    now_s: i64,
    tolerance_s: u64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut tags = Vec::new();
    for part in header.split(',') {
        let (key, value) = part
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed)?;
        match key {
            "t" => {
                timestamp = Some(
                    value
                        .parse::<i64>()
                        .map_err(|_| SignatureError::Malformed)?,
                );
            }
            "v1" => {
                let tag = data_encoding::HEXLOWER_PERMISSIVE
                    .decode(value.as_bytes())
                    .map_err(|_| SignatureError::Malformed)?;
                if tags.len() < SIGNATURES_MAX {
                    tags.push(tag);
                }
            }
            // Other schemes (v0, future ones) are ignored, as providers document.
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if tags.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if now_s.abs_diff(timestamp) > tolerance_s {
        return Err(SignatureError::Stale);
    }
    for secret in secrets {
        for tag in &tags {
            if mac(secret, timestamp, body).verify_slice(tag).is_ok() {
                return Ok(());
            }
        }
    }
    Err(SignatureError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_round_trip_rotation_staleness_and_tampering() {
        let old = "whsec_old_secret_0123456789".to_owned();
        let new = "whsec_new_secret_0123456789".to_owned();
        let body = br#"{"id":"evt_1"}"#;
        let header = sign(&[new.clone(), old.clone()], 1_700_000_000, body);
        assert_eq!(header.matches("v1=").count(), 2);
        // Purse still on the old secret accepts a header signed with both during rotation.
        assert_eq!(
            verify(
                std::slice::from_ref(&old),
                Some(&header),
                body,
                1_700_000_100,
                300
            ),
            Ok(())
        );
        assert_eq!(
            verify(
                std::slice::from_ref(&old),
                Some(&header),
                body,
                1_700_000_400,
                300
            ),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(
                std::slice::from_ref(&old),
                Some(&header),
                b"{}",
                1_700_000_000,
                300
            ),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            verify(&[old], None, body, 1_700_000_000, 300),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify(&[new], Some("t=abc,v1=00"), body, 0, 300),
            Err(SignatureError::Malformed)
        );
    }

    /// The test vector of docs/formats.md, "Provider webhook signature", read from the doc.
    #[test]
    fn doc_vector_matches() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/formats.md");
        let doc = std::fs::read_to_string(path).expect("docs/formats.md is readable");
        let block = doc
            .split("## Provider webhook signature")
            .nth(1)
            .and_then(|s| s.split("```text\n").nth(1))
            .and_then(|s| s.split("```").next())
            .expect("the vector block");
        let field = |name: &str| {
            block
                .lines()
                .find_map(|line| {
                    let (key, value) = line.split_once(" = ")?;
                    (key.trim() == name).then(|| value.trim_start().to_owned())
                })
                .unwrap_or_else(|| panic!("field {name}"))
        };
        let (one, two) = (field("secret"), field("secret2"));
        let t: i64 = field("t").parse().expect("a number");
        let body = field("body");
        let header = sign(&[one.clone(), two.clone()], t, body.as_bytes());
        assert_eq!(header, field("header"));
        assert_eq!(
            sign(std::slice::from_ref(&two), t, body.as_bytes()),
            format!("t={t},v1={}", field("v1_secret2"))
        );
        assert!(header.contains(&field("v1")));
        for secret in [one, two] {
            assert_eq!(
                verify(&[secret], Some(&header), body.as_bytes(), t, 300),
                Ok(())
            );
        }
    }
}
