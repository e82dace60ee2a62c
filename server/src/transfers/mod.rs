//! P2P transfers: `POST /v1/transfers` from one of the caller's wallets to a wallet id or to a
//! person by email or phone, and `GET /v1/transfers/{id}` for its two parties. It decides who may
//! send what to whom (ownership, currencies, recipient, limits) and hands the money movement to
//! [`Ledger::transfer`]; it never writes a balance or a transfer row itself and holds no SQL (the
//! daily-limit sum is [`Ledger::debited_since`]).
//!
//! **Invariant:** a P2P transfer is posted under the ledger reference `p2p:<user id>:<key>`,
//! where `<key>` is the request's `Idempotency-Key`. The reference is `UNIQUE` in the ledger and
//! committed in the same transaction as the money, so one key moves money at most once whatever
//! crashes, retries or concurrent processes do; [`crate::idempotency`] only makes the answers
//! replay exactly.

pub mod http;
pub mod limits;
pub mod wallet_facts;

use std::sync::Arc;

use actix_web::http::StatusCode;
use purse_core::api::events::EventType;
use purse_core::api::ledger::{CreateTransferRequest, Transfer as WireTransfer, TransferTo};
use purse_core::money::{self, Amount, Currency, MoneyError};

use crate::config::LimitsConfig;
use crate::error::ApiError;
use crate::events::Events;
use crate::idempotency::{self, IdempotencyKey, RecordDraft};
use crate::identity::{DeviceNonce, Identity, IdentityError, LoginId};
use crate::ids::{self, IdKind};
use crate::ledger::{
    Announce, Ledger, LedgerError, MEMO_CHARS_MAX, NewTransfer, Outbox, RecordOutbox, Transfer,
    TransferKind,
};
use crate::wallets::{self, WalletError};
use limits::Limits;
use wallet_facts::{WalletFacts, WalletFactsCache};

/// Why a transfer is refused. One conversion ([`From<TransferError> for ApiError`]) decides the
/// status of each.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error("currency must be an ISO 4217 code such as USD")]
    CurrencyUnknown,
    /// Malformed, too precise, not positive or too large (money's own codes).
    #[error(transparent)]
    Amount(MoneyError),
    #[error("the memo is longer than 280 characters")]
    MemoTooLong,
    #[error("the memo must not contain control characters")]
    MemoInvalid,
    #[error("`to` must be a wallet id (wal_...) or an object with an email or a phone")]
    RecipientInvalid,
    /// The email or phone of `to` is malformed (identity's own codes).
    #[error(transparent)]
    Payee(IdentityError),
    /// `from_wallet` does not exist or is someone else's.
    #[error("no such wallet")]
    WalletNotFound,
    #[error("no wallet or person matches `to`")]
    RecipientNotFound,
    #[error("a transfer needs two different wallets")]
    SameWallet,
    #[error("both wallets must hold the transfer's currency")]
    CurrencyMismatch,
    #[error("the amount is above the per-transfer limit")]
    TransferLimitExceeded,
    #[error("the amount would pass the daily sending limit for this currency")]
    DailyLimitExceeded,
    #[error("the wallet's balance is too low")]
    InsufficientFunds,
    #[error("this Idempotency-Key was used for a different transfer")]
    KeyReused,
    #[error("no such transfer")]
    NotFound,
    #[error("storage error: {0}")]
    Storage(String),
    #[error(transparent)]
    Ledger(LedgerError),
    #[error(transparent)]
    Identity(IdentityError),
}

impl TransferError {
    pub fn code(&self) -> &'static str {
        match self {
            TransferError::CurrencyUnknown => "currency_unknown",
            TransferError::Amount(err) => err.code(),
            TransferError::MemoTooLong => "memo_too_long",
            TransferError::MemoInvalid => "memo_invalid",
            TransferError::RecipientInvalid => "recipient_invalid",
            TransferError::Payee(err) => err.code(),
            TransferError::WalletNotFound => "not_found",
            TransferError::RecipientNotFound => "recipient_not_found",
            TransferError::SameWallet => "same_wallet",
            TransferError::CurrencyMismatch => "currency_mismatch",
            TransferError::TransferLimitExceeded => "transfer_limit_exceeded",
            TransferError::DailyLimitExceeded => "daily_limit_exceeded",
            TransferError::InsufficientFunds => "insufficient_funds",
            TransferError::KeyReused => "idempotency_key_reused",
            TransferError::NotFound => "not_found",
            TransferError::Storage(_) => "storage_error",
            TransferError::Ledger(err) => err.code(),
            TransferError::Identity(err) => err.code(),
        }
    }
}

