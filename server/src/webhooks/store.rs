//! Webhook storage: every SQL statement over `webhook_endpoints`, `webhook_deliveries` and
//! `webhook_attempts` (schema in `migrations/*/0006_webhooks.sql`).

use crate::db::Db;
use crate::with_db;

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct EndpointRow {
    pub merchant_id: String,
    pub url: String,
    pub secret: String,
    pub previous_secret: Option<String>,
    pub previous_expires_at_ms: Option<i64>,
    pub after_seq: i64,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

const ENDPOINT_COLUMNS: &str = "merchant_id, url, secret, previous_secret, \
    previous_expires_at_ms, after_seq, created_at_ms, updated_at_ms";

/// A delivery due for an attempt, as read before claiming it.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct DueRow {
    pub merchant_id: String,
    pub event_id: String,
    pub event_seq: i64,
    pub event_created_at_ms: i64,
    pub attempts: i64,
}

/// One line of the delivery log.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct AttemptRow {
    pub seq: i64,
    pub id: String,
    pub event_id: String,
    pub event_type: String,
    pub attempt: i64,
    pub status_code: Option<i64>,
    pub error: Option<String>,
    pub outcome: String,
    pub next_retry_at_ms: Option<i64>,
    pub created_at_ms: i64,
}

/// Creates the endpoint (true) or changes the URL of the existing one, keeping its secret (false).
pub async fn put_endpoint(
    db: &Db,
    merchant_id: &str,
    url: &str,
    new_secret: &str,
    after_seq: i64,
    now_ms: i64,
) -> Result<bool, sqlx::Error> {
    with_db!(db, pool => {
        let inserted = sqlx::query(
            "INSERT INTO webhook_endpoints (merchant_id, url, secret, after_seq, created_at_ms, \
             updated_at_ms) VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (merchant_id) DO NOTHING",
        )
        .bind(merchant_id)
        .bind(url)
        .bind(new_secret)
        .bind(after_seq)
        .bind(now_ms)
        .execute(pool)
        .await?
        .rows_affected();
        if inserted == 1 {
            return Ok(true);
        }
        sqlx::query("UPDATE webhook_endpoints SET url = $2, updated_at_ms = $3 WHERE merchant_id = $1")
            .bind(merchant_id)
            .bind(url)
            .bind(now_ms)
            .execute(pool)
            .await?;
        Ok(false)
    })
}

pub async fn endpoint(db: &Db, merchant_id: &str) -> Result<Option<EndpointRow>, sqlx::Error> {
    let sql = format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE merchant_id = $1");
    with_db!(db, pool => sqlx::query_as::<_, EndpointRow>(&sql)
        .bind(merchant_id)
        .fetch_optional(pool)
        .await)
}

/// Every endpoint, up to `limit`, for the dispatcher's queueing round.
pub async fn endpoints(db: &Db, limit: i64) -> Result<Vec<EndpointRow>, sqlx::Error> {
    let sql =
        format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints ORDER BY merchant_id LIMIT $1");
    with_db!(db, pool => sqlx::query_as::<_, EndpointRow>(&sql)
        .bind(limit)
        .fetch_all(pool)
        .await)
}

