//! Operator support actions, recorded, never edits: freezing and unfreezing a wallet, reversing a
//! transfer, and the audit trail of who did what, why and when (`audit_events`, append-only). Also
//! the record of each `purse ledger verify` run, which `/metrics` reports so an alert can fire on
//! a failed or stale verification.
//!
//! - A frozen wallet cannot be debited: [`crate::ledger::Ledger::transfer`] asks [`Freezes`]
//!   (refreshed at most once a second, so every process sees a freeze within about a second).
//!   Credits still arrive, and reversals and chargebacks may still take money out of it (that is
//!   what an operator freezes a wallet for).
//! - A reversal posts a new transfer credit → debit of the original, kind `reversal`, under the
//!   reference `reversal:<txn id>`, so a transfer is reversed at most once; the original row is
//!   never touched.
//!
//! It never speaks HTTP; the operator reaches it through `purse admin` (see `cli/admin.rs`).

pub mod freeze;
pub mod store;

pub use freeze::Freezes;

use crate::db::Db;
use crate::ids::{self, IdKind};
use crate::ledger::{
    AccountKind, Ledger, LedgerError, NewTransfer, Transfer, TransferKind, now_ms,
};

/// Longest accepted reason (characters); the schema allows 500.
pub const REASON_CHARS_MAX: usize = 500;
/// Longest accepted actor name (characters); the schema allows 100.
pub const ACTOR_CHARS_MAX: usize = 100;
/// Most audit events one listing returns.
pub const AUDIT_LIMIT_MAX: u32 = 1000;

/// The audit actions, as stored in `audit_events.action`.
pub const ACTION_FREEZE: &str = "wallet.freeze";
pub const ACTION_UNFREEZE: &str = "wallet.unfreeze";
pub const ACTION_REVERSE: &str = "transfer.reverse";

/// One row of the audit trail.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AuditEvent {
    /// `aud_...`
    pub id: String,
    /// The operator who acted (`--actor`, default `$USER`).
    pub actor: String,
    /// `wallet.freeze`, `wallet.unfreeze`, `transfer.reverse`.
    pub action: String,
    /// The wallet or transfer acted on.
    pub target: String,
    pub reason: String,
    /// Action-specific facts as a JSON text (the reversal transfer id), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    pub created_at_ms: i64,
}

/// The outcome of one `purse ledger verify` run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verification {
    pub ok: bool,
    /// Transfers checked (the chain length when it is consistent).
    pub transfers: i64,
    /// The first inconsistency, when not ok.
    pub finding: Option<String>,
    pub created_at_ms: i64,
}

/// Why an operator action was refused.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error("the reason must be 1 to 500 characters")]
    ReasonInvalid,
    #[error("the actor must be 1 to 100 characters (pass --actor or set USER)")]
    ActorInvalid,
    #[error("no wallet {0}")]
    WalletNotFound(String),
    #[error("wallet {0} is already frozen")]
    AlreadyFrozen(String),
    #[error("wallet {0} is not frozen")]
    NotFrozen(String),
    #[error("no transfer {0}")]
    TransferNotFound(String),
    #[error("transfer {original} was already reversed by {reversal}")]
    AlreadyReversed { original: String, reversal: String },
    #[error("the ledger refused the reversal: {0}")]
    Ledger(#[from] LedgerError),
    #[error("storage error: {0}")]
    Storage(#[from] sqlx::Error),
}

impl OpsError {
    pub fn code(&self) -> &'static str {
        match self {
            OpsError::ReasonInvalid => "reason_invalid",
            OpsError::ActorInvalid => "actor_invalid",
            OpsError::WalletNotFound(_) => "account_not_found",
            OpsError::AlreadyFrozen(_) => "wallet_already_frozen",
            OpsError::NotFrozen(_) => "wallet_not_frozen",
            OpsError::TransferNotFound(_) => "transfer_not_found",
            OpsError::AlreadyReversed { .. } => "transfer_already_reversed",
            OpsError::Ledger(err) => err.code(),
            OpsError::Storage(_) => "storage_error",
        }
    }
}

/// Who acted and why: checked once for every action.
#[derive(Clone, Debug)]
pub struct Why {
    pub actor: String,
    pub reason: String,
}

impl Why {
    fn check(&self) -> Result<(), OpsError> {
        let reason = self.reason.trim();
        if reason.is_empty() || reason.chars().count() > REASON_CHARS_MAX {
            return Err(OpsError::ReasonInvalid);
        }
        let actor = self.actor.trim();
        if actor.is_empty() || actor.chars().count() > ACTOR_CHARS_MAX {
            return Err(OpsError::ActorInvalid);
        }
        Ok(())
    }