impl From<LedgerError> for TransferError {
    fn from(err: LedgerError) -> TransferError {
        match err {
            LedgerError::InsufficientFunds => TransferError::InsufficientFunds,
            LedgerError::CurrencyMismatch => TransferError::CurrencyMismatch,
            LedgerError::SameAccount => TransferError::SameWallet,
            LedgerError::DuplicateReference(_) => TransferError::KeyReused,
            other => TransferError::Ledger(other),
        }
    }
}

impl From<WalletError> for TransferError {
    fn from(err: WalletError) -> TransferError {
        match err {
            WalletError::NotFound => TransferError::WalletNotFound,
            WalletError::Ledger(err) => err.into(),
            WalletError::CurrencyUnknown => TransferError::CurrencyUnknown,
            // Not produced by the calls made here; keep the code rather than lose it.
            WalletError::LimitInvalid | WalletError::CursorInvalid | WalletError::Corrupt(_) => {
                TransferError::Storage(err.to_string())
            }
        }
    }
}

impl From<TransferError> for ApiError {
    fn from(err: TransferError) -> ApiError {
        let code = err.code();
        match err {
            TransferError::CurrencyUnknown
            | TransferError::Amount(_)
            | TransferError::MemoTooLong
            | TransferError::MemoInvalid
            | TransferError::RecipientInvalid => ApiError::bad_request(code, err.to_string()),
            TransferError::Payee(err) | TransferError::Identity(err) => err.into(),
            TransferError::WalletNotFound => ApiError::not_found("wallet"),
            TransferError::NotFound => ApiError::not_found("transfer"),
            TransferError::RecipientNotFound
            | TransferError::SameWallet
            | TransferError::CurrencyMismatch
            | TransferError::TransferLimitExceeded
            | TransferError::DailyLimitExceeded
            | TransferError::KeyReused => ApiError::unprocessable(code, err.to_string()),
            TransferError::InsufficientFunds => {
                crate::ledger::insufficient_funds_problem(err.to_string())
            }
            TransferError::Storage(message) => {
                ApiError::internal(format_args!("transfers: {message}"))
            }
            TransferError::Ledger(err) => err.into(),
        }
    }
}

/// Who receives a transfer, as the request named them.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Recipient {
    Wallet(String),
    Person(LoginId),
}

/// A `CreateTransferRequest` whose shape is valid: every check that needs no database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct P2p {
    from_wallet: String,
    to: Recipient,
    amount: Amount,
    memo: Option<String>,
}

impl P2p {
    /// Whether the recipient is a person by email or phone (whose wallet may be opened for it).
    pub fn names_a_person(&self) -> bool {
        matches!(self.to, Recipient::Person(_))
    }

    pub fn validate(request: &CreateTransferRequest) -> Result<P2p, TransferError> {
        let currency =
            Currency::from_code(&request.currency).map_err(|_| TransferError::CurrencyUnknown)?;
        let amount = Amount::parse(&request.amount, currency).map_err(TransferError::Amount)?;
        let memo = match request.memo.as_deref() {
            None | Some("") => None,
            Some(memo) if memo.chars().count() > MEMO_CHARS_MAX => {
                return Err(TransferError::MemoTooLong);
            }
            Some(memo) if memo.chars().any(char::is_control) => {
                return Err(TransferError::MemoInvalid);
            }
            Some(memo) => Some(memo.to_owned()),
        };
        let to = match &request.to {
            TransferTo::Wallet(id) if ids::is_valid(IdKind::Wallet, id) => {
                Recipient::Wallet(id.clone())
            }
            TransferTo::Wallet(_) => return Err(TransferError::RecipientInvalid),
            TransferTo::Person(payee) => Recipient::Person(
                LoginId::from_parts(payee.email.as_deref(), payee.phone.as_deref())
                    .map_err(TransferError::Payee)?,
            ),
        };
        Ok(P2p {
            // Checked against the caller's wallets later; a malformed id is simply not theirs.
            from_wallet: request.from_wallet.clone(),
            to,
            amount,
            memo,
        })
    }
}

/// The ledger reference of the P2P transfer a user makes under `key` (the module invariant).
pub fn reference(user_id: &str, key: &IdempotencyKey) -> String {
    format!("p2p:{user_id}:{}", key.as_str())
}

/// A committed transfer as its parties see it.
pub fn to_wire(transfer: Transfer) -> Result<WireTransfer, WalletError> {
    let currency = wallets::stored_currency(&transfer.currency)?;
    Ok(WireTransfer {
        amount: money::format_minor(transfer.amount_minor, currency),
        id: transfer.id,
        kind: transfer.kind,
        from: transfer.debit_account,
        to: transfer.credit_account,
        currency: transfer.currency,
        memo: transfer.memo,
        created_at_ms: transfer.created_at_ms,
    })
}

