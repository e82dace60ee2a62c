//! Operations storage: every SQL statement over `audit_events`, `wallet_freezes` and
//! `ledger_verifications`. Portable SQL for both backends; a freeze and its audit row are written in
//! one transaction. It never decides whether an action is allowed (the [`super`] functions do).

use sqlx::Row;

use super::{AuditEvent, Verification};
use crate::db::Db;
use crate::with_db;

const AUDIT_SELECT: &str =
    "SELECT id, actor, action, target, reason, detail, created_at_ms FROM audit_events";

fn audit_from_row<R: Row>(row: &R) -> Result<AuditEvent, sqlx::Error>
where
    usize: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<String>: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(AuditEvent {
        id: row.try_get(0)?,
        actor: row.try_get(1)?,
        action: row.try_get(2)?,
        target: row.try_get(3)?,
        reason: row.try_get(4)?,
        detail: row.try_get(5)?,
        created_at_ms: row.try_get(6)?,
    })
}

const INSERT_AUDIT: &str = "INSERT INTO audit_events \
     (id, actor, action, target, reason, detail, created_at_ms) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// Appends one audit event.
pub async fn insert_audit(db: &Db, event: &AuditEvent) -> Result<(), sqlx::Error> {
    with_db!(db, pool => sqlx::query(INSERT_AUDIT)
        .bind(&event.id)
        .bind(&event.actor)
        .bind(&event.action)
        .bind(&event.target)
        .bind(&event.reason)
        .bind(&event.detail)
        .bind(event.created_at_ms)
        .execute(pool)
        .await
        .map(|_| ()))
}

/// Freezes `event.target` and records `event`, in one transaction. `false` (nothing written) when
/// the wallet was already frozen.
pub async fn freeze(db: &Db, event: &AuditEvent) -> Result<bool, sqlx::Error> {
    with_db!(db, pool => {
        let mut tx = pool.begin().await?;
        sqlx::query(INSERT_AUDIT)
            .bind(&event.id)
            .bind(&event.actor)
            .bind(&event.action)
            .bind(&event.target)
            .bind(&event.reason)
            .bind(&event.detail)
            .bind(event.created_at_ms)
            .execute(&mut *tx)
            .await?;
        let inserted = sqlx::query(
            "INSERT INTO wallet_freezes (wallet_id, audit_id, created_at_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (wallet_id) DO NOTHING",
        )
        .bind(&event.target)
        .bind(&event.id)
        .bind(event.created_at_ms)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 1 {
            tx.commit().await?;
            Ok(true)
        } else {
            tx.rollback().await?;
            Ok(false)
        }
    })
}

/// Lifts the freeze of `event.target` and records `event`, in one transaction. `false` (nothing
/// written) when the wallet was not frozen.
pub async fn unfreeze(db: &Db, event: &AuditEvent) -> Result<bool, sqlx::Error> {
    with_db!(db, pool => {
        let mut tx = pool.begin().await?;
        let deleted = sqlx::query("DELETE FROM wallet_freezes WHERE wallet_id = $1")
            .bind(&event.target)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if deleted != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query(INSERT_AUDIT)
            .bind(&event.id)
            .bind(&event.actor)
            .bind(&event.action)
            .bind(&event.target)
            .bind(&event.reason)
            .bind(&event.detail)
            .bind(event.created_at_ms)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    })
}

/// Every frozen wallet id (frozen wallets are few: an operator freezes them one by one).
pub async fn frozen_wallets(db: &Db) -> Result<Vec<String>, sqlx::Error> {
    with_db!(db, pool => sqlx::query_scalar("SELECT wallet_id FROM wallet_freezes ORDER BY wallet_id")
        .fetch_all(pool)
        .await)
}

/// The newest `limit` audit events (of `target` when given), newest first.
pub async fn audit_events(
    db: &Db,
    target: Option<&str>,
    limit: u32,
) -> Result<Vec<AuditEvent>, sqlx::Error> {
    let limit = i64::from(limit);
    match target {
        Some(target) => {
            let sql = format!("{AUDIT_SELECT} WHERE target = $1 ORDER BY seq DESC LIMIT $2");
            with_db!(db, pool => sqlx::query(&sql)
                .bind(target)
                .bind(limit)
                .fetch_all(pool)
                .await?
                .iter()
                .map(audit_from_row)
                .collect())
        }
        None => {
            let sql = format!("{AUDIT_SELECT} ORDER BY seq DESC LIMIT $1");
            with_db!(db, pool => sqlx::query(&sql)
                .bind(limit)
                .fetch_all(pool)
                .await?
                .iter()
                .map(audit_from_row)
                .collect())
        }
    }
}

/// Records one verification run.
pub async fn insert_verification(db: &Db, run: &Verification) -> Result<(), sqlx::Error> {
    with_db!(db, pool => sqlx::query(
        "INSERT INTO ledger_verifications (ok, transfers, finding, created_at_ms) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(i64::from(run.ok))
    .bind(run.transfers)
    .bind(&run.finding)
    .bind(run.created_at_ms)
    .execute(pool)
    .await
    .map(|_| ()))
}

/// The latest verification run, if any ran.
pub async fn latest_verification(db: &Db) -> Result<Option<Verification>, sqlx::Error> {
    const SQL: &str = "SELECT ok, transfers, finding, created_at_ms FROM ledger_verifications \
                       ORDER BY seq DESC LIMIT 1";
    with_db!(db, pool => {
        let row = sqlx::query(SQL).fetch_optional(pool).await?;
        row.map(|row| -> Result<Verification, sqlx::Error> {
            let ok: i64 = row.try_get(0)?;
            Ok(Verification {
                ok: ok == 1,
                transfers: row.try_get(1)?,
                finding: row.try_get(2)?,
                created_at_ms: row.try_get(3)?,
            })
        })
        .transpose()
    })
}
