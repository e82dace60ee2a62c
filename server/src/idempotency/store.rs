//! Idempotency storage: every SQL statement over `idempotency_keys` (schema in
//! `migrations/*/0001_ledger.sql`, pruning index in `0003_idempotency.sql`). It never decides
//! what a record means (the parent module does) and never touches the ledger's tables.

use crate::db::Db;
use crate::with_db;

/// A stored first answer to a request made under one key.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Record {
    /// SHA-256 of the request as first made (see [`super::Fingerprint`]).
    pub request_hash: Vec<u8>,
    /// `done` for every record this server writes; `started` is reserved by the schema for
    /// writers that claim a key before executing.
    pub state: String,
    pub response_status: Option<i32>,
    pub response_body: Option<Vec<u8>>,
}

/// A finished request to record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewRecord {
    pub owner_id: String,
    pub key: String,
    pub request_hash: [u8; 32],
    pub response_status: u16,
    pub response_body: Vec<u8>,
    pub now_ms: i64,
}

pub async fn find(db: &Db, owner_id: &str, key: &str) -> Result<Option<Record>, sqlx::Error> {
    with_db!(db, pool => sqlx::query_as::<_, Record>(
        "SELECT request_hash, state, response_status, response_body FROM idempotency_keys \
         WHERE owner_id = $1 AND idem_key = $2",
    )
    .bind(owner_id)
    .bind(key)
    .fetch_optional(pool)
    .await)
}

/// Inserts finished records in one transaction. A key already recorded (by another server
/// process that answered the same key at the same time) keeps its first record.
pub async fn insert_done(db: &Db, records: &[NewRecord]) -> Result<(), sqlx::Error> {
    if records.is_empty() {
        return Ok(());
    }
    match db {
        Db::Sqlite(pool) => {
            // Multi-row VALUES, a few rows per statement (each statement is one hop to the
            // connection's thread), one commit (one fsync) per batch.
            let mut tx = pool.begin().await?;
            for chunk in crate::db::sqlite_chunks(records) {
                let sql = crate::db::sqlite_values(
                    "INSERT INTO idempotency_keys (owner_id, idem_key, request_hash, state, \
                     response_status, response_body, created_at_ms, updated_at_ms) VALUES ",
                    8,
                    chunk.len(),
                    " ON CONFLICT (owner_id, idem_key) DO NOTHING",
                );
                let mut query = sqlx::query(&sql);
                for record in chunk {
                    query = query
                        .bind(&record.owner_id)
                        .bind(&record.key)
                        .bind(record.request_hash.as_slice())
                        .bind("done")
                        .bind(i32::from(record.response_status))
                        .bind(record.response_body.as_slice())
                        .bind(record.now_ms)
                        .bind(record.now_ms);
                }
                query.execute(&mut *tx).await?;
            }
            tx.commit().await
        }
        Db::Postgres(pool) => {
            // One statement, one round trip per batch.
            let owners: Vec<&str> = records.iter().map(|r| r.owner_id.as_str()).collect();
            let keys: Vec<&str> = records.iter().map(|r| r.key.as_str()).collect();
            let hashes: Vec<Vec<u8>> = records.iter().map(|r| r.request_hash.to_vec()).collect();
            let statuses: Vec<i32> = records
                .iter()
                .map(|r| i32::from(r.response_status))
                .collect();
            let bodies: Vec<&[u8]> = records.iter().map(|r| r.response_body.as_slice()).collect();
            let times: Vec<i64> = records.iter().map(|r| r.now_ms).collect();
            sqlx::query(
                "INSERT INTO idempotency_keys (owner_id, idem_key, request_hash, state, \
                 response_status, response_body, created_at_ms, updated_at_ms) \
                 SELECT o, k, h, 'done', s, b, t, t FROM UNNEST($1::text[], $2::text[], \
                 $3::bytea[], $4::int[], $5::bytea[], $6::bigint[]) AS r(o, k, h, s, b, t) \
                 ON CONFLICT (owner_id, idem_key) DO NOTHING",
            )
            .bind(owners)
            .bind(keys)
            .bind(hashes)
            .bind(statuses)
            .bind(bodies)
            .bind(times)
            .execute(pool)
            .await
            .map(|_| ())
        }
    }
}

/// Deletes up to `limit` records created before `before_ms` (found through the
/// `idempotency_keys_created` index, migration 0003); returns how many. Bounded so that pruning a
/// large backlog never holds SQLite's write lock for long.
pub async fn prune(db: &Db, before_ms: i64, limit: i64) -> Result<u64, sqlx::Error> {
    with_db!(db, pool => sqlx::query(
        "DELETE FROM idempotency_keys WHERE (owner_id, idem_key) IN \
         (SELECT owner_id, idem_key FROM idempotency_keys WHERE created_at_ms < $1 LIMIT $2)",
    )
    .bind(before_ms)
    .bind(limit)
    .execute(pool)
    .await
    .map(|done| done.rows_affected()))
}
