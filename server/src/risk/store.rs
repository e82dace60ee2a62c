//! Risk storage: the rejections table and the sums and counts the rules read from payments and
//! charges (read only). It never decides: [`super::Risk`] compares.

use sqlx::FromRow;

use crate::db::Db;
use crate::with_db;

#[derive(Clone, Debug, FromRow)]
pub struct RejectionRow {
    pub id: String,
    pub rule: String,
    pub user_id: String,
    pub device_id: Option<String>,
    pub merchant_id: String,
    pub amount_minor: i64,
    pub currency: String,
    pub created_at_ms: i64,
}

pub async fn insert_rejection(db: &Db, row: &RejectionRow) -> Result<(), sqlx::Error> {
    with_db!(db, pool => sqlx::query(
        "INSERT INTO risk_rejections (id, rule, user_id, device_id, merchant_id, amount_minor, \
         currency, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&row.id)
    .bind(&row.rule)
    .bind(&row.user_id)
    .bind(&row.device_id)
    .bind(&row.merchant_id)
    .bind(row.amount_minor)
    .bind(&row.currency)
    .bind(row.created_at_ms)
    .execute(pool)
    .await
    .map(|_| ()))
}

/// Rejections newest first, at most `limit`, older than the rejection `before_id` if given.
pub async fn rejections(
    db: &Db,
    before: Option<(i64, String)>,
    limit: i64,
) -> Result<Vec<RejectionRow>, sqlx::Error> {
    let (before_ms, before_id) = before.unwrap_or((i64::MAX, String::new()));
    let cursor = if before_id.is_empty() {
        "created_at_ms <= $1 AND id <> $2"
    } else {
        "(created_at_ms < $1 OR (created_at_ms = $1 AND id < $2))"
    };
    let sql = format!(
        "SELECT id, rule, user_id, device_id, merchant_id, amount_minor, currency, created_at_ms \
         FROM risk_rejections WHERE {cursor} ORDER BY created_at_ms DESC, id DESC LIMIT $3"
    );
    with_db!(db, pool => sqlx::query_as::<_, RejectionRow>(&sql)
        .bind(before_ms)
        .bind(before_id)
        .bind(limit)
        .fetch_all(pool)
        .await)
}

pub async fn rejection(db: &Db, id: &str) -> Result<Option<RejectionRow>, sqlx::Error> {
    with_db!(db, pool => sqlx::query_as::<_, RejectionRow>(
        "SELECT id, rule, user_id, device_id, merchant_id, amount_minor, currency, created_at_ms \
         FROM risk_rejections WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await)
}

/// Payments and charges `device_id` made since `since_ms` (failed ones included: each was an
/// attempt), counted up to `cap` (the velocity rule only asks whether the limit is reached; both
/// counts are index-only range scans of at most `cap` entries).
pub async fn device_attempts(
    db: &Db,
    device_id: &str,
    since_ms: i64,
    cap: i64,
) -> Result<i64, sqlx::Error> {
    with_db!(db, pool => sqlx::query_scalar::<_, i64>(
        "SELECT CAST((SELECT count(*) FROM (SELECT 1 FROM payments \
         WHERE device_id = $1 AND created_at_ms >= $2 LIMIT $3) AS p) \
         + (SELECT count(*) FROM (SELECT 1 FROM charges \
         WHERE device_id = $1 AND created_at_ms >= $2 LIMIT $3) AS c) AS BIGINT)",
    )
    .bind(device_id)
    .bind(since_ms)
    .bind(cap)
    .fetch_one(pool)
    .await)
}

/// What `user_id` paid merchants in `currency` since `since_ms` (payments and charges not
/// failed), in minor units: the seed of the daily rule's count in memory ([`crate::usage`]).
pub async fn spent_since(
    db: &Db,
    user_id: &str,
    currency: &str,
    since_ms: i64,
) -> Result<i64, sqlx::Error> {
    with_db!(db, pool => sqlx::query_scalar::<_, i64>(
        "SELECT CAST(COALESCE((SELECT SUM(amount_minor) FROM payments WHERE payer_id = $1 \
         AND currency = $2 AND created_at_ms >= $3 AND status <> 'failed'), 0) \
         + COALESCE((SELECT SUM(amount_minor) FROM charges WHERE payer_id = $1 \
         AND currency = $2 AND created_at_ms >= $3 AND status <> 'failed'), 0) AS BIGINT)",
    )
    .bind(user_id)
    .bind(currency)
    .bind(since_ms)
    .fetch_one(pool)
    .await)
}
