//! The double-entry ledger (DESIGN.md "Ledger", invariants 1–6): accounts, append-only
//! hash-chained transfers, and [`Ledger`], the one handle through which money moves. It never
//! speaks HTTP and never knows users beyond an opaque `owner_id`; the wallets/transfers API layer
//! authenticates, authorizes and maps [`LedgerError`] to problems (`From<LedgerError> for ApiError`
//! is here, so the mapping is defined once).
//!
//! # How money moves
//!
//! ```text
//! Ledger::transfer(NewTransfer)
//!   ├─ debit account is a wallet ─► WalletRegistry ─► WalletActor (one per wallet, in-memory
//!   │                                  balance, serializes debits)  ─► Commit ─► LedgerWriter
//!   └─ debit account is a system account ─────────────────────────────► Commit ─► LedgerWriter
//! LedgerWriter: group commit, up to `ledger.batch_max` transfers per database transaction,
//!               balances + hash chain in the same transaction (see [`store`]), answers each caller.
//! ```
//!
//! # API for the layers above
//!
//! - [`Ledger::open_wallet`] creates (or returns) the wallet of an owner in a currency.
//! - [`Ledger::transfer`] posts one [`NewTransfer`] and returns [`Posted`] (the committed
//!   [`Transfer`] and both balances right after it). It is idempotent by `reference`: posting
//!   the same transfer again returns the original; a different transfer under a used reference
//!   fails with [`LedgerError::DuplicateReference`]. An HTTP `Idempotency-Key` should map to a
//!   reference like `p2p:<user id>:<key>`.
//! - [`Ledger::fund`] credits a wallet from the issuance system account (operator funding).
//! - Reads: [`Ledger::account`], [`Ledger::wallets_of`], [`Ledger::wallet_id_of`] (found ids
//!   remembered), [`Ledger::transfer_by_id`],
//!   [`Ledger::history`] (cursor-paginated, newest first).
//!
//! Errors are [`LedgerError`] with a stable `code()`: `insufficient_funds`, `wallet_busy` (429,
//! the wallet's mailbox or in-flight limit is full), `ledger_busy` (503, the writer's queue is
//! full), `account_not_found`, `currency_mismatch`, `duplicate_reference`, `wallet_frozen` (423,
//! an operator froze the debited wallet: see [`crate::operations`]), validation codes.
//!
//! # Invariants and where they are enforced
//!
//! 1. Per currency, balances sum to zero: every transfer moves one amount between two accounts of
//!    its currency (composite foreign keys) in the same transaction as both balance updates;
//!    asserted per batch (`debits == credits`) and re-checked by `purse ledger verify`.
//! 2. Wallets never go below zero: the wallet actor refuses debits beyond its balance minus
//!    pending debits; the schema's `CHECK` is the final guard (two processes, stale caches).
//! 3. Append-only: triggers forbid `UPDATE`/`DELETE` on `transfers` on both backends.
//! 4. Durable: callers are answered only after the batch's `COMMIT` returned (SQLite
//!    `synchronous=FULL` by default, see [`crate::db`]).
//! 5. Idempotent: `transfers.reference` is `UNIQUE`.
//! 6. Hash chain: see [`chain`]; verified by [`verify`].

pub mod chain;
pub mod http;
pub mod money;
pub mod store;
pub mod verify;
pub(crate) mod writer;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use actix::Addr;
use actix_web::http::StatusCode;
use tokio::sync::oneshot;

use crate::actors::{WalletDeps, WalletRegistry};
use crate::config::{LedgerConfig, WalletConfig};
use crate::db::Db;
use crate::error::ApiError;
use crate::ids::{self, IdKind};
use crate::metrics::Metrics;
use store::Prepared;
use writer::LedgerWriter;

/// Longest accepted `reference` (bytes); the schema allows 200.
pub const REFERENCE_LEN_MAX: usize = 200;
/// Longest accepted memo (characters); the schema allows 500.
pub const MEMO_CHARS_MAX: usize = 280;
/// Largest amount of one transfer in minor units (10^15).
pub const AMOUNT_MINOR_MAX: i64 = purse_core::money::AMOUNT_MINOR_MAX;
/// Longest wait for each step of [`Ledger::shutdown`].
pub const SHUTDOWN_STEP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// Most transfers one history page returns.
pub const HISTORY_LIMIT_MAX: u32 = 100;

/// What an account is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountKind {
    /// Owned by a user or merchant; its balance never goes below zero.
    Wallet,
    /// Carries the other side of wallet balances (issuance, provider receivable, fees, ...);
    /// its balance may be negative.
    System,
}