/// Removes the endpoint and gives up its pending deliveries; false when there was none.
pub async fn delete_endpoint(db: &Db, merchant_id: &str) -> Result<bool, sqlx::Error> {
    with_db!(db, pool => {
        let mut tx = pool.begin().await?;
        let deleted = sqlx::query("DELETE FROM webhook_endpoints WHERE merchant_id = $1")
            .bind(merchant_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query(
            "UPDATE webhook_deliveries SET state = 'failed' \
             WHERE merchant_id = $1 AND state = 'pending'",
        )
        .bind(merchant_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(deleted == 1)
    })
}

/// Makes `new_secret` current and keeps the current one valid until `previous_expires_at_ms`.
pub async fn rotate(
    db: &Db,
    merchant_id: &str,
    new_secret: &str,
    previous_expires_at_ms: i64,
    now_ms: i64,
) -> Result<bool, sqlx::Error> {
    with_db!(db, pool => sqlx::query(
        "UPDATE webhook_endpoints SET previous_secret = secret, previous_expires_at_ms = $3, \
         secret = $2, updated_at_ms = $4 WHERE merchant_id = $1",
    )
    .bind(merchant_id)
    .bind(new_secret)
    .bind(previous_expires_at_ms)
    .bind(now_ms)
    .execute(pool)
    .await
    .map(|done| done.rows_affected() == 1))
}

/// Queues one delivery per event (id, seq, created_at_ms) and moves the endpoint's cursor from
/// `from_seq` to `to_seq`. Safe to race: a delivery is queued once per event, and the cursor only
/// moves forward from where this caller read it.
pub async fn enqueue(
    db: &Db,
    merchant_id: &str,
    events: &[(String, i64, i64)],
    from_seq: i64,
    to_seq: i64,
    now_ms: i64,
) -> Result<(), sqlx::Error> {
    with_db!(db, pool => {
        let mut tx = pool.begin().await?;
        for (event_id, seq, created_at_ms) in events {
            sqlx::query(
                "INSERT INTO webhook_deliveries (merchant_id, event_id, event_seq, \
                 event_created_at_ms, state, attempts, next_attempt_at_ms, lease_until_ms) \
                 VALUES ($1, $2, $3, $4, 'pending', 0, $5, 0) \
                 ON CONFLICT (merchant_id, event_id) DO NOTHING",
            )
            .bind(merchant_id)
            .bind(event_id)
            .bind(seq)
            .bind(created_at_ms)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "UPDATE webhook_endpoints SET after_seq = $3 WHERE merchant_id = $1 AND after_seq = $2",
        )
        .bind(merchant_id)
        .bind(from_seq)
        .bind(to_seq)
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    })
}

/// Pending deliveries whose time has come and whose lease (if any) ran out, oldest first.
pub async fn due(db: &Db, now_ms: i64, limit: i64) -> Result<Vec<DueRow>, sqlx::Error> {
    with_db!(db, pool => sqlx::query_as::<_, DueRow>(
        "SELECT merchant_id, event_id, event_seq, event_created_at_ms, attempts \
         FROM webhook_deliveries \
         WHERE state = 'pending' AND next_attempt_at_ms <= $1 AND lease_until_ms < $1 \
         ORDER BY next_attempt_at_ms, event_seq LIMIT $2",
    )
    .bind(now_ms)
    .bind(limit)
    .fetch_all(pool)
    .await)
}

/// Claims attempt `seen_attempts + 1` of a delivery until `lease_until_ms`: true for exactly one
/// caller, however many processes read the same due row.
pub async fn claim(
    db: &Db,
    due: &DueRow,
    now_ms: i64,
    lease_until_ms: i64,
) -> Result<bool, sqlx::Error> {
    with_db!(db, pool => sqlx::query(
        "UPDATE webhook_deliveries SET attempts = attempts + 1, lease_until_ms = $4 \
         WHERE merchant_id = $1 AND event_id = $2 AND state = 'pending' AND attempts = $3 \
         AND lease_until_ms < $5",
    )
    .bind(&due.merchant_id)
    .bind(&due.event_id)
    .bind(due.attempts)
    .bind(lease_until_ms)
    .bind(now_ms)
    .execute(pool)
    .await
    .map(|done| done.rows_affected() == 1))
}

/// The outcome of one attempt: the delivery's new state and the log line, in one transaction.
pub struct Finished<'a> {
    pub merchant_id: &'a str,
    pub event_id: &'a str,
    pub event_type: &'a str,
    pub attempt: i64,
    pub attempt_id: &'a str,
    /// `succeeded`, `failed` or `pending` (retry at `next_attempt_at_ms`).
    pub state: &'a str,
    pub next_attempt_at_ms: Option<i64>,
    pub status_code: Option<i64>,
    pub error: Option<&'a str>,
    pub now_ms: i64,
}

pub async fn finish(db: &Db, done: &Finished<'_>) -> Result<(), sqlx::Error> {
    let outcome = match done.state {
        "pending" => "retrying",
        other => other,
    };
    with_db!(db, pool => {
        let mut tx = pool.begin().await?;
        sqlx::query(
            "UPDATE webhook_deliveries SET state = $4, next_attempt_at_ms = $5, lease_until_ms = 0 \
             WHERE merchant_id = $1 AND event_id = $2 AND attempts = $3 AND state = 'pending'",
        )
        .bind(done.merchant_id)
        .bind(done.event_id)
        .bind(done.attempt)
        .bind(done.state)
        .bind(done.next_attempt_at_ms.unwrap_or(done.now_ms))
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO webhook_attempts (id, merchant_id, event_id, event_type, attempt, \
             status_code, error, outcome, next_retry_at_ms, created_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(done.attempt_id)
        .bind(done.merchant_id)
        .bind(done.event_id)
        .bind(done.event_type)
        .bind(done.attempt)
        .bind(done.status_code)
        .bind(done.error)
        .bind(outcome)
        .bind(done.next_attempt_at_ms)
        .bind(done.now_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    })
}

/// The log of `merchant_id`, newest first, before position `before_seq` (`i64::MAX` = newest).
pub async fn attempts(
    db: &Db,
    merchant_id: &str,
    before_seq: i64,
    limit: i64,
) -> Result<Vec<AttemptRow>, sqlx::Error> {
    with_db!(db, pool => sqlx::query_as::<_, AttemptRow>(
        "SELECT seq, id, event_id, event_type, attempt, status_code, error, outcome, \
         next_retry_at_ms, created_at_ms FROM webhook_attempts \
         WHERE merchant_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3",
    )
    .bind(merchant_id)
    .bind(before_seq)
    .bind(limit)
    .fetch_all(pool)
    .await)
}

/// The position of log line `id` if it is `merchant_id`'s.
pub async fn attempt_seq(db: &Db, merchant_id: &str, id: &str) -> Result<Option<i64>, sqlx::Error> {
    with_db!(db, pool => sqlx::query_scalar::<_, i64>(
        "SELECT seq FROM webhook_attempts WHERE merchant_id = $1 AND id = $2",
    )
    .bind(merchant_id)
    .bind(id)
    .fetch_optional(pool)
    .await)
}
