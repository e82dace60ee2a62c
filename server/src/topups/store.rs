//! Top-up storage: every SQL statement over `topups` and `provider_webhook_events` (schema in
//! `migrations/*/0007_topups.sql`). State changes are conditional updates (`WHERE status IN
//! (...)`), so two deliveries of one webhook race harmlessly: one wins, the other changes nothing.

use crate::db::Db;
use crate::with_db;

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Row {
    pub id: String,
    pub owner_id: String,
    pub wallet_id: String,
    pub currency: String,
    pub amount_minor: i64,
    pub method: String,
    pub status: String,
    pub provider: String,
    pub provider_ref: Option<String>,
    pub next_action_url: Option<String>,
    pub failure_code: Option<String>,
    pub transfer_id: Option<String>,
    pub captured_at_ms: Option<i64>,
    pub charged_back_at_ms: Option<i64>,
    pub created_at_ms: i64,
}

const COLUMNS: &str = "id, owner_id, wallet_id, currency, amount_minor, method, status, provider, \
                       provider_ref, next_action_url, failure_code, transfer_id, captured_at_ms, \
                       charged_back_at_ms, created_at_ms";

pub async fn insert(db: &Db, row: &Row) -> Result<(), sqlx::Error> {
    with_db!(db, pool => sqlx::query(
        "INSERT INTO topups (id, owner_id, wallet_id, currency, amount_minor, method, status, \
         provider, created_at_ms, updated_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
    )
    .bind(&row.id)
    .bind(&row.owner_id)
    .bind(&row.wallet_id)
    .bind(&row.currency)
    .bind(row.amount_minor)
    .bind(&row.method)
    .bind(&row.status)
    .bind(&row.provider)
    .bind(row.created_at_ms)
    .execute(pool)
    .await
    .map(|_| ()))
}

pub async fn get(db: &Db, id: &str) -> Result<Option<Row>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM topups WHERE id = $1");
    with_db!(db, pool => sqlx::query_as::<_, Row>(&sql).bind(id).fetch_optional(pool).await)
}

pub async fn by_provider_ref(
    db: &Db,
    provider: &str,
    provider_ref: &str,
) -> Result<Option<Row>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM topups WHERE provider = $1 AND provider_ref = $2");
    with_db!(db, pool => sqlx::query_as::<_, Row>(&sql)
        .bind(provider)
        .bind(provider_ref)
        .fetch_optional(pool)
        .await)
}

/// Records the provider's intent and the payer's next step of a pending top-up.
pub async fn set_intent(
    db: &Db,
    id: &str,
    provider_ref: &str,
    next_action_url: &str,
    now_ms: i64,
) -> Result<(), sqlx::Error> {
    with_db!(db, pool => sqlx::query(
        "UPDATE topups SET provider_ref = $1, next_action_url = $2, updated_at_ms = $3 \
         WHERE id = $4 AND provider_ref IS NULL",
    )
    .bind(provider_ref)
    .bind(next_action_url)
    .bind(now_ms)
    .bind(id)
    .execute(pool)
    .await
    .map(|_| ()))
}

/// `pending` (or `failed`/`canceled`, when the provider's truth says captured after all) →
/// `succeeded`; true when this call made the change.
pub async fn mark_succeeded(
    db: &Db,
    id: &str,
    transfer_id: &str,
    captured_at_ms: i64,
    now_ms: i64,
) -> Result<bool, sqlx::Error> {
    with_db!(db, pool => sqlx::query(
        "UPDATE topups SET status = 'succeeded', transfer_id = $1, captured_at_ms = $2, \
         failure_code = NULL, updated_at_ms = $3 \
         WHERE id = $4 AND status IN ('pending', 'failed', 'canceled')",
    )
    .bind(transfer_id)
    .bind(captured_at_ms)
    .bind(now_ms)
    .bind(id)
    .execute(pool)
    .await
    .map(|done| done.rows_affected() == 1))
}

/// `pending` → `failed` (or `canceled`); true when this call made the change.
pub async fn mark_failed(
    db: &Db,
    id: &str,
    status: &str,
    failure_code: &str,
    now_ms: i64,
) -> Result<bool, sqlx::Error> {
    with_db!(db, pool => sqlx::query(
        "UPDATE topups SET status = $1, failure_code = $2, updated_at_ms = $3 \
         WHERE id = $4 AND status = 'pending'",
    )
    .bind(status)
    .bind(failure_code)
    .bind(now_ms)
    .bind(id)
    .execute(pool)
    .await
    .map(|done| done.rows_affected() == 1))
}

/// `succeeded` → `charged_back`; true when this call made the change.
pub async fn mark_charged_back(
    db: &Db,
    id: &str,
    charged_back_at_ms: i64,
    now_ms: i64,
) -> Result<bool, sqlx::Error> {
    with_db!(db, pool => sqlx::query(
        "UPDATE topups SET status = 'charged_back', charged_back_at_ms = $1, updated_at_ms = $2 \
         WHERE id = $3 AND status = 'succeeded'",
    )
    .bind(charged_back_at_ms)
    .bind(now_ms)
    .bind(id)
    .execute(pool)
    .await
    .map(|done| done.rows_affected() == 1))
}

/// True when `(provider, event_id)` was applied before.
pub async fn webhook_seen(db: &Db, provider: &str, event_id: &str) -> Result<bool, sqlx::Error> {
    with_db!(db, pool => sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM provider_webhook_events WHERE provider = $1 AND event_id = $2",
    )
    .bind(provider)
    .bind(event_id)
    .fetch_one(pool)
    .await
    .map(|n| n > 0))
}

/// Remembers that `(provider, event_id)` was applied.
pub async fn webhook_applied(
    db: &Db,
    provider: &str,
    event_id: &str,
    type_: &str,
    now_ms: i64,
) -> Result<(), sqlx::Error> {
    with_db!(db, pool => sqlx::query(
        "INSERT INTO provider_webhook_events (provider, event_id, type, received_at_ms) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (provider, event_id) DO NOTHING",
    )
    .bind(provider)
    .bind(event_id)
    .bind(type_)
    .bind(now_ms)
    .execute(pool)
    .await
    .map(|_| ()))
}