impl AccountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::Wallet => "wallet",
            AccountKind::System => "system",
        }
    }

    pub fn from_db(text: &str) -> Option<AccountKind> {
        match text {
            "wallet" => Some(AccountKind::Wallet),
            "system" => Some(AccountKind::System),
            _ => None,
        }
    }

    /// The id prefix of this kind of account: wallets are `wal_<random>`, system accounts
    /// `sys_<name>_<currency>`.
    pub fn id_prefix(self) -> &'static str {
        match self {
            AccountKind::Wallet => IdKind::Wallet.prefix(),
            AccountKind::System => "sys_",
        }
    }

    /// The kind an account id names.
    pub fn of_id(id: &str) -> Option<AccountKind> {
        if id.starts_with(AccountKind::Wallet.id_prefix()) {
            Some(AccountKind::Wallet)
        } else if id.starts_with(AccountKind::System.id_prefix()) {
            Some(AccountKind::System)
        } else {
            None
        }
    }
}

/// The system accounts, one per currency each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SystemAccount {
    /// Where operator-funded money comes from (`purse admin fund`), until top-ups exist.
    Issuance,
    /// Money owed to us by a payment provider (top-ups captured, not yet settled).
    ProviderReceivable,
    /// Money the bank settled to us.
    Settlement,
    /// Fees we earn.
    Fees,
    /// Losses from chargebacks we could not recover.
    ChargebackLoss,
    /// Fees payment providers charge us (an expense; see `crate::settlement`).
    ProviderFees,
}

impl SystemAccount {
    pub fn name(self) -> &'static str {
        match self {
            SystemAccount::Issuance => "issuance",
            SystemAccount::ProviderReceivable => "provider_receivable",
            SystemAccount::Settlement => "settlement",
            SystemAccount::Fees => "fees",
            SystemAccount::ChargebackLoss => "chargeback_loss",
            SystemAccount::ProviderFees => "provider_fees",
        }
    }

    /// `sys_issuance_usd`.
    pub fn id(self, currency: &str) -> String {
        format!("sys_{}_{}", self.name(), currency.to_ascii_lowercase())
    }
}

/// An account row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub id: String,
    pub kind: AccountKind,
    /// The user or merchant owning a wallet; `None` for system accounts.
    pub owner_id: Option<String>,
    pub currency: String,
    /// The committed balance in minor units.
    pub balance_minor: i64,
    pub created_at_ms: i64,
}

/// The business operation a transfer belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferKind {
    P2p,
    Issuance,
    Payment,
    Refund,
    TopUp,
    Settlement,
    Fee,
    Chargeback,
    Reversal,
}

impl TransferKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TransferKind::P2p => "p2p",
            TransferKind::Issuance => "issuance",
            TransferKind::Payment => "payment",
            TransferKind::Refund => "refund",
            TransferKind::TopUp => "top_up",
            TransferKind::Settlement => "settlement",
            TransferKind::Fee => "fee",
            TransferKind::Chargeback => "chargeback",
            TransferKind::Reversal => "reversal",
        }
    }

    /// False for the corrections an operator or a provider makes to a frozen wallet (reversals,
    /// chargebacks): a freeze stops the owner spending, not the clean-up.
    pub fn blocked_by_freeze(self) -> bool {
        !matches!(self, TransferKind::Reversal | TransferKind::Chargeback)
    }
}

/// A transfer to post: `amount_minor` of `currency` from `debit_account` to `credit_account`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewTransfer {
    /// Unique forever; posting again under the same reference never moves money twice.
    pub reference: String,
    pub kind: TransferKind,
    pub debit_account: String,
    pub credit_account: String,
    /// ISO 4217 code, upper case; both accounts must hold this currency.
    pub currency: String,
    pub amount_minor: i64,
    pub memo: Option<String>,
}

/// A committed transfer row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transfer {
    /// Position in the hash chain (1, 2, ...).
    pub seq: i64,
    /// `txn_...`
    pub id: String,
    pub reference: String,
    pub kind: String,
    pub debit_account: String,
    pub credit_account: String,
    pub currency: String,
    pub amount_minor: i64,
    pub memo: Option<String>,
    pub created_at_ms: i64,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
    /// The previous transfer (its `seq`) of the debit account, 0 when this is its first: the
    /// accounts' lists that history pages walk ([`store::transfers_of`]). Not in the hash; `purse
    /// ledger verify` recomputes it.
    pub debit_prev_seq: i64,
    /// The same for the credit account.
    pub credit_prev_seq: i64,
}

/// The answer to a posted transfer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Posted {
    pub transfer: Transfer,
    /// Balance of the debit account at chain position `as_of_seq`.
    pub debit_balance_minor: i64,
    /// Balance of the credit account at chain position `as_of_seq`.
    pub credit_balance_minor: i64,
    /// The chain position the balances are valid at (the transfer's own seq, or the last seq of
    /// its batch, or the head when a replay was answered).
    pub as_of_seq: i64,
    /// The transfer was posted before, under the same reference: nothing was committed now,
    /// not even this request's outbox.
    pub replayed: bool,
    /// `Some(true)` when [`Outbox::record`] committed with the transfer as its key's record
    /// (a key answered before refuses the transfer instead: [`LedgerError::AnsweredElsewhere`]);
    /// `None` when no record was committed with the transfer.
    pub record_written: Option<bool>,
}

