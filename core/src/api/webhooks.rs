//! Merchant webhooks: the endpoint a merchant configures (`PUT /v1/merchants/{id}/webhook`) and
//! the delivery log it reads. The signature of each delivery is specified in docs/formats.md
//! ("Webhook signature").

use serde::{Deserialize, Serialize};

/// `PUT /v1/merchants/{id}/webhook`: where to POST the merchant's events.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SetWebhookRequest {
    /// An `http` or `https` URL of at most 2048 characters, on a public address.
    pub url: String,
}

/// A merchant's webhook endpoint.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookEndpoint {
    pub merchant_id: String,
    pub url: String,
    /// The signing secret (`whsec_...`): only in the answer that created it (first `PUT`, or
    /// `rotate`). Keep it; it is never shown again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Until then (unix ms) deliveries are also signed with the secret the last rotation replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_secret_expires_at_ms: Option<i64>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl std::fmt::Debug for WebhookEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookEndpoint")
            .field("merchant_id", &self.merchant_id)
            .field("url", &self.url)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field(
                "previous_secret_expires_at_ms",
                &self.previous_secret_expires_at_ms,
            )
            .finish()
    }
}

/// One attempt to deliver one event, as the delivery log shows it (newest first).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookAttempt {
    /// `wha_...`; pass the last one as `starting_after` for the next page.
    pub id: String,
    pub event_id: String,
    pub event_type: String,
    /// 1 for the first attempt of this event, 2 for the first retry, ...
    pub attempt: u32,
    /// The receiver's HTTP status, when it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    /// Why the attempt failed (`http_status`, `timeout`, `connect_failed`, `url_forbidden`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `succeeded`, `retrying` (see `next_retry_at_ms`) or `failed` (no more retries).
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_retry_at_ms: Option<i64>,
    pub created_at_ms: i64,
}
