//! Ledger storage: every SQL statement over `accounts`, `transfers` and `ledger_head`. It never
//! decides whether a debit is allowed (wallet actors do) and never batches by itself (the writer
//! does); it appends a given batch atomically with its balance updates and hash chain, and reads.
//!
//! # Committing a batch
//!
//! [`commit_batch`] runs one database transaction:
//!
//! 1. `UPDATE ledger_head SET seq = seq ... RETURNING seq, hash` — a write as first statement, so
//!    the transaction holds the chain head (SQLite: the database write lock; PostgreSQL: the head
//!    row lock) before it reads it. A second server process on the same database waits here and
//!    then continues from the new head: the chain never forks and needs no retry loop.
//! 2. Chain positions and hashes are computed in memory ([`super::chain`]).
//! 3. Balances move by the net delta per account and each account's `last_transfer_seq` moves to
//!    its last row of the batch (`UPDATE ... FROM`; SQLite: multi-row `VALUES` in
//!    [`crate::db::sqlite_chunks`], one statement for a batch of up to 63 rows), which returns the
//!    new balances and the last transfers before (PostgreSQL: from a self-join in the same
//!    statement; SQLite: read just before it). The schema's `CHECK (balance_minor >= 0)` on
//!    wallets is the final guard against overdraft, also with two processes.
//! 4. Each row is linked into its two accounts' lists ([`link`]: the previous transfer of each
//!    account) and all rows are inserted (PostgreSQL: one statement over `UNNEST`ed arrays;
//!    SQLite: chunked multi-row `VALUES`).
//! 5. The transactional outbox of the batch ([`super::Outbox`]): the device nonces of the signed
//!    requests that asked for the transfers ([`crate::identity::store::stage_nonces_sqlite`], in
//!    device and nonce order), each charge's pay code claim and charge row
//!    ([`crate::payments::store::stage_charges_sqlite`]: the counters in device order, then the
//!    charges), then every event, then the idempotency records of the requests' answers
//!    ([`crate::idempotency::store::stage_done_sqlite`]), each a multi-row insert.
//! 6. The head moves to the last row, guarded by the seq read in step 1.
//!
//! If a statement fails on a constraint (a duplicate reference, an overdraft the cache did not
//! see, an unknown account), a nonce was recorded before, a pay code claim is refused or a
//! request's Idempotency-Key has an answer already, the transaction rolls back and the batch is
//! replayed transfer by transfer inside one transaction with a savepoint each, so the offenders
//! are rejected (a recorded nonce as [`LedgerError::NonceReplayed`], checked first; a refused
//! claim as [`LedgerError::PaycodeReplayed`]; an answered key as
//! [`LedgerError::AnsweredElsewhere`]) and the others still commit together. So money moves
//! only together with its request's answer becoming the key's first recorded answer.

use std::collections::{BTreeMap, HashMap};

use sqlx::Row;
use sqlx::error::ErrorKind;

use super::chain::{self, ChainFields, GENESIS, HASH_LEN};
use super::{Account, AccountKind, LedgerError, Posted, Transfer};
use crate::db::{Db, sqlite_chunks, sqlite_values};
use crate::events::store::NewRow;
use crate::idempotency::store::{NewRecord, Written};
use crate::identity::store::DeviceNonce;
use crate::payments::store::ChargeRow;
use crate::with_db;

/// A transfer accepted for commit: validated, with its id and time assigned.
#[derive(Clone, Debug)]
pub struct Prepared {
    pub id: String,
    pub reference: String,
    pub kind: &'static str,
    pub debit_account: String,
    pub credit_account: String,
    pub currency: String,
    pub amount_minor: i64,
    pub memo: Option<String>,
    pub created_at_ms: i64,
    /// Events committed in the same transaction as the transfer, if it is committed (the
    /// transactional outbox: a transfer and its announcements never exist one without the other).
    pub events: Vec<NewRow>,
    /// A merchant charge this transfer pays, stored (succeeded, with this transfer's id) in the
    /// same transaction together with its pay code claim; the transfer is refused with
    /// [`LedgerError::PaycodeReplayed`] when the claim is (see [`crate::payments::store`]).
    pub charge: Option<ChargeRow>,
    /// The nonce of the device signature that asked for this transfer, inserted in the same
    /// transaction; the transfer is refused with [`LedgerError::NonceReplayed`] when it was
    /// recorded before.
    pub nonce: Option<DeviceNonce>,
    /// The idempotency record of the request's answer, written (over the key's claim, if any)
    /// in the same transaction ([`crate::idempotency::store::stage_done_sqlite`]); the transfer
    /// is refused with [`LedgerError::AnsweredElsewhere`] when the key has another answer, so
    /// [`Posted::record_written`] is `Some(true)` whenever a record was given.
    pub record: Option<NewRecord>,
}

/// One row as written: the prepared transfer, its chain position and hashes, and the links of
/// its two accounts' lists ([`link`]).
struct Chained<'a> {
    prepared: &'a Prepared,
    seq: i64,
    prev_hash: [u8; HASH_LEN],
    hash: [u8; HASH_LEN],
    debit_prev_seq: i64,
    credit_prev_seq: i64,
}

impl Chained<'_> {
    fn to_transfer(&self) -> Transfer {
        let p = self.prepared;
        Transfer {
            seq: self.seq,
            id: p.id.clone(),
            reference: p.reference.clone(),
            kind: p.kind.to_owned(),
            debit_account: p.debit_account.clone(),
            credit_account: p.credit_account.clone(),
            currency: p.currency.clone(),
            amount_minor: p.amount_minor,
            memo: p.memo.clone(),
            created_at_ms: p.created_at_ms,
            prev_hash: self.prev_hash.to_vec(),
            hash: self.hash.to_vec(),
            debit_prev_seq: self.debit_prev_seq,
            credit_prev_seq: self.credit_prev_seq,
        }
    }
}