/// The transfers service shared by every handler; cheap to clone.
#[derive(Clone)]
pub struct Transfers {
    inner: Arc<Inner>,
}

struct Inner {
    ledger: Ledger,
    identity: Arc<Identity>,
    limits: Limits,
    wallets: WalletFactsCache,
    events: Events,
}

impl Transfers {
    pub fn new(
        ledger: Ledger,
        identity: Arc<Identity>,
        limits: &LimitsConfig,
        events: Events,
    ) -> Transfers {
        Transfers {
            inner: Arc::new(Inner {
                limits: Limits::new(limits, ledger.clone()),
                wallets: WalletFactsCache::default(),
                ledger,
                identity,
                events,
            }),
        }
    }

    /// Sends `p2p` for `user_id` under `key` and answers the committed transfer (the original one
    /// when this key already moved the same money). `nonce` is the request's device nonce, not
    /// recorded yet ([`crate::identity::SignedDeviceDeferred`]): it commits with the transfer, or
    /// is recorded by the nonce book when no transfer commits with it (a refusal, a replay), so
    /// on return it is recorded either way; a nonce recorded before is
    /// `device_signature_replayed` and moves nothing.
    ///
    /// `record` is the request's idempotency record draft: the answer's record (201 and the
    /// transfer) commits with the transfer too, and the second value says whether it did
    /// ([`crate::idempotency::Answer::recorded`]).
    pub async fn send(
        &self,
        user_id: &str,
        key: &IdempotencyKey,
        p2p: P2p,
        nonce: DeviceNonce,
        record: RecordDraft,
    ) -> Result<(WireTransfer, Option<bool>), TransferError> {
        let mut unspent = Some(nonce);
        let outcome = self
            .send_spending(user_id, key, p2p, &mut unspent, record)
            .await;
        if let Some(nonce) = unspent {
            self.inner
                .identity
                .record_nonce(nonce)
                .await
                .map_err(TransferError::Identity)?;
        }
        outcome
    }

    /// [`Transfers::send`]: takes the nonce out of `nonce` exactly when it committed with the
    /// transfer, or was found recorded before.
    async fn send_spending(
        &self,
        user_id: &str,
        key: &IdempotencyKey,
        p2p: P2p,
        nonce: &mut Option<DeviceNonce>,
        record: RecordDraft,
    ) -> Result<(WireTransfer, Option<bool>), TransferError> {
        let inner = &*self.inner;
        inner.limits.check_transfer(&p2p.amount)?;
        let currency = p2p.amount.currency();
        let from = self.own_wallet(user_id, &p2p.from_wallet).await?;
        if from.currency != currency.code {
            return Err(TransferError::CurrencyMismatch);
        }
        // Naming a person opens their wallet in the currency when they have none: a replayed
        // signature must not get that far. (Two requests racing with one nonce both get here,
        // the original among them, which opens the wallet anyway; the ledger then refuses one.)
        if let (Recipient::Person(_), Some(pending)) = (&p2p.to, nonce.as_ref())
            && inner
                .identity
                .nonce_recorded(pending)
                .await
                .map_err(TransferError::Identity)?
        {
            *nonce = None;
            return Err(TransferError::Identity(IdentityError::SignatureReplayed));
        }
        let to = self.recipient(&p2p.to, currency).await?;
        if to.id == from.id {
            return Err(TransferError::SameWallet);
        }
        if to.currency != currency.code {
            return Err(TransferError::CurrencyMismatch);
        }
        let request = NewTransfer {
            reference: reference(user_id, key),
            kind: TransferKind::P2p,
            debit_account: from.id.clone(),
            credit_account: to.id.clone(),
            currency: currency.code.to_owned(),
            amount_minor: p2p.amount.minor(),
            memo: p2p.memo,
        };
        let reservation = match inner
            .limits
            .reserve_daily(&request.debit_account, &p2p.amount, crate::ledger::now_ms())
            .await
        {
            Ok(reservation) => reservation,
            // A retry of a transfer that went through (its answer lost in a crash) is counted
            // in today's sum already: answer it rather than refuse it.
            // (Its `transfer.received` event was committed with it.)
            Err(TransferError::DailyLimitExceeded) => {
                return match self.posted_before(&request).await? {
                    Some(transfer) => Ok((to_wire(transfer)?, None)),
                    None => Err(TransferError::DailyLimitExceeded),
                };
            }
            Err(err) => return Err(err),
        };
        let announce = Announce {
            owner_id: to.owner_id.clone(),
            type_: EventType::TransferReceived,
            dedupe_key: None,
            render: Box::new(|transfer| {
                let wire = to_wire(transfer.clone()).map_err(|err| err.to_string())?;
                serde_json::to_value(wire).map_err(|err| err.to_string())
            }),
        };
        let outbox = Outbox {
            announce: vec![announce],
            charge: None,
            nonce: nonce.clone(),
            record: Some(RecordOutbox {
                draft: record,
                render: Box::new(|transfer| {
                    let wire = to_wire(transfer.clone()).map_err(|err| err.to_string())?;
                    Ok((StatusCode::CREATED, idempotency::answer_body(&wire)))
                }),
            }),
        };
        match inner.ledger.transfer_with(request, outbox).await {
            Ok(posted) => {
                if posted.replayed {
                    // A retry of a transfer posted before (counted in today's sum already).
                    reservation.release();
                } else {
                    // Committed with the transfer.
                    *nonce = None;
                    drop(reservation);
                }
                inner.events.notify(&to.owner_id);
                Ok((to_wire(posted.transfer)?, posted.record_written))
            }
            Err(LedgerError::NonceReplayed) => {
                *nonce = None;
                reservation.release();
                Err(TransferError::Identity(IdentityError::SignatureReplayed))
            }
            Err(err) => {
                let definite = matches!(
                    err,
                    LedgerError::InsufficientFunds
                        | LedgerError::WalletBusy
                        | LedgerError::LedgerBusy
                        | LedgerError::AccountNotFound(_)
                        | LedgerError::CurrencyMismatch
                        | LedgerError::DuplicateReference(_)
                        | LedgerError::AmountInvalid
                        | LedgerError::SameAccount
                        | LedgerError::ReferenceInvalid
                        | LedgerError::MemoTooLong
                        | LedgerError::CurrencyInvalid
                        | LedgerError::AnsweredElsewhere
                );
                if definite {
                    reservation.release();
                }
                Err(err.into())
            }
        }
    }