/// Why the ledger refused or could not post.
#[derive(Clone, Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("the amount must be between 1 and 10^15 minor units")]
    AmountInvalid,
    #[error("a transfer needs two different accounts")]
    SameAccount,
    #[error("the reference must be 1 to 200 bytes")]
    ReferenceInvalid,
    #[error("the memo is longer than 280 characters")]
    MemoTooLong,
    #[error("currency must be an ISO 4217 code")]
    CurrencyInvalid,
    #[error("no account {0}")]
    AccountNotFound(String),
    #[error("the accounts do not both hold the transfer's currency")]
    CurrencyMismatch,
    #[error("the balance is too low")]
    InsufficientFunds,
    #[error("the wallet is frozen by an operator")]
    WalletFrozen,
    #[error("a system account balance would overflow")]
    BalanceOverflow,
    #[error("another transfer already used this reference")]
    DuplicateReference(Box<Transfer>),
    #[error("too many requests for this wallet at once")]
    WalletBusy,
    #[error("the ledger is saturated")]
    LedgerBusy,
    /// The charge committed with the transfer ([`Outbox::charge`]) was refused: its pay code
    /// counter is not above the device's last accepted one, or another charge holds its
    /// idempotency key. Nothing moved.
    #[error("the pay code was used already")]
    PaycodeReplayed,
    /// The device nonce committed with the transfer ([`Outbox::nonce`]) was recorded before:
    /// the request is a replay of a signed one. Nothing moved.
    #[error("this device signature was used already")]
    NonceReplayed,
    /// The idempotency record committed with the transfer ([`Outbox::record`]) could not become
    /// its key's record: another request under the key was answered first. Nothing moved; the
    /// caller replays that answer.
    #[error("another request under this Idempotency-Key was answered first")]
    AnsweredElsewhere,
    #[error("the ledger is unavailable: {0}")]
    Unavailable(String),
    #[error("storage error: {0}")]
    Storage(String),
}

impl LedgerError {
    pub fn code(&self) -> &'static str {
        match self {
            LedgerError::AmountInvalid => "amount_invalid",
            LedgerError::SameAccount => "same_account",
            LedgerError::ReferenceInvalid => "reference_invalid",
            LedgerError::MemoTooLong => "memo_too_long",
            LedgerError::CurrencyInvalid => "currency_invalid",
            LedgerError::AccountNotFound(_) => "account_not_found",
            LedgerError::CurrencyMismatch => "currency_mismatch",
            LedgerError::InsufficientFunds => "insufficient_funds",
            LedgerError::WalletFrozen => "wallet_frozen",
            LedgerError::BalanceOverflow => "balance_overflow",
            LedgerError::DuplicateReference(_) => "duplicate_reference",
            LedgerError::WalletBusy => "wallet_busy",
            LedgerError::LedgerBusy => "ledger_busy",
            LedgerError::PaycodeReplayed => "paycode_replayed",
            LedgerError::NonceReplayed => "device_signature_replayed",
            LedgerError::AnsweredElsewhere => "idempotency_key_in_use",
            LedgerError::Unavailable(_) => "ledger_unavailable",
            LedgerError::Storage(_) => "storage_error",
        }
    }
}

impl From<sqlx::Error> for LedgerError {
    fn from(err: sqlx::Error) -> LedgerError {
        LedgerError::Storage(err.to_string())
    }
}

/// The problem for `insufficient_funds`: 402 wherever money is short (transfers, payments,
/// charges), defined once here.
pub fn insufficient_funds_problem(detail: impl Into<String>) -> ApiError {
    ApiError::new(
        StatusCode::PAYMENT_REQUIRED,
        "insufficient_funds",
        "Insufficient funds",
    )
    .detail(detail)
}