fn chain_one<'a>(prepared: &'a Prepared, seq: i64, prev_hash: [u8; HASH_LEN]) -> Chained<'a> {
    let hash = chain::chain_hash(
        &prev_hash,
        &ChainFields {
            seq,
            id: &prepared.id,
            reference: &prepared.reference,
            kind: prepared.kind,
            debit_account: &prepared.debit_account,
            credit_account: &prepared.credit_account,
            currency: &prepared.currency,
            amount_minor: prepared.amount_minor,
            memo: prepared.memo.as_deref(),
            created_at_ms: prepared.created_at_ms,
        },
    );
    Chained {
        prepared,
        seq,
        prev_hash,
        hash,
        debit_prev_seq: 0,
        credit_prev_seq: 0,
    }
}

/// Links each row into its two accounts' lists: a row names the previous transfer of its debit
/// account and of its credit account. `balances` holds each touched account's last transfer
/// before the rows, as the balance update read it in the transaction that holds the chain head
/// (an account missing from it is unknown, and the insert refuses its transfer).
fn link(rows: &mut [Chained<'_>], balances: &[BalanceRow]) {
    let mut last: HashMap<&str, i64> = balances
        .iter()
        .map(|b| (b.account.as_str(), b.previous_last_transfer_seq))
        .collect();
    for row in rows {
        let p = row.prepared;
        let debit = last.entry(p.debit_account.as_str()).or_insert(0);
        row.debit_prev_seq = std::mem::replace(debit, row.seq);
        let credit = last.entry(p.credit_account.as_str()).or_insert(0);
        row.credit_prev_seq = std::mem::replace(credit, row.seq);
        assert!(
            row.debit_prev_seq < row.seq && row.credit_prev_seq < row.seq,
            "a transfer links to earlier ones only"
        );
    }
}

/// Net balance change per account of `rows`, in a deterministic (sorted) order so that two
/// processes touch rows in the same order. Asserts double entry: every transfer takes from one
/// account exactly what it gives another, so the deltas of a batch sum to zero. (Per currency the
/// same holds because both accounts of a transfer must have its currency: the foreign keys check
/// that, and `purse ledger verify` re-checks the sums.)
fn net_deltas(rows: &[Chained<'_>]) -> Vec<Delta> {
    // Per account: the net delta and the last row touching it.
    let mut deltas: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    let mut debits: i128 = 0;
    let mut credits: i128 = 0;
    for row in rows {
        let p = row.prepared;
        assert!(p.amount_minor > 0, "validated before commit");
        assert_ne!(p.debit_account, p.credit_account, "validated before commit");
        // Each delta is bounded by batch_max * AMOUNT_MINOR_MAX (< 2^63), so i64 cannot overflow.
        let debit = deltas.entry(&p.debit_account).or_default();
        *debit = (debit.0 - p.amount_minor, row.seq);
        let credit = deltas.entry(&p.credit_account).or_default();
        *credit = (credit.0 + p.amount_minor, row.seq);
        debits += i128::from(p.amount_minor);
        credits += i128::from(p.amount_minor);
    }
    let net: i128 = deltas.values().map(|(delta, _)| i128::from(*delta)).sum();
    assert_eq!(debits, credits, "double entry: debits equal credits");
    assert_eq!(net, 0, "double entry: the deltas of a batch sum to zero");
    // Zero deltas stay: the update returns every touched account's balance for the callers.
    deltas
        .into_iter()
        .map(|(account, (delta, last_transfer_seq))| Delta {
            account: account.to_owned(),
            delta,
            last_transfer_seq,
        })
        .collect()
}

/// One account's change by a batch: its net balance delta and its last transfer after it.
struct Delta {
    account: String,
    delta: i64,
    last_transfer_seq: i64,
}

/// A balance row returned by an update: account, kind, new balance, and the account's last
/// transfer before the update (for [`link`]).
struct BalanceRow {
    account: String,
    kind: String,
    balance_minor: i64,
    previous_last_transfer_seq: i64,
}

/// The statements whose text differs between the backends.
trait BulkWrite {
    async fn insert_transfers(&mut self, rows: &[Chained<'_>]) -> Result<(), sqlx::Error>;
    async fn insert_events(&mut self, rows: &[NewRow]) -> Result<(), sqlx::Error>;
    /// Claims the charges' pay codes (one device at most once) and stores them; `Ok(false)`
    /// when a claim is refused.
    async fn stage_charges(&mut self, rows: &[&ChargeRow]) -> Result<bool, sqlx::Error>;
    /// Records the device nonces (sorted); `Ok(false)` when one was recorded before.
    async fn stage_nonces(&mut self, rows: &[&DeviceNonce]) -> Result<bool, sqlx::Error>;
    /// Writes the idempotency records (no key twice); answers which became their key's record.
    async fn stage_records(&mut self, rows: &[&NewRecord]) -> Result<Written, sqlx::Error>;
    /// Moves balances and the accounts' last transfers; returns the new balances with each
    /// account's last transfer before (one row per existing account).
    async fn apply_deltas(&mut self, deltas: &[Delta]) -> Result<Vec<BalanceRow>, sqlx::Error>;
}

impl BulkWrite for sqlx::SqliteConnection {
    async fn insert_events(&mut self, rows: &[NewRow]) -> Result<(), sqlx::Error> {
        crate::events::store::insert_sqlite(self, rows).await
    }

    async fn stage_charges(&mut self, rows: &[&ChargeRow]) -> Result<bool, sqlx::Error> {
        crate::payments::store::stage_charges_sqlite(self, rows).await
    }

    async fn stage_nonces(&mut self, rows: &[&DeviceNonce]) -> Result<bool, sqlx::Error> {
        crate::identity::store::stage_nonces_sqlite(self, rows).await
    }

    async fn stage_records(&mut self, rows: &[&NewRecord]) -> Result<Written, sqlx::Error> {
        crate::idempotency::store::stage_done_sqlite(self, rows).await
    }

    async fn insert_transfers(&mut self, rows: &[Chained<'_>]) -> Result<(), sqlx::Error> {
        // Multi-row VALUES with bound parameters: SQLite's cheapest bulk insert.
        for chunk in sqlite_chunks(rows) {
            let sql = sqlite_values(
                "INSERT INTO transfers (seq, id, reference, kind, debit_account, credit_account, \
                 currency, amount_minor, memo, created_at_ms, prev_hash, hash, debit_prev_seq, \
                 credit_prev_seq) VALUES ",
                14,
                chunk.len(),
                "",
            );
            let mut query = sqlx::query(&sql);
            for row in chunk {
                let p = row.prepared;
                query = query
                    .bind(row.seq)
                    .bind(p.id.as_str())
                    .bind(p.reference.as_str())
                    .bind(p.kind)
                    .bind(p.debit_account.as_str())
                    .bind(p.credit_account.as_str())
                    .bind(p.currency.as_str())
                    .bind(p.amount_minor)
                    .bind(p.memo.as_deref())
                    .bind(p.created_at_ms)
                    .bind(row.prev_hash.as_slice())
                    .bind(row.hash.as_slice())
                    .bind(row.debit_prev_seq)
                    .bind(row.credit_prev_seq);
            }
            let result = query.execute(&mut *self).await?;
            assert_eq!(
                result.rows_affected(),
                chunk.len() as u64,
                "every row inserted"
            );
        }
        Ok(())
    }

    async fn apply_deltas(&mut self, deltas: &[Delta]) -> Result<Vec<BalanceRow>, sqlx::Error> {
        // SQLite's RETURNING sees only the updated row, so the last transfers before are read
        // first (the rows' pages are the ones the update then writes).
        let mut previous: HashMap<String, i64> = HashMap::with_capacity(deltas.len());
        for chunk in sqlite_chunks(deltas) {
            let sql = sqlite_values(
                "SELECT id, last_transfer_seq FROM accounts WHERE id IN (VALUES ",
                1,
                chunk.len(),
                ")",
            );
            let mut query = sqlx::query_as::<_, (String, i64)>(&sql);
            for d in chunk {
                query = query.bind(d.account.as_str());
            }
            previous.extend(query.fetch_all(&mut *self).await?);
        }
        let mut balances = Vec::with_capacity(deltas.len());
        for chunk in sqlite_chunks(deltas) {
            // The VALUES table drives the join and each account is found by its primary key.
            let sql = sqlite_values(
                "WITH d(id, delta, last) AS (VALUES ",
                3,
                chunk.len(),
                ") UPDATE accounts SET balance_minor = accounts.balance_minor + d.delta, \
                 last_transfer_seq = d.last FROM d WHERE accounts.id = d.id \
                 RETURNING id, kind, balance_minor",
            );
            let mut query = sqlx::query(&sql);
            for d in chunk {
                query = query
                    .bind(d.account.as_str())
                    .bind(d.delta)
                    .bind(d.last_transfer_seq);
            }
            for row in query.fetch_all(&mut *self).await? {
                let account: String = row.try_get(0)?;
                balances.push(BalanceRow {
                    previous_last_transfer_seq: previous.get(&account).copied().unwrap_or(0),
                    account,
                    kind: row.try_get(1)?,
                    balance_minor: row.try_get(2)?,
                });
            }
        }
        Ok(balances)
    }
}

impl BulkWrite for sqlx::PgConnection {
    async fn insert_events(&mut self, rows: &[NewRow]) -> Result<(), sqlx::Error> {
        crate::events::store::insert_postgres(self, rows).await
    }

    async fn stage_charges(&mut self, rows: &[&ChargeRow]) -> Result<bool, sqlx::Error> {
        crate::payments::store::stage_charges_postgres(self, rows).await
    }

    async fn stage_nonces(&mut self, rows: &[&DeviceNonce]) -> Result<bool, sqlx::Error> {
        crate::identity::store::stage_nonces_postgres(self, rows).await
    }

    async fn stage_records(&mut self, rows: &[&NewRecord]) -> Result<Written, sqlx::Error> {
        crate::idempotency::store::stage_done_postgres(self, rows).await
    }

    async fn insert_transfers(&mut self, rows: &[Chained<'_>]) -> Result<(), sqlx::Error> {
        let n = rows.len();
        let mut seq = Vec::with_capacity(n);
        let mut id = Vec::with_capacity(n);
        let mut reference = Vec::with_capacity(n);
        let mut kind = Vec::with_capacity(n);
        let mut debit = Vec::with_capacity(n);
        let mut credit = Vec::with_capacity(n);
        let mut currency = Vec::with_capacity(n);
        let mut amount = Vec::with_capacity(n);
        let mut memo = Vec::with_capacity(n);
        let mut created = Vec::with_capacity(n);
        let mut prev_hash = Vec::with_capacity(n);
        let mut hash = Vec::with_capacity(n);
        let mut debit_prev = Vec::with_capacity(n);
        let mut credit_prev = Vec::with_capacity(n);
        for row in rows {
            let p = row.prepared;
            seq.push(row.seq);
            id.push(p.id.as_str());
            reference.push(p.reference.as_str());
            kind.push(p.kind);
            debit.push(p.debit_account.as_str());
            credit.push(p.credit_account.as_str());
            currency.push(p.currency.as_str());
            amount.push(p.amount_minor);
            memo.push(p.memo.as_deref());
            created.push(p.created_at_ms);
            prev_hash.push(row.prev_hash.to_vec());
            hash.push(row.hash.to_vec());
            debit_prev.push(row.debit_prev_seq);
            credit_prev.push(row.credit_prev_seq);
        }
        let result = sqlx::query(
            "INSERT INTO transfers (seq, id, reference, kind, debit_account, credit_account, \
             currency, amount_minor, memo, created_at_ms, prev_hash, hash, debit_prev_seq, \
             credit_prev_seq) \
             SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], \
             $6::text[], $7::text[], $8::bigint[], $9::text[], $10::bigint[], $11::bytea[], \
             $12::bytea[], $13::bigint[], $14::bigint[])",
        )
        .bind(seq)
        .bind(id)
        .bind(reference)
        .bind(kind)
        .bind(debit)
        .bind(credit)
        .bind(currency)
        .bind(amount)
        .bind(memo)
        .bind(created)
        .bind(prev_hash)
        .bind(hash)
        .bind(debit_prev)
        .bind(credit_prev)
        .execute(&mut *self)
        .await?;
        assert_eq!(result.rows_affected(), n as u64, "every row inserted");
        Ok(())
    }

    async fn apply_deltas(&mut self, deltas: &[Delta]) -> Result<Vec<BalanceRow>, sqlx::Error> {
        let ids: Vec<&str> = deltas.iter().map(|d| d.account.as_str()).collect();
        let amounts: Vec<i64> = deltas.iter().map(|d| d.delta).collect();
        let lasts: Vec<i64> = deltas.iter().map(|d| d.last_transfer_seq).collect();
        // `before` is the same rows as the statement's snapshot saw them: the last transfers
        // before this update (only the ledger writer holding the chain head moves them).
        let rows = sqlx::query(
            "UPDATE accounts AS a SET balance_minor = a.balance_minor + d.delta, \
             last_transfer_seq = d.last \
             FROM UNNEST($1::text[], $2::bigint[], $3::bigint[]) AS d(id, delta, last) \
             JOIN accounts AS before ON before.id = d.id \
             WHERE a.id = d.id RETURNING a.id, a.kind, a.balance_minor, before.last_transfer_seq",
        )
        .bind(ids)
        .bind(amounts)
        .bind(lasts)
        .fetch_all(&mut *self)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(BalanceRow {
                    account: row.try_get(0)?,
                    kind: row.try_get(1)?,
                    balance_minor: row.try_get(2)?,
                    previous_last_transfer_seq: row.try_get(3)?,
                })
            })
            .collect()
    }
}

/// Why a batch could not commit as a whole.
enum FastPathError {
    /// A constraint refused some row: replay transfer by transfer.
    Constraint(sqlx::Error),
    /// A device nonce was recorded before, a charge's pay code claim was refused, or an
    /// idempotency key had an answer already: replay transfer by transfer.
    ClaimRefused,
    Db(sqlx::Error),
}

fn is_constraint(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => {
            matches!(
                db.kind(),
                ErrorKind::UniqueViolation
                    | ErrorKind::ForeignKeyViolation
                    | ErrorKind::CheckViolation
                    | ErrorKind::NotNullViolation
            ) || db.code().as_deref() == Some("22003")
        } // PostgreSQL numeric_value_out_of_range
        _ => false,
    }
}

/// The head statement shared by both paths: takes the write lock and reads the head.
const LOCK_HEAD: &str = "UPDATE ledger_head SET seq = seq WHERE id = 1 RETURNING seq, hash";
const MOVE_HEAD: &str = "UPDATE ledger_head SET seq = $1, hash = $2 WHERE id = 1 AND seq = $3";

fn head_hash(bytes: Vec<u8>) -> [u8; HASH_LEN] {
    bytes
        .try_into()
        .expect("the schema checks length(hash) = 32")
}

/// Commits `batch` in order (see the module docs). Returns one result per transfer, in order; an
/// `Err` of the whole call means nothing was committed (the database failed).
pub async fn commit_batch(
    db: &Db,
    batch: &[Prepared],
) -> Result<Vec<Result<Posted, LedgerError>>, sqlx::Error> {
    assert!(!batch.is_empty(), "the writer never commits an empty batch");
    let fast = with_db!(db, pool => async {
        let mut tx = pool.begin().await.map_err(FastPathError::Db)?;
        let (head_seq, head): (i64, Vec<u8>) = sqlx::query_as(LOCK_HEAD)
            .fetch_one(&mut *tx)
            .await
            .map_err(FastPathError::Db)?;
        let mut prev = head_hash(head);
        let mut rows = Vec::with_capacity(batch.len());
        for (offset, prepared) in batch.iter().enumerate() {
            let row = chain_one(prepared, head_seq + 1 + offset as i64, prev);
            prev = row.hash;
            rows.push(row);
        }
        let classify = |err: sqlx::Error| {
            if is_constraint(&err) { FastPathError::Constraint(err) } else { FastPathError::Db(err) }
        };
        // Balances first: they return the accounts' last transfers the rows link to.
        let deltas = net_deltas(&rows);
        let balances = tx.apply_deltas(&deltas).await.map_err(classify)?;
        link(&mut rows, &balances);
        tx.insert_transfers(&rows).await.map_err(classify)?;
        // Sorted, so two PostgreSQL transactions holding the same nonces (a replay racing its
        // original) take them in one order ([`crate::identity::store::record_nonces`]).
        let mut nonces: Vec<&DeviceNonce> = batch.iter().filter_map(|p| p.nonce.as_ref()).collect();
        nonces.sort_by(|a, b| (&a.device_id, &a.nonce).cmp(&(&b.device_id, &b.nonce)));
        if !nonces.is_empty() && !tx.stage_nonces(&nonces).await.map_err(classify)? {
            return Err(FastPathError::ClaimRefused);
        }
        // In device order: on PostgreSQL a claim locks the device's counter row, and batches of
        // two processes that each take their locks in one order cannot wait on each other. Two
        // codes of one device in one batch are left to the one-by-one replay, which decides
        // between them in order.
        let mut charges: Vec<&ChargeRow> = batch.iter().filter_map(|p| p.charge.as_ref()).collect();
        charges.sort_by(|a, b| a.device_id.cmp(&b.device_id));
        if charges.windows(2).any(|pair| pair[0].device_id == pair[1].device_id) {
            return Err(FastPathError::ClaimRefused);
        }
        if !charges.is_empty() && !tx.stage_charges(&charges).await.map_err(classify)? {
            return Err(FastPathError::ClaimRefused);
        }
        let events: Vec<NewRow> = batch.iter().flat_map(|p| p.events.iter().cloned()).collect();
        if !events.is_empty() {
            tx.insert_events(&events).await.map_err(classify)?;
        }
        // Sorted like the nonces; a key twice (not made by this server: one request per key
        // runs at a time) is left to the one-by-one replay, as one statement may write a row once.
        let mut records: Vec<&NewRecord> = batch.iter().filter_map(|p| p.record.as_ref()).collect();
        records.sort_by(|a, b| (&a.owner_id, &a.key).cmp(&(&b.owner_id, &b.key)));
        if records.windows(2).any(|pair| (&pair[0].owner_id, &pair[0].key) == (&pair[1].owner_id, &pair[1].key)) {
            return Err(FastPathError::ClaimRefused);
        }
        let written = if records.is_empty() {
            Written::new()
        } else {
            tx.stage_records(&records).await.map_err(classify)?
        };
        // Money moves only with its key's first answer: a key answered before refuses its
        // transfer (found and refused alone by the one-by-one replay).
        if written.len() != records.len() {
            return Err(FastPathError::ClaimRefused);
        }
        // Every account exists (the foreign keys passed), so every delta found its row.
        assert_eq!(balances.len(), deltas.len(), "one balance row per touched account");
        let balances: BTreeMap<String, i64> = balances
            .into_iter()
            .map(|row| {
                assert!(
                    row.kind != AccountKind::Wallet.as_str() || row.balance_minor >= 0,
                    "a wallet balance never goes below zero"
                );
                (row.account, row.balance_minor)
            })
            .collect();
        let last = rows.last().expect("non-empty batch");
        let moved = sqlx::query(MOVE_HEAD)
            .bind(last.seq)
            .bind(last.hash.to_vec())
            .bind(head_seq)
            .execute(&mut *tx)
            .await
            .map_err(FastPathError::Db)?;
        assert_eq!(moved.rows_affected(), 1, "the head we hold the lock on moved");
        tx.commit().await.map_err(FastPathError::Db)?;
        let as_of_seq = last.seq;
        Ok(rows
            .iter()
            .map(|row| {
                let p = row.prepared;
                Ok(Posted {
                    transfer: row.to_transfer(),
                    debit_balance_minor: balances[&p.debit_account],
                    credit_balance_minor: balances[&p.credit_account],
                    as_of_seq,
                    replayed: false,
                    record_written: p
                        .record
                        .as_ref()
                        .map(|r| written.contains(&(r.owner_id.clone(), r.key.clone()))),
                })
            })
            .collect())
    }.await);
    match fast {
        Ok(results) => Ok(results),
        Err(FastPathError::Db(err)) => Err(err),
        Err(FastPathError::Constraint(err)) => {
            tracing::debug!(error = %err, transfers = batch.len(), "batch refused by a constraint; isolating");
            commit_one_by_one(db, batch).await
        }
        Err(FastPathError::ClaimRefused) => {
            tracing::debug!(
                transfers = batch.len(),
                "a nonce or pay code claim of the batch was refused; isolating"
            );
            commit_one_by_one(db, batch).await
        }
    }
}

/// What one transfer of the slow path wrote: the debit and credit balances after it, and whether
/// its idempotency record became its key's ([`Posted::record_written`]).
type Staged = (i64, i64, Option<bool>);

/// The slow path: one transaction, one savepoint per transfer, offenders rejected.
async fn commit_one_by_one(
    db: &Db,
    batch: &[Prepared],
) -> Result<Vec<Result<Posted, LedgerError>>, sqlx::Error> {
    with_db!(db, pool => async {
        let mut tx = pool.begin().await?;
        let (head_seq, head): (i64, Vec<u8>) = sqlx::query_as(LOCK_HEAD).fetch_one(&mut *tx).await?;
        let mut prev = head_hash(head);
        let mut seq = head_seq;
        let mut results = Vec::with_capacity(batch.len());
        for prepared in batch {
            let mut row = chain_one(prepared, seq + 1, prev);
            // Nested begin on a connection inside a transaction is a SAVEPOINT.
            let mut savepoint = sqlx::Acquire::begin(&mut *tx).await?;
            // `Ok(Err(_))`: the nonce, the charge's pay code claim or the key's record was refused.
            let attempt: Result<Result<Staged, LedgerError>, sqlx::Error> = async {
                // The nonce first: a replayed signature is refused as such, whatever else its
                // transfer would have run into (its reference is taken when its original went
                // through).
                if let Some(nonce) = &prepared.nonce
                    && !savepoint.stage_nonces(&[nonce]).await?
                {
                    return Ok(Err(LedgerError::NonceReplayed));
                }
                let deltas = [
                    Delta {
                        account: prepared.debit_account.clone(),
                        delta: -prepared.amount_minor,
                        last_transfer_seq: row.seq,
                    },
                    Delta {
                        account: prepared.credit_account.clone(),
                        delta: prepared.amount_minor,
                        last_transfer_seq: row.seq,
                    },
                ];
                let balances = savepoint.apply_deltas(&deltas).await?;
                let rows = std::slice::from_mut(&mut row);
                link(rows, &balances);
                savepoint.insert_transfers(rows).await?;
                if let Some(charge) = &prepared.charge
                    && !savepoint.stage_charges(&[charge]).await?
                {
                    return Ok(Err(LedgerError::PaycodeReplayed));
                }
                if !prepared.events.is_empty() {
                    savepoint.insert_events(&prepared.events).await?;
                }
                let record_written = match &prepared.record {
                    Some(record) if savepoint.stage_records(&[record]).await?.is_empty() => {
                        return Ok(Err(LedgerError::AnsweredElsewhere));
                    }
                    Some(_) => Some(true),
                    None => None,
                };
                let find = |account: &str| {
                    balances.iter().find(|b| b.account == account).map(|b| {
                        assert!(
                            b.kind != AccountKind::Wallet.as_str() || b.balance_minor >= 0,
                            "a wallet balance never goes below zero"
                        );
                        b.balance_minor
                    })
                };
                let debit = find(&prepared.debit_account).expect("foreign key passed");
                let credit = find(&prepared.credit_account).expect("foreign key passed");
                Ok(Ok((debit, credit, record_written)))
            }
            .await;
            match attempt {
                Ok(Err(refused)) => {
                    savepoint.rollback().await?;
                    results.push(Err(refused));
                }
                Ok(Ok((debit_balance_minor, credit_balance_minor, record_written))) => {
                    savepoint.commit().await?;
                    seq = row.seq;
                    prev = row.hash;
                    results.push(Ok(Posted {
                        transfer: row.to_transfer(),
                        debit_balance_minor,
                        credit_balance_minor,
                        as_of_seq: row.seq,
                        replayed: false,
                        record_written,
                    }));
                }
                Err(err) if is_constraint(&err) => {
                    savepoint.rollback().await?;
                    let rejection = explain_rejection(&mut *tx, prepared, &err).await?;
                    results.push(Err(rejection));
                }
                Err(err) => return Err(err),
            }
        }
        if seq != head_seq {
            let moved = sqlx::query(MOVE_HEAD)
                .bind(seq)
                .bind(prev.to_vec())
                .bind(head_seq)
                .execute(&mut *tx)
                .await?;
            assert_eq!(moved.rows_affected(), 1, "the head we hold the lock on moved");
        }
        tx.commit().await?;
        Ok(results)
    }.await)
}

/// Turns a constraint failure of one transfer into the ledger's reason, reading what it needs
/// within the same transaction.
macro_rules! explain_rejection_body {
    ($conn:expr, $prepared:expr, $err:expr) => {{
        let prepared: &Prepared = $prepared;
        // A taken reference first, whichever statement failed: the balances move before the
        // row is inserted, so a retry of a committed transfer that would now overdraw fails on
        // the balance, and is still a duplicate reference (a replay), not a refusal.
        let existing = sqlx::query(&format!("{TRANSFER_SELECT} WHERE reference = $1"))
            .bind(&prepared.reference)
            .fetch_optional(&mut *$conn)
            .await?;
        if let Some(row) = existing {
            return Ok(LedgerError::DuplicateReference(Box::new(transfer_from_row(&row)?)));
        }
        let unique = matches!($err, sqlx::Error::Database(db) if db.kind() == ErrorKind::UniqueViolation);
        if unique {
            return Ok(if prepared.charge.is_some() {
                // A charge already holds this one's idempotency key or pay code counter.
                LedgerError::PaycodeReplayed
            } else {
                // The id collided (120 random bits: practically never); the caller may retry.
                LedgerError::Unavailable("transfer id collision".to_owned())
            });
        }
        let accounts = sqlx::query("SELECT id, currency FROM accounts WHERE id = $1 OR id = $2")
            .bind(&prepared.debit_account)
            .bind(&prepared.credit_account)
            .fetch_all(&mut *$conn)
            .await?;
        for account in [&prepared.debit_account, &prepared.credit_account] {
            let found = accounts.iter().find(|row| row.get::<String, _>(0) == *account);
            match found {
                None => return Ok(LedgerError::AccountNotFound(account.clone())),
                Some(row) if row.get::<String, _>(1) != prepared.currency => {
                    return Ok(LedgerError::CurrencyMismatch);
                }
                Some(_) => {}
            }
        }
        if prepared.debit_account.starts_with(AccountKind::Wallet.id_prefix()) {
            Ok(LedgerError::InsufficientFunds)
        } else {
            Ok(LedgerError::BalanceOverflow)
        }
    }};
}

trait Explain {
    async fn explain(
        &mut self,
        prepared: &Prepared,
        err: &sqlx::Error,
    ) -> Result<LedgerError, sqlx::Error>;
}

impl Explain for sqlx::SqliteConnection {
    async fn explain(
        &mut self,
        prepared: &Prepared,
        err: &sqlx::Error,
    ) -> Result<LedgerError, sqlx::Error> {
        let conn = self;
        explain_rejection_body!(conn, prepared, err)
    }
}

impl Explain for sqlx::PgConnection {
    async fn explain(
        &mut self,
        prepared: &Prepared,
        err: &sqlx::Error,
    ) -> Result<LedgerError, sqlx::Error> {
        let conn = self;
        explain_rejection_body!(conn, prepared, err)
    }
}

async fn explain_rejection<C: Explain>(
    conn: &mut C,
    prepared: &Prepared,
    err: &sqlx::Error,
) -> Result<LedgerError, sqlx::Error> {
    conn.explain(prepared, err).await
}

/// The columns of a transfer, in the order [`transfer_from_row`] reads them.
const TRANSFER_SELECT: &str = "SELECT seq, id, reference, kind, debit_account, credit_account, \
     currency, amount_minor, memo, created_at_ms, prev_hash, hash, debit_prev_seq, credit_prev_seq \
     FROM transfers";

fn transfer_from_row<R: Row>(row: &R) -> Result<Transfer, sqlx::Error>
where
    usize: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<String>: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Vec<u8>: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(Transfer {
        seq: row.try_get(0)?,
        id: row.try_get(1)?,
        reference: row.try_get(2)?,
        kind: row.try_get(3)?,
        debit_account: row.try_get(4)?,
        credit_account: row.try_get(5)?,
        currency: row.try_get(6)?,
        amount_minor: row.try_get(7)?,
        memo: row.try_get(8)?,
        created_at_ms: row.try_get(9)?,
        prev_hash: row.try_get(10)?,
        hash: row.try_get(11)?,
        debit_prev_seq: row.try_get(12)?,
        credit_prev_seq: row.try_get(13)?,
    })
}

const ACCOUNT_SELECT: &str =
    "SELECT id, kind, owner_id, currency, balance_minor, created_at_ms FROM accounts";

fn account_from_row<R: Row>(row: &R) -> Result<Account, sqlx::Error>
where
    usize: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<String>: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let kind: String = row.try_get(1)?;
    Ok(Account {
        id: row.try_get(0)?,
        kind: AccountKind::from_db(&kind)
            .ok_or_else(|| sqlx::Error::Decode(format!("unknown account kind {kind}").into()))?,
        owner_id: row.try_get(2)?,
        currency: row.try_get(3)?,
        balance_minor: row.try_get(4)?,
        created_at_ms: row.try_get(5)?,
    })
}

/// Inserts an account unless one with this id (or this owner and currency, for wallets) exists.
pub async fn insert_account_if_absent(db: &Db, account: &Account) -> Result<(), sqlx::Error> {
    with_db!(db, pool => sqlx::query(
        "INSERT INTO accounts (id, kind, owner_id, currency, balance_minor, created_at_ms) \
         VALUES ($1, $2, $3, $4, 0, $5) ON CONFLICT DO NOTHING",
    )
    .bind(&account.id)
    .bind(account.kind.as_str())
    .bind(&account.owner_id)
    .bind(&account.currency)
    .bind(account.created_at_ms)
    .execute(pool)
    .await
    .map(|_| ()))
}

pub async fn account(db: &Db, id: &str) -> Result<Option<Account>, sqlx::Error> {
    let sql = format!("{ACCOUNT_SELECT} WHERE id = $1");
    with_db!(db, pool => match sqlx::query(&sql).bind(id).fetch_optional(pool).await? {
        Some(row) => account_from_row(&row).map(Some),
        None => Ok(None),
    })
}

pub async fn wallet_of(
    db: &Db,
    owner_id: &str,
    currency: &str,
) -> Result<Option<Account>, sqlx::Error> {
    let sql = format!("{ACCOUNT_SELECT} WHERE kind = 'wallet' AND owner_id = $1 AND currency = $2");
    with_db!(db, pool => match sqlx::query(&sql).bind(owner_id).bind(currency).fetch_optional(pool).await? {
        Some(row) => account_from_row(&row).map(Some),
        None => Ok(None),
    })
}

/// The wallets of one owner, oldest first (a handful per owner: one per currency).
pub async fn wallets_of(db: &Db, owner_id: &str) -> Result<Vec<Account>, sqlx::Error> {
    let sql = format!(
        "{ACCOUNT_SELECT} WHERE kind = 'wallet' AND owner_id = $1 ORDER BY created_at_ms, id"
    );
    with_db!(db, pool => sqlx::query(&sql)
        .bind(owner_id)
        .fetch_all(pool)
        .await?
        .iter()
        .map(account_from_row)
        .collect())
}

/// The committed balance of `account` and the chain position it is valid at, read in one
/// statement so both come from the same snapshot. `None` when the account does not exist.
pub async fn balance_at(db: &Db, account: &str) -> Result<Option<(i64, i64)>, sqlx::Error> {
    with_db!(db, pool => sqlx::query_as(
        "SELECT balance_minor, (SELECT seq FROM ledger_head WHERE id = 1) FROM accounts WHERE id = $1",
    )
    .bind(account)
    .fetch_optional(pool)
    .await)
}

pub async fn transfer(db: &Db, id: &str) -> Result<Option<Transfer>, sqlx::Error> {
    let sql = format!("{TRANSFER_SELECT} WHERE id = $1");
    with_db!(db, pool => match sqlx::query(&sql).bind(id).fetch_optional(pool).await? {
        Some(row) => transfer_from_row(&row).map(Some),
        None => Ok(None),
    })
}

/// How far before `since_ms` [`debited_since`] keeps walking an account's list: a transfer's
/// `created_at_ms` comes from the clock of the process that prepared it, before its batch was
/// given its chain position, so along the list times may step back by clock skew and queueing.
const CREATED_AT_SLACK_MS: i64 = 10 * 60 * 1_000;

/// The step of a walk down `account`'s list (bound as `$1`) from the transfer `t`.
const PREV_OF_ACCOUNT: &str =
    "CASE WHEN t.debit_account = $1 THEN t.debit_prev_seq ELSE t.credit_prev_seq END";

/// Sum of the transfers of `kind` debited from `account` created at or after `since_ms`, in minor
/// units (see [`super::Ledger::debited_since`]). Walks the account's list from its last transfer
/// back to [`CREATED_AT_SLACK_MS`] before `since_ms`, so its cost is the account's transfers of
/// that period.
pub async fn debited_since(
    db: &Db,
    account: &str,
    kind: &str,
    since_ms: i64,
) -> Result<i64, sqlx::Error> {
    let sql = format!(
        "WITH RECURSIVE walk(at) AS (\
             SELECT last_transfer_seq FROM accounts WHERE id = $1 \
             UNION ALL SELECT {PREV_OF_ACCOUNT} FROM walk JOIN transfers AS t ON t.seq = walk.at \
             WHERE t.created_at_ms >= $4) \
         SELECT CAST(COALESCE(SUM(t.amount_minor), 0) AS BIGINT) FROM walk \
         JOIN transfers AS t ON t.seq = walk.at \
         WHERE t.debit_account = $1 AND t.kind = $2 AND t.created_at_ms >= $3"
    );
    with_db!(db, pool => sqlx::query_scalar(&sql)
    .bind(account)
    .bind(kind)
    .bind(since_ms)
    .bind(since_ms.saturating_sub(CREATED_AT_SLACK_MS))
    .fetch_one(pool)
    .await)
}

pub async fn transfer_by_reference(
    db: &Db,
    reference: &str,
) -> Result<Option<Transfer>, sqlx::Error> {
    let sql = format!("{TRANSFER_SELECT} WHERE reference = $1");
    with_db!(db, pool => match sqlx::query(&sql).bind(reference).fetch_optional(pool).await? {
        Some(row) => transfer_from_row(&row).map(Some),
        None => Ok(None),
    })
}

/// Transfers touching `account`, newest first, from the transfer at chain position `from_seq`
/// (that one included; `None`: from the account's last transfer) down the account's list; at most
/// `limit` rows. Each step is one primary-key read, so a page costs `limit` reads whatever the
/// account's or the ledger's size.
pub async fn transfers_of(
    db: &Db,
    account: &str,
    from_seq: Option<i64>,
    limit: u32,
) -> Result<Vec<Transfer>, sqlx::Error> {
    let sql = format!(
        "WITH RECURSIVE walk(at, n) AS (\
             SELECT COALESCE(CAST($2 AS BIGINT), \
                 (SELECT last_transfer_seq FROM accounts WHERE id = $1)), 1 \
             UNION ALL SELECT {PREV_OF_ACCOUNT}, walk.n + 1 FROM walk \
             JOIN transfers AS t ON t.seq = walk.at WHERE walk.n < $3) \
         {TRANSFER_SELECT} JOIN walk ON transfers.seq = walk.at ORDER BY transfers.seq DESC"
    );
    with_db!(db, pool => sqlx::query(&sql)
        .bind(account)
        .bind(from_seq)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?
        .iter()
        .map(transfer_from_row)
        .collect())
}

/// Every transfer with `seq > after_seq`, in chain order, at most `limit`: `purse ledger verify`
/// walks the chain page by page so memory stays bounded on any ledger size.
pub async fn transfers_after(
    db: &Db,
    after_seq: i64,
    limit: u32,
) -> Result<Vec<Transfer>, sqlx::Error> {
    let sql = format!("{TRANSFER_SELECT} WHERE seq > $1 ORDER BY seq LIMIT $2");
    with_db!(db, pool => sqlx::query(&sql)
        .bind(after_seq)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?
        .iter()
        .map(transfer_from_row)
        .collect())
}

/// Every account with its stored balance, ordered by id.
pub async fn all_accounts(db: &Db) -> Result<Vec<Account>, sqlx::Error> {
    let sql = format!("{ACCOUNT_SELECT} ORDER BY id");
    with_db!(db, pool => sqlx::query(&sql)
        .fetch_all(pool)
        .await?
        .iter()
        .map(account_from_row)
        .collect())
}

/// Every account's last transfer as stored (`accounts.last_transfer_seq`), for `purse ledger
/// verify`.
pub async fn last_transfer_seqs(db: &Db) -> Result<HashMap<String, i64>, sqlx::Error> {
    let rows: Vec<(String, i64)> = with_db!(db, pool => sqlx::query_as(
        "SELECT id, last_transfer_seq FROM accounts",
    )
    .fetch_all(pool)
    .await)?;
    Ok(rows.into_iter().collect())
}

/// The chain head as stored: (seq, hash).
pub async fn head(db: &Db) -> Result<(i64, [u8; HASH_LEN]), sqlx::Error> {
    let (seq, hash): (i64, Vec<u8>) = with_db!(db, pool => sqlx::query_as(
        "SELECT seq, hash FROM ledger_head WHERE id = 1",
    )
    .fetch_one(pool)
    .await)?;
    let hash = hash
        .try_into()
        .map_err(|_| sqlx::Error::Decode("ledger_head.hash is not 32 bytes".into()))?;
    Ok((seq, hash))
}

/// The genesis hash, for callers comparing against an empty chain.
pub const EMPTY_CHAIN: [u8; HASH_LEN] = GENESIS;