    /// The transfer already posted under `request`'s reference, if it is this very transfer.
    async fn posted_before(
        &self,
        request: &NewTransfer,
    ) -> Result<Option<Transfer>, TransferError> {
        let found = self
            .inner
            .ledger
            .transfer_by_reference(&request.reference)
            .await
            .map_err(|err| TransferError::Storage(err.to_string()))?;
        Ok(found.filter(|t| {
            t.debit_account == request.debit_account
                && t.credit_account == request.credit_account
                && t.amount_minor == request.amount_minor
                && t.currency == request.currency
                && t.memo == request.memo
        }))
    }

    /// The wallet `wallet_id` if `user_id` owns it; `WalletNotFound` otherwise, whether it
    /// exists or not (the same rule as [`wallets::owned`], without reading the balance).
    async fn own_wallet(
        &self,
        user_id: &str,
        wallet_id: &str,
    ) -> Result<Arc<WalletFacts>, TransferError> {
        if !ids::is_valid(IdKind::Wallet, wallet_id) {
            return Err(TransferError::WalletNotFound);
        }
        self.inner
            .wallets
            .get(&self.inner.ledger, wallet_id)
            .await?
            .filter(|wallet| wallet.owner_id == user_id)
            .ok_or(TransferError::WalletNotFound)
    }

    async fn recipient(
        &self,
        to: &Recipient,
        currency: &'static Currency,
    ) -> Result<Arc<WalletFacts>, TransferError> {
        let inner = &*self.inner;
        match to {
            Recipient::Wallet(id) => inner
                .wallets
                .get(&inner.ledger, id)
                .await?
                .ok_or(TransferError::RecipientNotFound),
            Recipient::Person(login) => {
                let user_id = inner
                    .identity
                    .find_user(login)
                    .await
                    .map_err(TransferError::Identity)?
                    .ok_or(TransferError::RecipientNotFound)?;
                let wallet = inner.ledger.open_wallet(&user_id, currency.code).await?;
                let facts = WalletFacts::of(wallet).ok_or_else(|| {
                    TransferError::Storage("open_wallet answered a system account".to_owned())
                })?;
                Ok(inner.wallets.remember(facts))
            }
        }
    }

    /// The transfer `transfer_id` if `user_id` owns one of its two accounts; `NotFound` otherwise,
    /// whether it exists or not.
    pub async fn get(
        &self,
        user_id: &str,
        transfer_id: &str,
    ) -> Result<WireTransfer, TransferError> {
        if !ids::is_valid(IdKind::Transfer, transfer_id) {
            return Err(TransferError::NotFound);
        }
        let ledger = &self.inner.ledger;
        let transfer = ledger
            .transfer_by_id(transfer_id)
            .await?
            .ok_or(TransferError::NotFound)?;
        let mine = ledger.wallets_of(user_id).await?;
        let party = mine
            .iter()
            .any(|w| w.id == transfer.debit_account || w.id == transfer.credit_account);
        if !party {
            return Err(TransferError::NotFound);
        }
        Ok(to_wire(transfer)?)
    }
}