/// The one mapping from ledger errors to HTTP problems. Account ids are not echoed: the caller
/// may not own them.
impl From<LedgerError> for ApiError {
    fn from(err: LedgerError) -> ApiError {
        let code = err.code();
        match err {
            LedgerError::AmountInvalid
            | LedgerError::SameAccount
            | LedgerError::ReferenceInvalid
            | LedgerError::MemoTooLong
            | LedgerError::CurrencyInvalid => ApiError::bad_request(code, err.to_string()),
            LedgerError::AccountNotFound(_) => ApiError::not_found("account"),
            LedgerError::CurrencyMismatch | LedgerError::BalanceOverflow => {
                ApiError::unprocessable(code, err.to_string())
            }
            // The one status of `insufficient_funds` everywhere (transfers, payments, charges).
            LedgerError::InsufficientFunds => insufficient_funds_problem(err.to_string()),
            LedgerError::DuplicateReference(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                code,
                "Reference already used",
            )
            .detail("a different transfer was already posted under this reference"),
            LedgerError::WalletBusy => ApiError::too_many_requests(code, err.to_string()),
            LedgerError::PaycodeReplayed => {
                ApiError::new(StatusCode::CONFLICT, code, "Pay code already used")
                    .detail(err.to_string())
            }
            // The problem a replayed signature gets everywhere, defined by identity.
            LedgerError::NonceReplayed => crate::identity::IdentityError::SignatureReplayed.into(),
            // Seen only where a caller does not replay the key's answer itself: retrying replays it.
            LedgerError::AnsweredElsewhere => crate::idempotency::IdempotencyError::InUse.into(),
            LedgerError::WalletFrozen => ApiError::new(StatusCode::LOCKED, code, "Wallet frozen")
                .detail("an operator froze this wallet; it cannot be debited until it is unfrozen"),
            LedgerError::LedgerBusy | LedgerError::Unavailable(_) => {
                tracing::warn!(error = %err, "ledger unavailable");
                ApiError::unavailable(code, "the ledger cannot take this transfer now; retry")
            }
            LedgerError::Storage(message) => ApiError::internal(message),
        }
    }
}

/// Unix time in milliseconds.
pub fn now_ms() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970");
    i64::try_from(since.as_millis()).expect("milliseconds fit i64 until year 292278994")
}

/// Checks that `code` is an active ISO 4217 currency (`purse_core::money`'s table).
fn check_currency(code: &str) -> Result<(), LedgerError> {
    purse_core::money::Currency::from_code(code)
        .map(|_| ())
        .map_err(|_| LedgerError::CurrencyInvalid)
}

impl NewTransfer {
    /// Validates bounds and assigns the id and time.
    fn prepare(self) -> Result<Prepared, LedgerError> {
        if !(1..=AMOUNT_MINOR_MAX).contains(&self.amount_minor) {
            return Err(LedgerError::AmountInvalid);
        }
        if self.debit_account == self.credit_account {
            return Err(LedgerError::SameAccount);
        }
        if self.reference.is_empty() || self.reference.len() > REFERENCE_LEN_MAX {
            return Err(LedgerError::ReferenceInvalid);
        }
        if self
            .memo
            .as_ref()
            .is_some_and(|memo| memo.chars().count() > MEMO_CHARS_MAX)
        {
            return Err(LedgerError::MemoTooLong);
        }
        check_currency(&self.currency)?;
        for account in [&self.debit_account, &self.credit_account] {
            if AccountKind::of_id(account).is_none() || account.len() > 64 {
                return Err(LedgerError::AccountNotFound(account.clone()));
            }
        }
        Ok(Prepared {
            id: ids::new_sortable_id(IdKind::Transfer),
            reference: self.reference,
            kind: self.kind.as_str(),
            debit_account: self.debit_account,
            credit_account: self.credit_account,
            currency: self.currency,
            amount_minor: self.amount_minor,
            memo: self.memo,
            created_at_ms: now_ms(),
            events: Vec::new(),
            charge: None,
            nonce: None,
            record: None,
        })
    }
}

/// What commits in the same database transaction as a transfer ([`Ledger::transfer_with`]):
/// the transactional outbox. Each exists exactly when the transfer does, and a replay of the
/// transfer finds them already stored. The caller wakes live readers of the events once the
/// transfer returns ([`crate::events::Events::notify`]).
#[derive(Default)]
pub struct Outbox {
    pub announce: Vec<Announce>,
    /// A merchant charge the transfer pays: stored `succeeded` with the transfer's id, after its
    /// pay code claim; a refused claim refuses the transfer ([`LedgerError::PaycodeReplayed`]).
    pub charge: Option<crate::payments::store::ChargeRow>,
    /// The nonce of the device signature that asked for the transfer, recorded with it; one
    /// recorded before refuses the transfer ([`LedgerError::NonceReplayed`]). When the answer is
    /// not a fresh commit (an error, or [`Posted::replayed`]) the nonce was not recorded and the
    /// caller records it elsewhere (`SignedDeviceDeferred`).
    pub nonce: Option<crate::identity::DeviceNonce>,
    /// The idempotency record of the request's answer, committed with the transfer as the key's
    /// first answer, or the transfer is refused with [`LedgerError::AnsweredElsewhere`] (see
    /// [`crate::idempotency::RecordDraft`]). Not committed (`None` in
    /// [`Posted::record_written`]) when the answer is not a fresh commit.
    pub record: Option<RecordOutbox>,
}

/// What [`Outbox::record`] holds: the request's record draft and what makes the answer of the
/// transfer as it will be committed (status and body).
pub struct RecordOutbox {
    pub draft: crate::idempotency::RecordDraft,
    pub render: RenderAnswer,
}

