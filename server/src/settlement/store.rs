//! Settlement storage: every SQL statement over `settlement_reports` and the settlement columns
//! of `topups` (schema in `migrations/*/0007_topups.sql`). Batch functions take up to
//! [`super::CHUNK_LINES`] ids at a time (one `IN (...)` list; well under SQLite's 32,766
//! parameters).

use crate::db::Db;
use crate::with_db;

/// A top-up as the matcher needs it.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Candidate {
    pub id: String,
    pub provider_ref: String,
    pub currency: String,
    pub amount_minor: i64,
    pub status: String,
    pub settled_report_id: Option<String>,
    pub chargeback_report_id: Option<String>,
}

/// A top-up the report should have listed.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Expected {
    pub id: String,
    pub provider_ref: Option<String>,
    pub currency: String,
    pub amount_minor: i64,
}

fn placeholders(from: usize, count: usize) -> String {
    (from..from + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `(status, summary)` of report `report_id`, if it was seen.
pub async fn report(
    db: &Db,
    report_id: &str,
) -> Result<Option<(String, Option<String>)>, sqlx::Error> {
    with_db!(db, pool => sqlx::query_as::<_, (String, Option<String>)>(
        "SELECT status, summary FROM settlement_reports WHERE report_id = $1",
    )
    .bind(report_id)
    .fetch_optional(pool)
    .await)
}

/// Records that the import of `report_id` started (or restarted after a crash) and forgets the
/// marks an interrupted run left, so the import starts over from a clean slate.
pub async fn begin(
    db: &Db,
    report_id: &str,
    provider: &str,
    report_date: &str,
    now_ms: i64,
) -> Result<(), sqlx::Error> {
    with_db!(db, pool => {
        sqlx::query(
            "INSERT INTO settlement_reports (report_id, provider, report_date, status, \
             started_at_ms) VALUES ($1, $2, $3, 'importing', $4) \
             ON CONFLICT (report_id) DO NOTHING",
        )
        .bind(report_id)
        .bind(provider)
        .bind(report_date)
        .bind(now_ms)
        .execute(pool)
        .await?;
        sqlx::query("UPDATE topups SET settled_report_id = NULL WHERE settled_report_id = $1")
            .bind(report_id)
            .execute(pool)
            .await?;
        sqlx::query(
            "UPDATE topups SET chargeback_report_id = NULL WHERE chargeback_report_id = $1",
        )
        .bind(report_id)
        .execute(pool)
        .await?;
        Ok(())
    })
}

/// The top-ups of `provider` with these provider references.
pub async fn candidates(
    db: &Db,
    provider: &str,
    refs: &[&str],
) -> Result<Vec<Candidate>, sqlx::Error> {
    if refs.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT id, provider_ref, currency, amount_minor, status, settled_report_id, \
         chargeback_report_id FROM topups WHERE provider = $1 AND provider_ref IN ({})",
        placeholders(2, refs.len())
    );
    with_db!(db, pool => {
        let mut query = sqlx::query_as::<_, Candidate>(&sql).bind(provider);
        for reference in refs {
            query = query.bind(*reference);
        }
        query.fetch_all(pool).await
    })
}

/// Marks top-ups as settled by `report_id` (`column` is `settled_report_id` for captures,
/// `chargeback_report_id` for chargebacks).
pub async fn mark(db: &Db, column: &str, ids: &[&str], report_id: &str) -> Result<(), sqlx::Error> {
    assert!(
        matches!(column, "settled_report_id" | "chargeback_report_id"),
        "a known column"
    );
    if ids.is_empty() {
        return Ok(());
    }
    // By primary key only: a `{column} IS NULL` filter here lets SQLite's planner pick the index
    // on `{column}` and scan every unsettled top-up per chunk (quadratic on a large report). The
    // matcher only passes top-ups it found unsettled.
    let sql = format!(
        "UPDATE topups SET {column} = $1 WHERE id IN ({})",
        placeholders(2, ids.len())
    );
    with_db!(db, pool => {
        let mut query = sqlx::query(&sql).bind(report_id);
        for id in ids {
            query = query.bind(*id);
        }
        query.execute(pool).await.map(|_| ())
    })
}

/// Up to `limit` top-ups of `provider` captured in `[from_ms, to_ms)` (or, with `chargebacks`,
/// charged back then) that no report settled, after id `after`, in id order.
pub async fn unsettled(
    db: &Db,
    provider: &str,
    chargebacks: bool,
    from_ms: i64,
    to_ms: i64,
    after: &str,
    limit: i64,
) -> Result<Vec<Expected>, sqlx::Error> {
    let sql = if chargebacks {
        "SELECT id, provider_ref, currency, amount_minor FROM topups WHERE provider = $1 \
         AND status = 'charged_back' AND chargeback_report_id IS NULL \
         AND charged_back_at_ms >= $2 AND charged_back_at_ms < $3 AND id > $4 ORDER BY id LIMIT $5"
    } else {
        "SELECT id, provider_ref, currency, amount_minor FROM topups WHERE provider = $1 \
         AND status IN ('succeeded', 'charged_back') AND settled_report_id IS NULL \
         AND captured_at_ms >= $2 AND captured_at_ms < $3 AND id > $4 ORDER BY id LIMIT $5"
    };
    with_db!(db, pool => sqlx::query_as::<_, Expected>(sql)
        .bind(provider)
        .bind(from_ms)
        .bind(to_ms)
        .bind(after)
        .bind(limit)
        .fetch_all(pool)
        .await)
}

/// Records that the report is imported, with its summary (JSON).
pub async fn finish(
    db: &Db,
    report_id: &str,
    summary: &str,
    now_ms: i64,
) -> Result<(), sqlx::Error> {
    with_db!(db, pool => sqlx::query(
        "UPDATE settlement_reports SET status = 'imported', summary = $1, imported_at_ms = $2 \
         WHERE report_id = $3",
    )
    .bind(summary)
    .bind(now_ms)
    .bind(report_id)
    .execute(pool)
    .await
    .map(|_| ()))
}
