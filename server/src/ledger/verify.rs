//! `purse ledger verify`: recomputes the hash chain and every balance from the transfers alone and
//! compares them with what is stored, naming the first row that does not match. Read-only; it
//! never repairs anything (a ledger is corrected by new transfers, never by edits).
//!
//! Checks, in order:
//! 1. Transfers form one chain: `seq` = 1, 2, 3, ... without gaps; each `prev_hash` is the previous
//!    row's `hash` (32 zero bytes for the first); each `hash` = SHA-256(prev_hash || canonical
//!    bytes) of the row's own columns ([`super::chain`]); amounts positive; two distinct accounts.
//! 2. The stored chain head (`ledger_head`) is the last transfer.
//! 3. Every account's stored balance equals the sum of its transfers, every transfer names
//!    existing accounts of its currency, and no wallet is negative.
//! 4. Every account's list is whole: each transfer's `debit_prev_seq` and `credit_prev_seq` name
//!    the previous transfer of that account in the chain (0 for its first), and each account's
//!    `last_transfer_seq` names its last transfer, so history pages show every transfer.
//! 5. Per currency, all balances sum to zero.
//!
//! The chain is read page by page, so memory grows with the number of accounts, not transfers.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use super::chain::{self, ChainFields, GENESIS, HASH_LEN};
use super::{AccountKind, store};
use crate::db::Db;

/// Transfers read per query while walking the chain.
const PAGE_ROWS: u32 = 5_000;

/// A clean ledger's summary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub transfers: i64,
    pub accounts: usize,
    pub head_seq: i64,
    pub head_hash: String,
    /// Money in circulation per currency: the sum of wallet balances.
    pub wallet_totals: BTreeMap<String, i128>,
}

/// The first inconsistency found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Finding {
    /// A transfer row does not match the chain.
    Transfer {
        seq: i64,
        id: String,
        reason: String,
    },
    /// The stored head is not the last transfer.
    Head { reason: String },
    /// An account's stored balance differs from its transfers, or is negative for a wallet.
    Account { id: String, reason: String },
    /// A currency's balances do not sum to zero.
    Currency { code: String, sum: i128 },
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::Transfer { seq, id, reason } => {
                write!(f, "transfer seq {seq} ({id}): {reason}")
            }
            Finding::Head { reason } => write!(f, "chain head: {reason}"),
            Finding::Account { id, reason } => write!(f, "account {id}: {reason}"),
            Finding::Currency { code, sum } => {
                write!(
                    f,
                    "currency {code}: balances sum to {sum} minor units, not 0"
                )
            }
        }
    }
}

/// Why verification stopped.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("ledger inconsistent: {0}")]
    Inconsistent(Finding),
    #[error("cannot read the ledger: {0}")]
    Storage(#[from] sqlx::Error),
}

impl VerifyError {
    pub fn code(&self) -> &'static str {
        match self {
            VerifyError::Inconsistent(_) => "ledger_inconsistent",
            VerifyError::Storage(_) => "storage_error",
        }
    }
}

fn bad_transfer(transfer: &super::Transfer, reason: impl Into<String>) -> VerifyError {
    VerifyError::Inconsistent(Finding::Transfer {
        seq: transfer.seq,
        id: transfer.id.clone(),
        reason: reason.into(),
    })
}

/// Verifies the whole ledger (see the module docs).
pub async fn verify(db: &Db) -> Result<Report, VerifyError> {
    verify_with_progress(db, |_, _| {}).await
}