/// What makes a [`RecordOutbox`]'s answer of the transfer as it will be committed.
pub type RenderAnswer =
    Box<dyn FnOnce(&Transfer) -> Result<(actix_web::http::StatusCode, Vec<u8>), String> + Send>;

/// An event committed with a transfer ([`Outbox`]), with the data `render` makes of the transfer
/// as it will be committed; published under `dedupe_key`, or `transfer:<txn id>` when `None`.
pub struct Announce {
    /// Whose event it is (`usr_…` or `mer_…`).
    pub owner_id: String,
    pub type_: purse_core::api::events::EventType,
    pub dedupe_key: Option<String>,
    pub render: Render,
}

/// What makes an [`Announce`]'s event data of the transfer as it will be committed.
pub type Render = Box<dyn FnOnce(&Transfer) -> Result<serde_json::Value, String> + Send>;

impl Announce {
    /// The event row for `prepared`, or `None` (logged) when `render` fails: the money still
    /// moves, unannounced, rather than being refused for a rendering bug.
    fn row_for(self, prepared: &Prepared) -> Option<crate::events::store::NewRow> {
        match (self.render)(&draft_of(prepared)) {
            Ok(data) => Some(crate::events::store::NewRow {
                id: ids::new_sortable_id(IdKind::Event),
                owner_id: self.owner_id,
                type_: self.type_.as_str().to_owned(),
                data: data.to_string(),
                dedupe_key: self
                    .dedupe_key
                    .unwrap_or_else(|| format!("transfer:{}", prepared.id)),
                created_at_ms: prepared.created_at_ms,
            }),
            Err(err) => {
                tracing::warn!(transfer = %prepared.id, error = %err, "transfer event not rendered");
                None
            }
        }
    }
}

impl RecordOutbox {
    /// The record for `prepared`, or `None` (logged) when `render` fails: the request then
    /// records its answer the usual way, after the transfer.
    fn row_for(self, prepared: &Prepared) -> Option<crate::idempotency::store::NewRecord> {
        match (self.render)(&draft_of(prepared)) {
            Ok((status, body)) => Some(self.draft.done(status, body, prepared.created_at_ms)),
            Err(err) => {
                tracing::warn!(transfer = %prepared.id, error = %err, "transfer answer not rendered");
                None
            }
        }
    }
}

/// `prepared` as it will be committed, but for its chain position and hashes (which nothing
/// rendered in its transaction may show: they are known only inside the batch).
fn draft_of(prepared: &Prepared) -> Transfer {
    Transfer {
        seq: 0,
        id: prepared.id.clone(),
        reference: prepared.reference.clone(),
        kind: prepared.kind.to_owned(),
        debit_account: prepared.debit_account.clone(),
        credit_account: prepared.credit_account.clone(),
        currency: prepared.currency.clone(),
        amount_minor: prepared.amount_minor,
        memo: prepared.memo.clone(),
        created_at_ms: prepared.created_at_ms,
        prev_hash: Vec::new(),
        hash: Vec::new(),
        debit_prev_seq: 0,
        credit_prev_seq: 0,
    }
}

impl Transfer {
    /// True when `request` describes this very transfer (a replay, not a conflicting reuse).
    fn same_as(&self, request: &NewTransfer) -> bool {
        self.reference == request.reference
            && self.kind == request.kind.as_str()
            && self.debit_account == request.debit_account
            && self.credit_account == request.credit_account
            && self.currency == request.currency
            && self.amount_minor == request.amount_minor
            && self.memo == request.memo
    }
}

/// The handle to the ledger: cheap to clone, shared by every handler.
#[derive(Clone)]
pub struct Ledger {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    /// The writer's own connection (see [`Db::dedicated_writer`]).
    writer_db: Db,
    writer: Addr<LedgerWriter>,
    wallets: WalletRegistry,
    /// Frozen wallets (operator freezes), checked before every debit of a wallet.
    freezes: crate::operations::Freezes,
    /// Wallet ids by (owner, currency) once seen ([`Ledger::wallet_id_of`]): a wallet is never
    /// deleted or given to another owner, so a found id stays true in every process.
    wallet_ids: Mutex<HashMap<(String, String), String>>,
    /// The threads the writer and the wallet actors run on; joined at shutdown.
    arbiters: Mutex<Vec<actix_rt::Arbiter>>,
}

