//! Event storage: every SQL statement over `events` (schema in `migrations/*/0004_events.sql`).

use crate::db::Db;
use crate::with_db;

/// A stored event.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Row {
    pub seq: i64,
    pub id: String,
    pub owner_id: String,
    #[sqlx(rename = "type")]
    pub type_: String,
    pub data: String,
    pub created_at_ms: i64,
}

/// Inserts an event unless `(owner_id, dedupe_key)` is already there; returns the stored row
/// (the new one, or the first one published under that key).
///
/// **Invariant:** within one owner, events become visible in `seq` order, so a reader that
/// resumes after the highest `seq` it saw never skips one. SQLite has one writer at a time, so a
/// row's `seq` is assigned and committed before the next insert begins. On PostgreSQL an identity
/// value is taken at `INSERT` but becomes visible at `COMMIT`, so two concurrent inserts could
/// commit in the other order (the outbox gap); the insert therefore runs in a transaction that
/// first takes a transaction-scoped advisory lock on the owner (`pg_advisory_xact_lock`, keyed by
/// a hash of `owner_id`), which serialises one owner's inserts across every server process:
/// the `seq` is taken and committed while the lock is held. Different owners rarely share a hash
/// and never wait on each other otherwise.
pub async fn insert(
    db: &Db,
    id: &str,
    owner_id: &str,
    type_: &str,
    data: &str,
    dedupe_key: &str,
    now_ms: i64,
) -> Result<Row, sqlx::Error> {
    const INSERT: &str = "INSERT INTO events (id, owner_id, type, data, dedupe_key, created_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (owner_id, dedupe_key) DO NOTHING";
    const SELECT: &str = "SELECT seq, id, owner_id, type, data, created_at_ms FROM events \
         WHERE owner_id = $1 AND dedupe_key = $2";
    match db {
        Db::Sqlite(pool) => {
            sqlx::query(INSERT)
                .bind(id)
                .bind(owner_id)
                .bind(type_)
                .bind(data)
                .bind(dedupe_key)
                .bind(now_ms)
                .execute(pool)
                .await?;
            sqlx::query_as::<_, Row>(SELECT)
                .bind(owner_id)
                .bind(dedupe_key)
                .fetch_one(pool)
                .await
        }
        Db::Postgres(pool) => {
            let mut tx = pool.begin().await?;
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 4))")
                .bind(owner_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(INSERT)
                .bind(id)
                .bind(owner_id)
                .bind(type_)
                .bind(data)
                .bind(dedupe_key)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            let row = sqlx::query_as::<_, Row>(SELECT)
                .bind(owner_id)
                .bind(dedupe_key)
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(row)
        }
    }
}

/// Up to `limit` events of `owner_id` after position `after_seq` (0 = from the start), oldest first.
pub async fn after(
    db: &Db,
    owner_id: &str,
    after_seq: i64,
    limit: i64,
) -> Result<Vec<Row>, sqlx::Error> {
    with_db!(db, pool => sqlx::query_as::<_, Row>(
        "SELECT seq, id, owner_id, type, data, created_at_ms FROM events \
         WHERE owner_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
    )
    .bind(owner_id)
    .bind(after_seq)
    .bind(limit)
    .fetch_all(pool)
    .await)
}

/// The position of event `id` if it belongs to `owner_id` (for `Last-Event-ID`).
pub async fn seq_of(db: &Db, owner_id: &str, id: &str) -> Result<Option<i64>, sqlx::Error> {
    with_db!(db, pool => sqlx::query_scalar::<_, i64>(
        "SELECT seq FROM events WHERE owner_id = $1 AND id = $2",
    )
    .bind(owner_id)
    .bind(id)
    .fetch_optional(pool)
    .await)
}

/// The highest position of `owner_id`'s events, 0 when there is none.
pub async fn last_seq(db: &Db, owner_id: &str) -> Result<i64, sqlx::Error> {
    with_db!(db, pool => sqlx::query_scalar::<_, Option<i64>>(
        "SELECT max(seq) FROM events WHERE owner_id = $1",
    )
    .bind(owner_id)
    .fetch_one(pool)
    .await)
    .map(|seq| seq.unwrap_or(0))
}
