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

// --- wallets and transfers (the wallets/transfers API) -------------------------------------------

/// `POST /v1/wallets`: open the caller's wallet in `currency`. A user has at most one wallet per
/// currency; asking again answers the existing one (200 instead of 201).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateWalletRequest {
    /// ISO 4217 code, upper case (`"USD"`).
    pub currency: String,
}

/// A wallet as its owner sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Wallet {
    /// `wal_...`
    pub id: String,
    /// ISO 4217 code.
    pub currency: String,
    /// The committed balance, a decimal string with the currency's decimals (`"12.50"`).
    pub balance: String,
    /// Unix milliseconds.
    pub created_at_ms: i64,
}

/// A person to pay, by the email or the phone they signed up with (exactly one of the two).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Payee {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// E.164 (`+14155550100`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

/// Where a transfer goes: a wallet id (`"wal_..."`), or a person (`{"email": "..."}` or
/// `{"phone": "+..."}`), whose wallet in the transfer's currency is opened if they have none.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum TransferTo {
    Wallet(String),
    Person(Payee),
}

/// `POST /v1/transfers`: move `amount` of `currency` from one of the caller's wallets to another
/// wallet. Requires an `Idempotency-Key` header and a device signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateTransferRequest {
    /// The caller's wallet to debit (`wal_...`).
    pub from_wallet: String,
    pub to: TransferTo,
    /// A positive decimal string with at most the currency's decimals (`"12.50"`).
    pub amount: String,
    /// ISO 4217 code; must be the currency of both wallets.
    pub currency: String,
    /// A note for both parties, at most 280 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memo: Option<String>,
}

/// A committed transfer (`txn_...`), readable by the owners of its two accounts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Transfer {
    /// `txn_...`
    pub id: String,
    /// `p2p`, `issuance` (operator funding), ...
    pub kind: String,
    /// The debited account: a wallet (`wal_...`) or a system account (`sys_...`).
    pub from: String,
    /// The credited account.
    pub to: String,
    /// A positive decimal string (`"12.50"`).
    pub amount: String,
    /// ISO 4217 code.
    pub currency: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memo: Option<String>,
    /// Unix milliseconds.
    pub created_at_ms: i64,
}

/// Which side of a transfer a wallet is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Money left the wallet.
    Debit,
    /// Money came in.
    Credit,
}

/// One line of a wallet's history (`GET /v1/wallets/{id}/transactions`): the transfer and the
/// wallet's side of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WalletTransaction {
    #[serde(flatten)]
    pub transfer: Transfer,
    pub direction: Direction,
}

#[cfg(test)]
mod transfer_wire_tests {
    use super::*;

    #[test]
    fn transfer_to_is_a_wallet_id_or_a_person() {
        let wallet: TransferTo = serde_json::from_str(r#""wal_abc""#).unwrap();
        assert_eq!(wallet, TransferTo::Wallet("wal_abc".to_owned()));
        let person: TransferTo = serde_json::from_str(r#"{"email": "a@b.co"}"#).unwrap();
        assert_eq!(
            person,
            TransferTo::Person(Payee {
                email: Some("a@b.co".to_owned()),
                phone: None,
            })
        );
        for bad in [r#"{"email": "a@b.co", "name": "x"}"#, "12", "null"] {
            assert!(serde_json::from_str::<TransferTo>(bad).is_err(), "{bad}");
        }
        assert_eq!(serde_json::to_string(&wallet).unwrap(), r#""wal_abc""#);
        assert_eq!(
            serde_json::to_string(&person).unwrap(),
            r#"{"email":"a@b.co"}"#
        );
    }

    #[test]
    fn a_wallet_transaction_is_a_transfer_with_a_direction() {
        let line = WalletTransaction {
            transfer: Transfer {
                id: "txn_1".to_owned(),
                kind: "p2p".to_owned(),
                from: "wal_a".to_owned(),
                to: "wal_b".to_owned(),
                amount: "12.50".to_owned(),
                currency: "USD".to_owned(),
                memo: None,
                created_at_ms: 1,
            },
            direction: Direction::Debit,
        };
        let json = serde_json::to_value(&line).unwrap();
        assert_eq!(json["id"], "txn_1");
        assert_eq!(json["direction"], "debit");
        assert_eq!(json["amount"], "12.50");
        assert!(json.get("memo").is_none());
        assert_eq!(
            serde_json::from_value::<WalletTransaction>(json).unwrap(),
            line
        );
    }
}
