//! Wire types of merchants (`/v1/merchants`): the profile, signing keys and their public
//! directory, POS API keys and the QR codes the server makes. Amounts are decimal strings.

use serde::{Deserialize, Serialize};

/// `POST /v1/merchants`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateMerchantRequest {
    /// 1 to 25 characters, printed in the QR code (EMV tag 59).
    pub name: String,
    /// 1 to 15 characters (EMV tag 60).
    pub city: String,
    /// ISO 3166-1 alpha-2, upper case.
    pub country: String,
    /// Merchant category code, 4 digits.
    pub mcc: String,
    /// ISO 4217 code of the merchant's wallet and codes.
    pub currency: String,
}

/// A merchant as its owner sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Merchant {
    /// `mer_...`
    pub id: String,
    pub name: String,
    pub city: String,
    pub country: String,
    pub mcc: String,
    pub currency: String,
    /// The merchant's ledger wallet (`wal_...`), owned by the `mer_` id.
    pub wallet_id: String,
    /// `active` or `inactive`.
    pub status: String,
    pub created_at_ms: i64,
}

/// `POST /v1/merchants/{id}/keys`: `{}` makes the server generate and keep a key; a
/// `public_key` registers a key the merchant holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateMerchantKeyRequest {
    /// Ed25519 public key, base64url without padding (43 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
}

/// A merchant signing key (public half only).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MerchantKey {
    /// 16 lower-case hex digits: the first 8 bytes of SHA-256 of the public key, as written in
    /// merchant codes (26/02).
    pub key_id: String,
    /// base64url, no padding.
    pub public_key: String,
    /// `active` or `revoked`.
    pub status: String,
    pub created_at_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at_ms: Option<i64>,
}

/// `GET /v1/merchants/{id}/keys`: the public key directory (no auth, cacheable).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MerchantKeyDirectory {
    pub merchant_id: String,
    pub keys: Vec<MerchantKey>,
}

/// `POST /v1/merchants/{id}/api-keys`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    /// 1 to 64 characters, such as `"Till 1"`.
    pub name: String,
}

/// A POS API key. `secret` is present only in the answer that created it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKey {
    /// `key_...`
    pub id: String,
    pub name: String,
    /// `purse_pos_...`: shown once, stored as SHA-256 only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    pub created_at_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at_ms: Option<i64>,
}

/// `POST /v1/merchants/{id}/qr`: with `amount` a dynamic code (payable once), else static.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateQrRequest {
    /// Decimal string in the merchant's currency; makes the code dynamic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<String>,
    /// The merchant's reference (1 to 25 of `[A-Za-z0-9._-]`); generated for a dynamic code when
    /// absent, unique per merchant among dynamic codes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// Seconds until the code expires (1 to 31,536,000); dynamic codes default to 900.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_s: Option<u64>,
}

/// A QR code the server made and signed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MerchantQr {
    /// `qr_...`
    pub id: String,
    /// `static` or `dynamic`.
    pub kind: String,
    /// The EMV payload text (what the QR code holds).
    pub payload: String,
    /// The QR code as an SVG document.
    pub svg: String,
    /// The QR code as a PNG image, base64 (standard alphabet, padded).
    pub png_base64: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<String>,
    pub currency: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at_ms: Option<i64>,
}