/// [`verify`], calling `progress(checked, total)` after each page of transfers (`total` is the
/// chain head when verification started; the chain may grow meanwhile).
pub async fn verify_with_progress(
    db: &Db,
    mut progress: impl FnMut(i64, i64),
) -> Result<Report, VerifyError> {
    let (total, _) = store::head(db).await?;
    // Per account: currency, balance, last transfer.
    let mut computed: HashMap<String, (String, i128, i64)> = HashMap::new();
    let mut prev_hash = GENESIS;
    let mut last_seq = 0i64;
    loop {
        let page = store::transfers_after(db, last_seq, PAGE_ROWS).await?;
        if page.is_empty() {
            break;
        }
        for t in &page {
            if t.seq != last_seq + 1 {
                return Err(bad_transfer(
                    t,
                    format!("expected seq {} (a row is missing)", last_seq + 1),
                ));
            }
            if t.prev_hash.as_slice() != prev_hash.as_slice() {
                return Err(bad_transfer(
                    t,
                    format!("prev_hash does not chain to seq {last_seq}"),
                ));
            }
            let recomputed = chain::chain_hash(
                &prev_hash,
                &ChainFields {
                    seq: t.seq,
                    id: &t.id,
                    reference: &t.reference,
                    kind: &t.kind,
                    debit_account: &t.debit_account,
                    credit_account: &t.credit_account,
                    currency: &t.currency,
                    amount_minor: t.amount_minor,
                    memo: t.memo.as_deref(),
                    created_at_ms: t.created_at_ms,
                },
            );
            if t.hash.as_slice() != recomputed.as_slice() {
                return Err(bad_transfer(
                    t,
                    "hash does not match the row's contents (the row was altered)",
                ));
            }
            if t.amount_minor <= 0 {
                return Err(bad_transfer(t, "amount is not positive"));
            }
            if t.debit_account == t.credit_account {
                return Err(bad_transfer(t, "debits and credits the same account"));
            }
            for (side, account, delta, prev_seq) in [
                (
                    "debit",
                    &t.debit_account,
                    -i128::from(t.amount_minor),
                    t.debit_prev_seq,
                ),
                (
                    "credit",
                    &t.credit_account,
                    i128::from(t.amount_minor),
                    t.credit_prev_seq,
                ),
            ] {
                let entry = computed
                    .entry(account.clone())
                    .or_insert_with(|| (t.currency.clone(), 0, 0));
                if entry.0 != t.currency {
                    return Err(bad_transfer(
                        t,
                        format!("account {account} holds {}, not {}", entry.0, t.currency),
                    ));
                }
                if prev_seq != entry.2 {
                    return Err(bad_transfer(
                        t,
                        format!(
                            "{side}_prev_seq is {prev_seq}, the previous transfer of {account} is \
                             seq {}",
                            entry.2
                        ),
                    ));
                }
                entry.1 += delta;
                entry.2 = t.seq;
            }
            prev_hash = recomputed;
            last_seq = t.seq;
        }
        progress(last_seq, total.max(last_seq));
    }

    let (head_seq, head_hash) = store::head(db).await?;
    if head_seq != last_seq || head_hash != prev_hash {
        return Err(VerifyError::Inconsistent(Finding::Head {
            reason: format!(
                "stored head is seq {head_seq} ({}), the chain ends at seq {last_seq} ({})",
                chain::hex(&head_hash),
                chain::hex(&prev_hash)
            ),
        }));
    }

    let accounts = store::all_accounts(db).await?;
    let last_transfers = store::last_transfer_seqs(db).await?;
    let mut sums: BTreeMap<String, i128> = BTreeMap::new();
    let mut wallet_totals: BTreeMap<String, i128> = BTreeMap::new();
    for account in &accounts {
        let (expected, expected_last) = match computed.remove(&account.id) {
            Some((currency, balance, last)) => {
                if currency != account.currency {
                    return Err(VerifyError::Inconsistent(Finding::Account {
                        id: account.id.clone(),
                        reason: format!(
                            "holds {} but its transfers are in {currency}",
                            account.currency
                        ),
                    }));
                }
                (balance, last)
            }
            None => (0, 0),
        };
        let stored_last = last_transfers.get(&account.id).copied().unwrap_or_default();
        if stored_last != expected_last {
            return Err(VerifyError::Inconsistent(Finding::Account {
                id: account.id.clone(),
                reason: format!(
                    "stored last transfer seq {stored_last}, its last transfer is seq \
                     {expected_last}"
                ),
            }));
        }
        if i128::from(account.balance_minor) != expected {
            return Err(VerifyError::Inconsistent(Finding::Account {
                id: account.id.clone(),
                reason: format!(
                    "stored balance {} minor units, its transfers sum to {expected}",
                    account.balance_minor
                ),
            }));
        }
        if account.kind == AccountKind::Wallet {
            if account.balance_minor < 0 {
                return Err(VerifyError::Inconsistent(Finding::Account {
                    id: account.id.clone(),
                    reason: format!("wallet balance {} is negative", account.balance_minor),
                }));
            }
            *wallet_totals.entry(account.currency.clone()).or_default() += expected;
        }
        *sums.entry(account.currency.clone()).or_default() += expected;
    }
    // Accounts that transfers name but that do not exist (their foreign keys were dropped).
    if let Some(id) = computed.keys().min() {
        return Err(VerifyError::Inconsistent(Finding::Account {
            id: id.clone(),
            reason: "named by transfers but missing from accounts".to_owned(),
        }));
    }
    if let Some((code, sum)) = sums.iter().find(|(_, sum)| **sum != 0) {
        return Err(VerifyError::Inconsistent(Finding::Currency {
            code: code.clone(),
            sum: *sum,
        }));
    }
    assert_eq!(head_hash.len(), HASH_LEN);
    Ok(Report {
        transfers: last_seq,
        accounts: accounts.len(),
        head_seq,
        head_hash: chain::hex(&head_hash),
        wallet_totals,
    })
}
