//! Event storage: every SQL statement over `events` (schema in `migrations/*/0004_events.sql`).

use std::collections::HashMap;

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

/// An event to insert.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewRow {
    pub id: String,
    pub owner_id: String,
    pub type_: String,
    pub data: String,
    pub dedupe_key: String,
    pub created_at_ms: i64,
}

/// Inserts each event of `rows` unless its `(owner_id, dedupe_key)` is already there, in one
/// transaction, and returns one stored row per item, in order: the new one, or the first one
/// published under that key (also when an earlier item of the same batch is that first one).
///
/// **Invariant:** within one owner, events become visible in `seq` order, so a reader that
/// resumes after the highest `seq` it saw never skips one. SQLite has one writer at a time, so a
/// batch's `seq`s are assigned and committed before the next batch begins. On PostgreSQL an
/// identity value is taken at `INSERT` but becomes visible at `COMMIT`, so two concurrent
/// transactions could commit in the other order (the outbox gap); the batch therefore first takes
/// a transaction-scoped advisory lock on each of its owners (`pg_advisory_xact_lock`, keyed by a
/// hash of `owner_id`, in ascending key order so two batches never wait on each other in a
/// cycle), which serialises one owner's inserts across every server process: the `seq`s are
/// taken and committed while the locks are held. Different owners rarely share a hash and never
/// wait on each other otherwise.
pub async fn insert_many(db: &Db, rows: &[NewRow]) -> Result<Vec<Row>, sqlx::Error> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    match db {
        Db::Sqlite(pool) => {
            let mut tx = pool.begin().await?;
            insert_sqlite(&mut tx, rows).await?;
            let mut found = HashMap::with_capacity(rows.len());
            for chunk in crate::db::sqlite_chunks(rows) {
                let sql = crate::db::sqlite_values(
                    "SELECT dedupe_key, seq, id, owner_id, type, data, created_at_ms FROM events \
                     WHERE (owner_id, dedupe_key) IN (VALUES ",
                    2,
                    chunk.len(),
                    ")",
                );
                let mut query = sqlx::query_as::<_, StoredWithKey>(&sql);
                for row in chunk {
                    query = query.bind(&row.owner_id).bind(&row.dedupe_key);
                }
                found.extend(query.fetch_all(&mut *tx).await?.into_iter().map(keyed));
            }
            tx.commit().await?;
            in_batch_order(rows, &found)
        }
        Db::Postgres(pool) => {
            let column = |f: fn(&NewRow) -> &str| rows.iter().map(f).collect::<Vec<&str>>();
            let owners = column(|r| &r.owner_id);
            let dedupe_keys = column(|r| &r.dedupe_key);
            let mut tx = pool.begin().await?;
            insert_postgres(&mut tx, rows).await?;
            let found: HashMap<(String, String), Row> = sqlx::query_as::<_, StoredWithKey>(
                "SELECT e.dedupe_key, e.seq, e.id, e.owner_id, e.type, e.data, e.created_at_ms \
                 FROM events e JOIN unnest($1::text[], $2::text[]) AS k(owner_id, dedupe_key) \
                   ON e.owner_id = k.owner_id AND e.dedupe_key = k.dedupe_key",
            )
            .bind(&owners)
            .bind(&dedupe_keys)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .map(keyed)
            .collect();
            tx.commit().await?;
            in_batch_order(rows, &found)
        }
    }
}

/// The inserts of [`insert_many`] on SQLite, inside the caller's transaction (the ledger writer
/// commits a transfer's event with the transfer). Events whose key is already stored are skipped.
pub(crate) async fn insert_sqlite(
    tx: &mut sqlx::SqliteConnection,
    rows: &[NewRow],
) -> Result<(), sqlx::Error> {
    // Multi-row statements, a few sizes (each statement is one hop to the connection's
    // thread); rows are inserted in the batch's order, so `seq`s follow it.
    for chunk in crate::db::sqlite_chunks(rows) {
        let sql = crate::db::sqlite_values(
            "INSERT INTO events (id, owner_id, type, data, dedupe_key, created_at_ms) VALUES ",
            6,
            chunk.len(),
            " ON CONFLICT (owner_id, dedupe_key) DO NOTHING",
        );
        let mut query = sqlx::query(&sql);
        for row in chunk {
            query = query
                .bind(&row.id)
                .bind(&row.owner_id)
                .bind(&row.type_)
                .bind(&row.data)
                .bind(&row.dedupe_key)
                .bind(row.created_at_ms);
        }
        query.execute(&mut *tx).await?;
    }
    Ok(())
}

/// The inserts of [`insert_many`] on PostgreSQL, inside the caller's transaction, with the
/// owners' advisory locks that keep `seq`s visible in order (see [`insert_many`]); the locks are
/// held until that transaction ends. Events whose key is already stored are skipped.
pub(crate) async fn insert_postgres(
    tx: &mut sqlx::PgConnection,
    rows: &[NewRow],
) -> Result<(), sqlx::Error> {
    let column = |f: fn(&NewRow) -> &str| rows.iter().map(f).collect::<Vec<&str>>();
    sqlx::query(
        "SELECT pg_advisory_xact_lock(k) FROM \
         (SELECT DISTINCT hashtextextended(o, 4) AS k FROM unnest($1::text[]) AS o \
          ORDER BY k) AS locks",
    )
    .bind(column(|r| &r.owner_id))
    .execute(&mut *tx)
    .await?;
    // One statement; `seq`s follow the batch's order (ORDER BY the ordinality).
    sqlx::query(
        "INSERT INTO events (id, owner_id, type, data, dedupe_key, created_at_ms) \
         SELECT id, owner_id, type, data, dedupe_key, created_at_ms FROM unnest(\
           $1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[]) \
           WITH ORDINALITY AS t(id, owner_id, type, data, dedupe_key, created_at_ms, n) \
         ORDER BY n ON CONFLICT (owner_id, dedupe_key) DO NOTHING",
    )
    .bind(column(|r| &r.id))
    .bind(column(|r| &r.owner_id))
    .bind(column(|r| &r.type_))
    .bind(column(|r| &r.data))
    .bind(column(|r| &r.dedupe_key))
    .bind(rows.iter().map(|r| r.created_at_ms).collect::<Vec<i64>>())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// A stored row with its dedupe key, as [`insert_many`] reads it back.
type StoredWithKey = (String, i64, String, String, String, String, i64);

fn keyed(
    (dedupe_key, seq, id, owner_id, type_, data, created_at_ms): StoredWithKey,
) -> ((String, String), Row) {
    let row = Row {
        seq,
        id,
        owner_id,
        type_,
        data,
        created_at_ms,
    };
    ((row.owner_id.clone(), dedupe_key), row)
}

/// One stored row per item of `rows` (several items of one batch may name the same event).
fn in_batch_order(
    rows: &[NewRow],
    found: &HashMap<(String, String), Row>,
) -> Result<Vec<Row>, sqlx::Error> {
    rows.iter()
        .map(|row| {
            found
                .get(&(row.owner_id.clone(), row.dedupe_key.clone()))
                .cloned()
                .ok_or(sqlx::Error::RowNotFound)
        })
        .collect()
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