    fn event(&self, action: &str, target: &str, detail: Option<String>) -> AuditEvent {
        AuditEvent {
            id: ids::new_sortable_id(IdKind::Audit),
            actor: self.actor.trim().to_owned(),
            action: action.to_owned(),
            target: target.to_owned(),
            reason: self.reason.trim().to_owned(),
            detail,
            created_at_ms: now_ms(),
        }
    }
}

async fn wallet(ledger: &Ledger, wallet_id: &str) -> Result<(), OpsError> {
    match ledger.account(wallet_id).await? {
        Some(account) if account.kind == AccountKind::Wallet => Ok(()),
        _ => Err(OpsError::WalletNotFound(wallet_id.to_owned())),
    }
}

/// Freezes a wallet: from now on (within a second in every process) it cannot be debited.
pub async fn freeze(ledger: &Ledger, wallet_id: &str, why: &Why) -> Result<AuditEvent, OpsError> {
    why.check()?;
    wallet(ledger, wallet_id).await?;
    let event = why.event(ACTION_FREEZE, wallet_id, None);
    if !store::freeze(ledger.db(), &event).await? {
        return Err(OpsError::AlreadyFrozen(wallet_id.to_owned()));
    }
    Ok(event)
}

/// Lifts a freeze.
pub async fn unfreeze(ledger: &Ledger, wallet_id: &str, why: &Why) -> Result<AuditEvent, OpsError> {
    why.check()?;
    wallet(ledger, wallet_id).await?;
    let event = why.event(ACTION_UNFREEZE, wallet_id, None);
    if !store::unfreeze(ledger.db(), &event).await? {
        return Err(OpsError::NotFrozen(wallet_id.to_owned()));
    }
    Ok(event)
}

/// The reference of the reversal of transfer `txn_id`: one per transfer, so reversing twice is
/// refused by the ledger's unique reference as well as by the check in [`reverse`].
pub fn reversal_reference(txn_id: &str) -> String {
    format!("reversal:{txn_id}")
}

/// Reverses transfer `txn_id`: posts the same amount back from its credit account to its debit
/// account, as a new `reversal` transfer, then records the audit event. Refused when the transfer
/// was already reversed, or when the credited wallet no longer holds the amount.
pub async fn reverse(
    ledger: &Ledger,
    txn_id: &str,
    why: &Why,
) -> Result<(Transfer, AuditEvent), OpsError> {
    why.check()?;
    let original = ledger
        .transfer_by_id(txn_id)
        .await?
        .ok_or_else(|| OpsError::TransferNotFound(txn_id.to_owned()))?;
    let reference = reversal_reference(&original.id);
    let already = |reversal: &Transfer| OpsError::AlreadyReversed {
        original: original.id.clone(),
        reversal: reversal.id.clone(),
    };
    if let Some(existing) = crate::ledger::store::transfer_by_reference(ledger.db(), &reference)
        .await
        .map_err(OpsError::Storage)?
    {
        return Err(already(&existing));
    }
    let posted = ledger
        .transfer(NewTransfer {
            reference,
            kind: TransferKind::Reversal,
            debit_account: original.credit_account.clone(),
            credit_account: original.debit_account.clone(),
            currency: original.currency.clone(),
            amount_minor: original.amount_minor,
            memo: Some(format!("reversal of {}", original.id)),
        })
        .await?;
    let detail = serde_json::json!({ "reversal_transfer_id": posted.transfer.id }).to_string();
    let event = why.event(ACTION_REVERSE, &original.id, Some(detail));
    store::insert_audit(ledger.db(), &event).await?;
    Ok((posted.transfer, event))
}

/// The newest `limit` audit events (of `target` when given), newest first.
pub async fn audit(db: &Db, target: Option<&str>, limit: u32) -> Result<Vec<AuditEvent>, OpsError> {
    Ok(store::audit_events(db, target, limit.clamp(1, AUDIT_LIMIT_MAX)).await?)
}

/// Records the outcome of a verification run (for `/metrics` and the alert on it).
pub async fn record_verification(db: &Db, run: &Verification) -> Result<(), OpsError> {
    Ok(store::insert_verification(db, run).await?)
}

/// The latest verification run, if any.
pub async fn latest_verification(db: &Db) -> Result<Option<Verification>, OpsError> {
    Ok(store::latest_verification(db).await?)
}
