//! Wallets as their owners see them: open one per currency, list, read the balance, page through
//! the history. Every read checks ownership, and a wallet of someone else is answered exactly
//! like a wallet that does not exist (404), so ids cannot be probed. It never moves money (that
//! is [`crate::transfers`] through the ledger) and holds no SQL: it calls [`Ledger`].
//!
//! Wallets are opened on demand (`POST /v1/wallets`), not at sign-up: a user holds only the
//! currencies they use, sign-up stays one write, and a payment addressed to a person by email or
//! phone opens the payee's wallet in that currency when it is missing.

pub mod http;

use purse_core::api::ledger::{Direction, Wallet, WalletTransaction};
use purse_core::api::{Page, PageQuery};
use purse_core::money::{self, Currency};

use crate::error::ApiError;
use crate::ids::{self, IdKind};
use crate::ledger::{Account, AccountKind, Ledger, LedgerError};

/// Why a wallet request is refused.
#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    #[error("currency must be an ISO 4217 code such as USD")]
    CurrencyUnknown,
    /// Also the answer for someone else's wallet.
    #[error("no such wallet")]
    NotFound,
    #[error("limit must be between 1 and 100")]
    LimitInvalid,
    #[error("starting_after must be the id of a transaction of this wallet")]
    CursorInvalid,
    /// A stored row breaks an invariant (logged, answered as a bare 500).
    #[error("corrupt wallet data: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

impl WalletError {
    pub fn code(&self) -> &'static str {
        match self {
            WalletError::CurrencyUnknown => "currency_unknown",
            WalletError::NotFound => "not_found",
            WalletError::LimitInvalid => "limit_invalid",
            WalletError::CursorInvalid => "starting_after_invalid",
            WalletError::Corrupt(_) => "internal_error",
            WalletError::Ledger(err) => err.code(),
        }
    }
}

impl From<WalletError> for ApiError {
    fn from(err: WalletError) -> ApiError {
        let code = err.code();
        match err {
            WalletError::CurrencyUnknown
            | WalletError::LimitInvalid
            | WalletError::CursorInvalid => ApiError::bad_request(code, err.to_string()),
            WalletError::NotFound => ApiError::not_found("wallet"),
            WalletError::Corrupt(message) => ApiError::internal(message),
            WalletError::Ledger(err) => err.into(),
        }
    }
}

/// The currency of a stored account. Every stored code was checked on the way in, so an unknown
/// one means the database was changed behind the server's back.
pub(crate) fn stored_currency(code: &str) -> Result<&'static Currency, WalletError> {
    Currency::from_code(code)
        .map_err(|_| WalletError::Corrupt(format!("unknown currency {code:?} in storage")))
}

fn to_wire(account: Account) -> Result<Wallet, WalletError> {
    let currency = stored_currency(&account.currency)?;
    Ok(Wallet {
        balance: money::format_minor(account.balance_minor, currency),
        id: account.id,
        currency: account.currency,
        created_at_ms: account.created_at_ms,
    })
}

/// The wallet `wallet_id` if `user_id` owns it; [`WalletError::NotFound`] otherwise, whether it
/// exists or not.
pub async fn owned(
    ledger: &Ledger,
    user_id: &str,
    wallet_id: &str,
) -> Result<Account, WalletError> {
    if !ids::is_valid(IdKind::Wallet, wallet_id) {
        return Err(WalletError::NotFound);
    }
    ledger
        .account(wallet_id)
        .await?
        .filter(|account| {
            account.kind == AccountKind::Wallet && account.owner_id.as_deref() == Some(user_id)
        })
        .ok_or(WalletError::NotFound)
}

/// Opens the wallet of `user_id` in `currency`; `true` when it was created by this call.
pub async fn open(
    ledger: &Ledger,
    user_id: &str,
    currency: &str,
) -> Result<(Wallet, bool), WalletError> {
    let currency = Currency::from_code(currency).map_err(|_| WalletError::CurrencyUnknown)?;
    let existing = ledger.wallets_of(user_id).await?;
    if let Some(wallet) = existing.into_iter().find(|w| w.currency == currency.code) {
        return Ok((to_wire(wallet)?, false));
    }
    Ok((
        to_wire(ledger.open_wallet(user_id, currency.code).await?)?,
        true,
    ))
}

/// Every wallet of `user_id` (one per currency, so one page).
pub async fn list(ledger: &Ledger, user_id: &str) -> Result<Page<Wallet>, WalletError> {
    let wallets = ledger.wallets_of(user_id).await?;
    Ok(Page {
        data: wallets.into_iter().map(to_wire).collect::<Result<_, _>>()?,
        has_more: false,
    })
}

pub async fn get(ledger: &Ledger, user_id: &str, wallet_id: &str) -> Result<Wallet, WalletError> {
    to_wire(owned(ledger, user_id, wallet_id).await?)
}

/// One page of the wallet's transfers, newest first.
pub async fn history(
    ledger: &Ledger,
    user_id: &str,
    wallet_id: &str,
    page: &PageQuery,
) -> Result<Page<WalletTransaction>, WalletError> {
    let limit = page.limit_checked().ok_or(WalletError::LimitInvalid)?;
    let wallet = owned(ledger, user_id, wallet_id).await?;
    let cursor = page.starting_after.as_deref();
    if cursor.is_some_and(|c| !ids::is_valid(IdKind::Transfer, c)) {
        return Err(WalletError::CursorInvalid);
    }
    let (transfers, has_more) = ledger
        .history(&wallet.id, limit, cursor)
        .await?
        .ok_or(WalletError::CursorInvalid)?;
    let data = transfers
        .into_iter()
        .map(|transfer| {
            let direction = if transfer.debit_account == wallet.id {
                Direction::Debit
            } else {
                Direction::Credit
            };
            Ok(WalletTransaction {
                transfer: crate::transfers::to_wire(transfer)?,
                direction,
            })
        })
        .collect::<Result<_, WalletError>>()?;
    Ok(Page { data, has_more })
}
