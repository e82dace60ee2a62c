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
pub async fn insert(
    db: &Db,
    id: &str,
    owner_id: &str,
    type_: &str,
    data: &str,
    dedupe_key: &str,
    now_ms: i64,
) -> Result<Row, sqlx::Error> {
    with_db!(db, pool => {
        sqlx::query(
            "INSERT INTO events (id, owner_id, type, data, dedupe_key, created_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (owner_id, dedupe_key) DO NOTHING",
        )
        .bind(id)
        .bind(owner_id)
        .bind(type_)
        .bind(data)
        .bind(dedupe_key)
        .bind(now_ms)
        .execute(pool)
        .await?;
        sqlx::query_as::<_, Row>(
            "SELECT seq, id, owner_id, type, data, created_at_ms FROM events \
             WHERE owner_id = $1 AND dedupe_key = $2",
        )
        .bind(owner_id)
        .bind(dedupe_key)
        .fetch_one(pool)
        .await
    })
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
