//! Wire types of the ledger's HTTP surface: operator funding (`/v1/admin/fund`). Wallet and
//! transfer resources are added here by the wallets/transfers API. Amounts are decimal strings
//! in the currency's minor-unit precision (`"12.50"`), never floats.

use serde::{Deserialize, Serialize};

/// `POST /v1/admin/fund`: credit a wallet from the issuance account of its currency.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AdminFundRequest {
    /// The wallet to credit (`wal_...`).
    pub wallet_id: String,
    /// Decimal amount in the wallet's currency, such as `"100.00"`.
    pub amount: String,
    /// Optional idempotency reference: funding twice with the same reference credits once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// The answer to a funding: the issuance transfer and the wallet's balance right after it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AdminFundResponse {
    /// The transfer posted (`txn_...`).
    pub transfer_id: String,
    pub wallet_id: String,
    /// ISO 4217 code.
    pub currency: String,
    /// The amount credited.
    pub amount: String,
    /// The wallet's balance after the credit.
    pub balance: String,
}