impl Ledger {
    /// Starts the writer and the wallet registry on their own threads. Must be called inside an
    /// actix `System` (the HTTP server, a CLI command or a test runtime).
    pub fn start(
        db: Db,
        ledger: &LedgerConfig,
        wallets: &WalletConfig,
        metrics: Metrics,
    ) -> Ledger {
        let writer_arbiter = actix_rt::Arbiter::new();
        let writer_db = db.dedicated_writer(ledger.writer_cache_mib);
        let writer = LedgerWriter::start_on(
            &writer_arbiter.handle(),
            writer_db.clone(),
            ledger,
            metrics.clone(),
        );
        let threads = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(1, 8);
        let wallet_arbiters: Vec<actix_rt::Arbiter> =
            (0..threads).map(|_| actix_rt::Arbiter::new()).collect();
        let registry = WalletRegistry::new(
            WalletDeps {
                db: db.clone(),
                writer: writer.clone(),
                metrics,
                config: wallets.clone(),
            },
            wallet_arbiters.iter().map(|a| a.handle()).collect(),
        );
        let freezes = crate::operations::Freezes::new(db.clone());
        let mut arbiters = wallet_arbiters;
        arbiters.push(writer_arbiter);
        Ledger {
            inner: Arc::new(Inner {
                db,
                writer_db,
                writer,
                wallets: registry,
                freezes,
                wallet_ids: Mutex::new(HashMap::new()),
                arbiters: Mutex::new(arbiters),
            }),
        }
    }

    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    /// Where the other small durable writers of this process (the device nonce book, the
    /// idempotency record writer) should commit. On SQLite it is the ledger writer's own one
    /// connection: SQLite has one write lock, and writers on separate connections lose to each
    /// other in SQLite's busy handler, which sleeps (up to 100 ms) instead of queueing. Sharing the
    /// connection turns that into a fair FIFO wait for the pool slot. On PostgreSQL, where writers
    /// do not exclude each other, it is the shared pool.
    pub fn write_gate(&self) -> Db {
        match &self.inner.db {
            Db::Sqlite(_) => self.inner.writer_db.clone(),
            Db::Postgres(_) => self.inner.db.clone(),
        }
    }

    pub fn wallets(&self) -> &WalletRegistry {
        &self.inner.wallets
    }

    /// Posts one transfer (see the module docs for the path it takes and its idempotency).
    pub async fn transfer(&self, request: NewTransfer) -> Result<Posted, LedgerError> {
        self.post(request, Outbox::default()).await
    }

    /// [`Ledger::transfer`] that also commits `outbox` in the transfer's own database
    /// transaction (see [`Outbox`]).
    pub async fn transfer_with(
        &self,
        request: NewTransfer,
        outbox: Outbox,
    ) -> Result<Posted, LedgerError> {
        self.post(request, outbox).await
    }

    async fn post(&self, request: NewTransfer, outbox: Outbox) -> Result<Posted, LedgerError> {
        let mut prepared = request.clone().prepare()?;
        prepared.events = outbox
            .announce
            .into_iter()
            .filter_map(|announce| announce.row_for(&prepared))
            .collect();
        prepared.charge = outbox.charge.map(|mut charge| {
            charge.status = "succeeded".to_owned();
            charge.transfer_id = Some(prepared.id.clone());
            charge
        });
        prepared.nonce = outbox.nonce;
        prepared.record = outbox.record.and_then(|record| record.row_for(&prepared));
        let outcome = match AccountKind::of_id(&prepared.debit_account) {
            Some(AccountKind::Wallet)
                if request.kind.blocked_by_freeze()
                    && self
                        .inner
                        .freezes
                        .is_frozen(&prepared.debit_account)
                        .await? =>
            {
                Err(LedgerError::WalletFrozen)
            }
            Some(AccountKind::Wallet) => self.inner.wallets.debit(prepared).await,
            _ => writer::submit(&self.inner.writer, prepared).await,
        };
        let outcome = match outcome {
            Err(LedgerError::DuplicateReference(existing)) if existing.same_as(&request) => {
                self.replayed(*existing).await
            }
            // The original may have spent the money this replay finds missing.
            Err(LedgerError::InsufficientFunds) => {
                match store::transfer_by_reference(&self.inner.db, &request.reference).await? {
                    Some(existing) if existing.same_as(&request) => self.replayed(existing).await,
                    Some(existing) => Err(LedgerError::DuplicateReference(Box::new(existing))),
                    None => Err(LedgerError::InsufficientFunds),
                }
            }
            other => other,
        };
        if let Ok(posted) = &outcome {
            // Tell the credited wallet's actor (if running here) its new balance; never waits.
            self.inner.wallets.observe(
                &posted.transfer.credit_account,
                posted.as_of_seq,
                posted.credit_balance_minor,
            );
        }
        outcome
    }

