//! The sandbox acquirer's storage: every SQL statement over `sandbox_intents` (schema in
//! `migrations/*/0007_topups.sql`). Purse's own code never reads this table.

use crate::db::Db;
use crate::with_db;

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Row {
    pub id: String,
    pub amount_minor: i64,
    pub currency: String,
    pub method: String,
    pub status: String,
    pub reference: String,
    pub fee_minor: i64,
    pub created_at_ms: i64,
    pub captured_at_ms: Option<i64>,
    pub declined_at_ms: Option<i64>,
    pub charged_back_at_ms: Option<i64>,
}

const COLUMNS: &str = "id, amount_minor, currency, method, status, reference, fee_minor, \
                       created_at_ms, captured_at_ms, declined_at_ms, charged_back_at_ms";

pub async fn insert(db: &Db, row: &Row) -> Result<(), sqlx::Error> {
    with_db!(db, pool => sqlx::query(
        "INSERT INTO sandbox_intents (id, amount_minor, currency, method, status, reference, \
         fee_minor, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&row.id)
    .bind(row.amount_minor)
    .bind(&row.currency)
    .bind(&row.method)
    .bind(&row.status)
    .bind(&row.reference)
    .bind(row.fee_minor)
    .bind(row.created_at_ms)
    .execute(pool)
    .await
    .map(|_| ()))
}

pub async fn get(db: &Db, id: &str) -> Result<Option<Row>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM sandbox_intents WHERE id = $1");
    with_db!(db, pool => sqlx::query_as::<_, Row>(&sql)
        .bind(id)
        .fetch_optional(pool)
        .await)
}

/// Moves intent `id` from `from` to `to`, stamping `stamp_column` with `now_ms`; false when it was
/// not in `from` (someone else moved it first).
pub async fn transition(
    db: &Db,
    id: &str,
    from: &str,
    to: &str,
    stamp_column: &str,
    now_ms: i64,
) -> Result<bool, sqlx::Error> {
    assert!(
        matches!(
            stamp_column,
            "captured_at_ms" | "declined_at_ms" | "charged_back_at_ms"
        ),
        "a known column"
    );
    let sql = format!(
        "UPDATE sandbox_intents SET status = $1, {stamp_column} = $2 WHERE id = $3 AND status = $4"
    );
    with_db!(db, pool => sqlx::query(&sql)
        .bind(to)
        .bind(now_ms)
        .bind(id)
        .bind(from)
        .execute(pool)
        .await
        .map(|done| done.rows_affected() == 1))
}

/// Intents captured, or charged back, in `[from_ms, to_ms)`, in time order.
pub async fn settled_between(
    db: &Db,
    from_ms: i64,
    to_ms: i64,
) -> Result<(Vec<Row>, Vec<Row>), sqlx::Error> {
    let captured = format!(
        "SELECT {COLUMNS} FROM sandbox_intents WHERE captured_at_ms >= $1 AND captured_at_ms < $2 \
         ORDER BY captured_at_ms, id"
    );
    let charged_back = format!(
        "SELECT {COLUMNS} FROM sandbox_intents WHERE charged_back_at_ms >= $1 \
         AND charged_back_at_ms < $2 ORDER BY charged_back_at_ms, id"
    );
    with_db!(db, pool => {
        let captured = sqlx::query_as::<_, Row>(&captured)
            .bind(from_ms)
            .bind(to_ms)
            .fetch_all(pool)
            .await?;
        let charged_back = sqlx::query_as::<_, Row>(&charged_back)
            .bind(from_ms)
            .bind(to_ms)
            .fetch_all(pool)
            .await?;
        Ok((captured, charged_back))
    })
}
