//! Wire types of top-ups (`POST /v1/topups`, `GET /v1/topups/{id}`): money entering Purse through
//! a payment provider. Amounts are decimal strings in the wallet's currency, never floats.

use serde::{Deserialize, Serialize};

/// `POST /v1/topups` (device-signed, `Idempotency-Key` required).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateTopUpRequest {
    /// The wallet to credit (`wal_...`), one of the caller's.
    pub wallet: String,
    /// Decimal amount in the wallet's currency, such as `"20.00"`.
    pub amount: String,
    /// `card` or `bank_transfer`.
    pub method: String,
}

/// What the app does next to complete a pending top-up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NextAction {
    /// Always `redirect`: open `url` (the provider's confirm page, like 3-D Secure).
    #[serde(rename = "type")]
    pub type_: String,
    pub url: String,
}

/// A top-up as its owner sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TopUp {
    /// `top_...`
    pub id: String,
    /// The wallet credited on capture.
    pub wallet: String,
    pub amount: String,
    /// ISO 4217 code.
    pub currency: String,
    /// `card` or `bank_transfer`.
    pub method: String,
    /// `pending`, then `succeeded`, `failed` or `canceled`; a succeeded top-up the card holder's
    /// bank reversed becomes `charged_back`.
    pub status: String,
    /// Present while `pending`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_action: Option<NextAction>,
    /// Why it failed (`card_declined`, ...), when `failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_code: Option<String>,
    /// The ledger transfer that credited the wallet, once `succeeded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer_id: Option<String>,
    /// Unix milliseconds.
    pub created_at_ms: i64,
}
