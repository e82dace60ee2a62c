//! Idempotency storage: every SQL statement over `idempotency_keys` (schema in
//! `migrations/*/0001_ledger.sql`, pruning index in `0003_idempotency.sql`). It never decides
//! what a record means (the parent module does) and never touches the ledger's tables.

use sqlx::Row as _;

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
    /// When the record was claimed (`started`) or answered (`done`).
    pub updated_at_ms: i64,
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
        "SELECT request_hash, state, response_status, response_body, updated_at_ms \
         FROM idempotency_keys \
         WHERE owner_id = $1 AND idem_key = $2",
    )
    .bind(owner_id)
    .bind(key)
    .fetch_optional(pool)
    .await)
}

/// Claims `key` for a request about to execute: inserts a `started` record unless the key has a
/// record already. `true` when this call made the claim.
pub async fn claim(
    db: &Db,
    owner_id: &str,
    key: &str,
    request_hash: &[u8; 32],
    now_ms: i64,
) -> Result<bool, sqlx::Error> {
    with_db!(db, pool => sqlx::query(
        "INSERT INTO idempotency_keys (owner_id, idem_key, request_hash, state, created_at_ms, \
         updated_at_ms) VALUES ($1, $2, $3, 'started', $4, $4) \
         ON CONFLICT (owner_id, idem_key) DO NOTHING",
    )
    .bind(owner_id)
    .bind(key)
    .bind(request_hash.as_slice())
    .bind(now_ms)
    .execute(pool)
    .await
    .map(|done| done.rows_affected() == 1))
}

/// Takes over a `started` claim last touched at `seen_updated_at_ms` (its holder is gone: its
/// lease ran out). `true` when this call took it; `false` when someone else moved it meanwhile.
pub async fn take_over(
    db: &Db,
    owner_id: &str,
    key: &str,
    seen_updated_at_ms: i64,
    now_ms: i64,
) -> Result<bool, sqlx::Error> {
    with_db!(db, pool => sqlx::query(
        "UPDATE idempotency_keys SET updated_at_ms = $4 \
         WHERE owner_id = $1 AND idem_key = $2 AND state = 'started' AND updated_at_ms = $3",
    )
    .bind(owner_id)
    .bind(key)
    .bind(seen_updated_at_ms)
    .bind(now_ms)
    .execute(pool)
    .await
    .map(|done| done.rows_affected() == 1))
}

/// Drops a `started` claim whose request ended without an answer worth recording (a 5xx, a
/// 409 or 429 from further down, or the request was dropped), so that a retry runs at once.
pub async fn release(db: &Db, owner_id: &str, key: &str) -> Result<(), sqlx::Error> {
    with_db!(db, pool => sqlx::query(
        "DELETE FROM idempotency_keys WHERE owner_id = $1 AND idem_key = $2 AND state = 'started'",
    )
    .bind(owner_id)
    .bind(key)
    .execute(pool)
    .await
    .map(|_| ()))
}

/// Writes finished records in one transaction and answers, per record, whether it is now the
/// key's record. A record is written over the key's own `started` claim or where the key has no
/// record; a key already `done` (another process answered first) keeps that first answer, and
/// the caller must replay it instead of its own.
pub async fn insert_done(db: &Db, records: &[NewRecord]) -> Result<Vec<bool>, sqlx::Error> {
    if records.is_empty() {
        return Ok(Vec::new());
    }
    let mut seen = std::collections::HashSet::new();
    if !records
        .iter()
        .all(|r| seen.insert((r.owner_id.as_str(), r.key.as_str())))
    {
        // A key twice in one batch (not made by this server, whose claims allow one request per
        // key at a time): the first is written, then the second in a later statement, as
        // PostgreSQL's `ON CONFLICT DO UPDATE` may touch a row once per statement.
        let mut written = Vec::with_capacity(records.len());
        for record in records {
            written.extend(Box::pin(insert_done(db, std::slice::from_ref(record))).await?);
        }
        return Ok(written);
    }
    let rows: Vec<&NewRecord> = records.iter().collect();
    let written = match db {
        Db::Sqlite(pool) => {
            let mut tx = pool.begin().await?;
            let written = stage_done_sqlite(&mut tx, &rows).await?;
            tx.commit().await?;
            written
        }
        Db::Postgres(pool) => {
            let mut tx = pool.begin().await?;
            let written = stage_done_postgres(&mut tx, &rows).await?;
            tx.commit().await?;
            written
        }
    };
    Ok(records
        .iter()
        .map(|r| written.contains(&(r.owner_id.clone(), r.key.clone())))
        .collect())
}