    /// Posts `request` from a wallet for at most `request.amount_minor`: the wallet's actor (the
    /// one place that knows the balance) takes what is available, so a short wallet gives what it
    /// has instead of refusing. The committed transfer says how much moved; a wallet at zero is
    /// `InsufficientFunds`. Idempotent by reference like [`Ledger::transfer`] (a replay answers
    /// the original, whatever amount it took).
    pub async fn transfer_up_to(&self, request: NewTransfer) -> Result<Posted, LedgerError> {
        let same_but_amount = |existing: &Transfer| {
            existing.reference == request.reference
                && existing.debit_account == request.debit_account
                && existing.credit_account == request.credit_account
                && existing.currency == request.currency
                && existing.amount_minor <= request.amount_minor
        };
        if let Some(existing) =
            store::transfer_by_reference(&self.inner.db, &request.reference).await?
        {
            return if same_but_amount(&existing) {
                self.replayed(existing).await
            } else {
                Err(LedgerError::DuplicateReference(Box::new(existing)))
            };
        }
        if AccountKind::of_id(&request.debit_account) != Some(AccountKind::Wallet) {
            return self.transfer(request).await;
        }
        let prepared = request.clone().prepare()?;
        let outcome = match self.inner.wallets.debit_up_to(prepared).await {
            Err(LedgerError::DuplicateReference(existing)) if same_but_amount(&existing) => {
                self.replayed(*existing).await
            }
            other => other,
        };
        if let Ok(posted) = &outcome {
            self.inner.wallets.observe(
                &posted.transfer.credit_account,
                posted.as_of_seq,
                posted.credit_balance_minor,
            );
        }
        outcome
    }

    /// The answer for a transfer that was already posted: the original with today's balances.
    async fn replayed(&self, existing: Transfer) -> Result<Posted, LedgerError> {
        let db = &self.inner.db;
        let (debit_balance_minor, as_of_seq) = store::balance_at(db, &existing.debit_account)
            .await?
            .ok_or_else(|| LedgerError::AccountNotFound(existing.debit_account.clone()))?;
        let (credit_balance_minor, _) = store::balance_at(db, &existing.credit_account)
            .await?
            .ok_or_else(|| LedgerError::AccountNotFound(existing.credit_account.clone()))?;
        Ok(Posted {
            transfer: existing,
            debit_balance_minor,
            credit_balance_minor,
            as_of_seq,
            replayed: true,
            record_written: None,
        })
    }

    /// The wallet of `owner_id` in `currency`, created empty on first use.
    pub async fn open_wallet(
        &self,
        owner_id: &str,
        currency: &str,
    ) -> Result<Account, LedgerError> {
        check_currency(currency)?;
        let db = &self.inner.db;
        if let Some(wallet) = store::wallet_of(db, owner_id, currency).await? {
            return Ok(wallet);
        }
        let account = Account {
            id: ids::new_id(IdKind::Wallet),
            kind: AccountKind::Wallet,
            owner_id: Some(owner_id.to_owned()),
            currency: currency.to_owned(),
            balance_minor: 0,
            created_at_ms: now_ms(),
        };
        // Two requests may race to create it: the unique index keeps one, both read it back.
        store::insert_account_if_absent(db, &account).await?;
        store::wallet_of(db, owner_id, currency)
            .await?
            .ok_or_else(|| LedgerError::Storage("wallet vanished after insert".to_owned()))
    }

    /// The system account of `which` in `currency`, created on first use.
    pub async fn system_account(
        &self,
        which: SystemAccount,
        currency: &str,
    ) -> Result<Account, LedgerError> {
        check_currency(currency)?;
        let id = which.id(currency);
        let db = &self.inner.db;
        if let Some(account) = store::account(db, &id).await? {
            return Ok(account);
        }
        let account = Account {
            id: id.clone(),
            kind: AccountKind::System,
            owner_id: None,
            currency: currency.to_owned(),
            balance_minor: 0,
            created_at_ms: now_ms(),
        };
        store::insert_account_if_absent(db, &account).await?;
        store::account(db, &id)
            .await?
            .ok_or_else(|| LedgerError::Storage("system account vanished after insert".to_owned()))
    }

    /// Credits `wallet_id` with `amount_minor` from the issuance account of its currency.
    /// `reference` defaults to a fresh random one (each call funds again).
    pub async fn fund(
        &self,
        wallet_id: &str,
        amount_minor: i64,
        reference: Option<String>,
    ) -> Result<Posted, LedgerError> {
        let wallet = self
            .account(wallet_id)
            .await?
            .filter(|account| account.kind == AccountKind::Wallet)
            .ok_or_else(|| LedgerError::AccountNotFound(wallet_id.to_owned()))?;
        let issuance = self
            .system_account(SystemAccount::Issuance, &wallet.currency)
            .await?;
        self.transfer(NewTransfer {
            reference: reference
                .unwrap_or_else(|| format!("fund:{}", ids::new_id(IdKind::Transfer))),
            kind: TransferKind::Issuance,
            debit_account: issuance.id,
            credit_account: wallet.id,
            currency: wallet.currency,
            amount_minor,
            memo: None,
        })
        .await
    }

    pub async fn account(&self, id: &str) -> Result<Option<Account>, LedgerError> {
        Ok(store::account(&self.inner.db, id).await?)
    }

    pub async fn wallets_of(&self, owner_id: &str) -> Result<Vec<Account>, LedgerError> {
        Ok(store::wallets_of(&self.inner.db, owner_id).await?)
    }

