//! Wire types of payments to merchants: `POST /v1/payments` (the consumer pays a merchant's QR
//! code), `POST /v1/charges` (the merchant charges a consumer's pay code), refunds and the
//! operator's list of risk rejections. Amounts are decimal strings.

use serde::{Deserialize, Serialize};

/// `POST /v1/payments` (device-signed, `Idempotency-Key` required).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreatePaymentRequest {
    /// The scanned EMV payload (`000201...`).
    pub payload: String,
    /// The payer's wallet (`wal_...`) in the code's currency.
    pub wallet: String,
    /// Only for static codes (which carry no amount): what the payer typed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<String>,
}

/// A payment of a merchant-presented code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Payment {
    /// `pay_...`
    pub id: String,
    pub merchant_id: String,
    pub merchant_name: String,
    /// The payer's wallet.
    pub wallet: String,
    pub amount: String,
    pub currency: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// `succeeded`.
    pub status: String,
    /// How much of it was refunded so far.
    pub refunded_amount: String,
    /// The ledger transfer that moved the money (`txn_...`).
    pub transfer_id: String,
    pub created_at_ms: i64,
}

/// `POST /v1/charges` (POS key or owner; `Idempotency-Key` required).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateChargeRequest {
    /// The scanned pay code (`PC1:...`).
    pub paycode: String,
    pub amount: String,
    pub currency: String,
    /// The till's own reference, 1 to 64 visible characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// A charge of a consumer pay code: the merchant's receipt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Charge {
    /// `chg_...`
    pub id: String,
    pub merchant_id: String,
    pub amount: String,
    pub currency: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The payer's device that made the pay code (`dev_...`).
    pub device_id: String,
    /// `succeeded`.
    pub status: String,
    pub refunded_amount: String,
    pub transfer_id: String,
    pub created_at_ms: i64,
}

/// `POST /v1/refunds` (merchant owner or POS key; `Idempotency-Key` required).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateRefundRequest {
    /// The payment (`pay_...`) or charge (`chg_...`) to refund.
    pub payment: String,
    /// Defaults to what is left to refund.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<String>,
    /// Up to 280 characters, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A refund of (part of) a payment or charge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Refund {
    /// `rfd_...`
    pub id: String,
    /// The refunded payment or charge.
    pub payment: String,
    pub amount: String,
    pub currency: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `succeeded`.
    pub status: String,
    pub transfer_id: String,
    pub created_at_ms: i64,
}

/// One payment or charge the risk rules refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RiskRejection {
    pub id: String,
    /// The problem code answered: `risk_amount_limit`, `risk_daily_limit`, `risk_velocity`,
    /// `risk_new_device`.
    pub rule: String,
    pub user_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    pub merchant_id: String,
    pub amount: String,
    pub currency: String,
    pub created_at_ms: i64,
}