/// (owner id, key) of the records a statement wrote.
pub type Written = std::collections::HashSet<(String, String)>;

/// Writes `rows` (no key twice) inside the caller's transaction with the rule of [`insert_done`],
/// and answers which of them are now their key's record. The ledger writer calls it to commit a
/// P2P transfer's answer with its money (`ledger::Outbox::record`).
pub async fn stage_done_sqlite(
    conn: &mut sqlx::SqliteConnection,
    rows: &[&NewRecord],
) -> Result<Written, sqlx::Error> {
    // Multi-row VALUES, a few rows per statement (each statement is one hop to the
    // connection's thread).
    let mut written = Written::with_capacity(rows.len());
    for chunk in crate::db::sqlite_chunks(rows) {
        let sql = crate::db::sqlite_values(
            "INSERT INTO idempotency_keys (owner_id, idem_key, request_hash, state, \
                 response_status, response_body, created_at_ms, updated_at_ms) VALUES ",
            8,
            chunk.len(),
            " ON CONFLICT (owner_id, idem_key) DO UPDATE SET state = 'done', \
                 response_status = excluded.response_status, \
                 response_body = excluded.response_body, \
                 updated_at_ms = excluded.updated_at_ms \
                 WHERE idempotency_keys.state = 'started' \
                 AND idempotency_keys.request_hash = excluded.request_hash \
                 RETURNING owner_id, idem_key",
        );
        let mut query = sqlx::query_as::<_, (String, String)>(&sql);
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
        written.extend(query.fetch_all(&mut *conn).await?);
    }
    Ok(written)
}

/// [`stage_done_sqlite`] on PostgreSQL: one statement.
pub async fn stage_done_postgres(
    conn: &mut sqlx::PgConnection,
    rows: &[&NewRecord],
) -> Result<Written, sqlx::Error> {
    // One statement, one round trip.
    let owners: Vec<&str> = rows.iter().map(|r| r.owner_id.as_str()).collect();
    let keys: Vec<&str> = rows.iter().map(|r| r.key.as_str()).collect();
    let hashes: Vec<Vec<u8>> = rows.iter().map(|r| r.request_hash.to_vec()).collect();
    let statuses: Vec<i32> = rows.iter().map(|r| i32::from(r.response_status)).collect();
    let bodies: Vec<&[u8]> = rows.iter().map(|r| r.response_body.as_slice()).collect();
    let times: Vec<i64> = rows.iter().map(|r| r.now_ms).collect();
    let written = sqlx::query(
        "INSERT INTO idempotency_keys (owner_id, idem_key, request_hash, state, \
             response_status, response_body, created_at_ms, updated_at_ms) \
             SELECT o, k, h, 'done', s, b, t, t FROM UNNEST($1::text[], $2::text[], \
             $3::bytea[], $4::int[], $5::bytea[], $6::bigint[]) AS r(o, k, h, s, b, t) \
             ON CONFLICT (owner_id, idem_key) DO UPDATE SET state = 'done', \
             response_status = EXCLUDED.response_status, \
             response_body = EXCLUDED.response_body, updated_at_ms = EXCLUDED.updated_at_ms \
             WHERE idempotency_keys.state = 'started' \
             AND idempotency_keys.request_hash = EXCLUDED.request_hash \
             RETURNING owner_id, idem_key",
    )
    .bind(&owners)
    .bind(&keys)
    .bind(hashes)
    .bind(statuses)
    .bind(bodies)
    .bind(times)
    .fetch_all(&mut *conn)
    .await?;
    Ok(written
        .iter()
        .map(|row| (row.get::<String, _>(0), row.get::<String, _>(1)))
        .collect())
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