    /// The id of `owner_id`'s wallet in `currency`, if it has one; from memory once seen (found
    /// ids only: a wallet opened since, by any process, is read from the database).
    pub async fn wallet_id_of(
        &self,
        owner_id: &str,
        currency: &str,
    ) -> Result<Option<String>, LedgerError> {
        /// Past this many remembered wallets the memory starts over (a bound, not an eviction
        /// policy: ids are cheap to read again).
        const WALLET_IDS_MAX: usize = 100_000;
        let key = (owner_id.to_owned(), currency.to_owned());
        if let Some(id) = self.lock_wallet_ids().get(&key) {
            return Ok(Some(id.clone()));
        }
        let found = self
            .wallets_of(owner_id)
            .await?
            .into_iter()
            .find(|wallet| wallet.currency == currency)
            .map(|wallet| wallet.id);
        if let Some(id) = &found {
            let mut ids = self.lock_wallet_ids();
            if ids.len() >= WALLET_IDS_MAX {
                ids.clear();
            }
            ids.insert(key, id.clone());
        }
        Ok(found)
    }

    fn lock_wallet_ids(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), String>> {
        // The map holds only true facts; a panic while holding the lock cannot break one.
        self.inner
            .wallet_ids
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub async fn transfer_by_id(&self, id: &str) -> Result<Option<Transfer>, LedgerError> {
        Ok(store::transfer(&self.inner.db, id).await?)
    }

    /// The transfer posted under `reference`, if any.
    pub async fn transfer_by_reference(
        &self,
        reference: &str,
    ) -> Result<Option<Transfer>, LedgerError> {
        Ok(store::transfer_by_reference(&self.inner.db, reference).await?)
    }

    /// Sum in minor units of the transfers of `kind` debited from `account` created at or after
    /// `since_ms` (daily limits). A walk down the account's list ([`store::debited_since`]), so
    /// its cost grows with the account's own transfers of the period only.
    pub async fn debited_since(
        &self,
        account: &str,
        kind: TransferKind,
        since_ms: i64,
    ) -> Result<i64, LedgerError> {
        Ok(store::debited_since(&self.inner.db, account, kind.as_str(), since_ms).await?)
    }

    /// One page of the transfers touching `account`, newest first, after the transfer
    /// `starting_after` (a `txn_` id of the previous page). Returns the page and `has_more`.
    /// An unknown `starting_after`, or one that does not touch `account`, is `None`.
    pub async fn history(
        &self,
        account: &str,
        limit: u32,
        starting_after: Option<&str>,
    ) -> Result<Option<(Vec<Transfer>, bool)>, LedgerError> {
        let limit = limit.clamp(1, HISTORY_LIMIT_MAX);
        let db = &self.inner.db;
        // The page starts at the transfer before the cursor in the account's list.
        let from_seq = match starting_after {
            None => None,
            Some(cursor) => match store::transfer(db, cursor).await? {
                Some(t) if t.debit_account == account => Some(t.debit_prev_seq),
                Some(t) if t.credit_account == account => Some(t.credit_prev_seq),
                _ => return Ok(None),
            },
        };
        let mut page = store::transfers_of(db, account, from_seq, limit + 1).await?;
        let has_more = page.len() > limit as usize;
        page.truncate(limit as usize);
        Ok(Some((page, has_more)))
    }

    /// Waits for queued transfers to commit, then stops the actors and joins their threads.
    /// Call after the HTTP server drained.
    ///
    /// Every wait is bounded by [`SHUTDOWN_STEP_TIMEOUT`]: a stop must never hang a process (or a
    /// test run) forever. Money is safe either way: a transfer is answered only after its commit.
    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self.inner.writer.try_send(writer::Drain(tx)).is_ok()
            && tokio::time::timeout(SHUTDOWN_STEP_TIMEOUT, rx)
                .await
                .is_err()
        {
            tracing::warn!("ledger writer did not drain in time; stopping anyway");
        }
        if tokio::time::timeout(SHUTDOWN_STEP_TIMEOUT, self.inner.writer_db.close())
            .await
            .is_err()
        {
            tracing::warn!("ledger writer connection did not close in time; stopping anyway");
        }
        let arbiters = std::mem::take(&mut *self.inner.arbiters.lock().expect("not poisoned"));
        for arbiter in &arbiters {
            arbiter.stop();
        }
        // Joining blocks; do it off the async thread, and do not wait for ever.
        let join = tokio::task::spawn_blocking(move || {
            for arbiter in arbiters {
                let _ = arbiter.join();
            }
        });
        if tokio::time::timeout(SHUTDOWN_STEP_TIMEOUT, join)
            .await
            .is_err()
        {
            tracing::warn!("wallet actor threads did not stop in time; stopping anyway");
        }
    }
}
