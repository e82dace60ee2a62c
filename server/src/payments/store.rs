//! Payments storage: the only SQL of payments, charges, refunds and pay code counters, written
//! once for SQLite and PostgreSQL through [`with_db!`]. The conditional statements here are what
//! keeps the module invariants across processes: the pay code counter only rises
//! ([`stage_charges_sqlite`], run by the ledger writer in a charge's transfer transaction) and
//! refunds never pass the original amount ([`reserve_refund`]).

use sqlx::FromRow;

use crate::db::Db;
use crate::identity::store::DeviceRow;
use crate::with_db;

/// A payment of a merchant-presented code.
#[derive(Clone, Debug, FromRow)]
pub struct PaymentRow {
    pub id: String,
    pub merchant_id: String,
    pub payer_id: String,
    pub payer_wallet: String,
    pub device_id: String,
    pub idempotency_key: String,
    pub amount_minor: i64,
    pub currency: String,
    pub reference: Option<String>,
    pub status: String,
    pub refunded_minor: i64,
    pub transfer_id: Option<String>,
    pub created_at_ms: i64,
}

/// A charge of a consumer pay code.
#[derive(Clone, Debug, FromRow)]
pub struct ChargeRow {
    pub id: String,
    pub merchant_id: String,
    pub payer_id: String,
    pub payer_wallet: String,
    pub device_id: String,
    pub counter: i64,
    pub idempotency_key: String,
    pub amount_minor: i64,
    pub currency: String,
    pub reference: Option<String>,
    pub status: String,
    pub refunded_minor: i64,
    pub transfer_id: Option<String>,
    pub created_at_ms: i64,
}

#[derive(Clone, Debug, FromRow)]
pub struct RefundRow {
    pub id: String,
    pub payment_id: String,
    pub merchant_id: String,
    pub idempotency_key: String,
    pub amount_minor: i64,
    pub currency: String,
    pub reason: Option<String>,
    pub status: String,
    pub transfer_id: Option<String>,
    pub created_at_ms: i64,
}

const PAYMENT_COLUMNS: &str = "id, merchant_id, payer_id, payer_wallet, device_id, \
    idempotency_key, amount_minor, currency, reference, status, refunded_minor, transfer_id, \
    created_at_ms";
const CHARGE_COLUMNS: &str = "id, merchant_id, payer_id, payer_wallet, device_id, counter, \
    idempotency_key, amount_minor, currency, reference, status, refunded_minor, transfer_id, \
    created_at_ms";
const REFUND_COLUMNS: &str = "id, payment_id, merchant_id, idempotency_key, amount_minor, \
    currency, reason, status, transfer_id, created_at_ms";

/// Which table a payable lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    Payments,
    Charges,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Table::Payments => "payments",
            Table::Charges => "charges",
        }
    }
}

// --- payments ------------------------------------------------------------------------------------

/// Inserts `row` (pending) unless the payer already used its idempotency key; answers the row
/// stored under the key either way.
pub async fn insert_payment_or_get(db: &Db, row: &PaymentRow) -> Result<PaymentRow, sqlx::Error> {
    with_db!(db, pool => sqlx::query(
        "INSERT INTO payments (id, merchant_id, payer_id, payer_wallet, device_id, \
         idempotency_key, amount_minor, currency, reference, status, refunded_minor, created_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', 0, $10) \
         ON CONFLICT (payer_id, idempotency_key) DO NOTHING",
    )
    .bind(&row.id)
    .bind(&row.merchant_id)
    .bind(&row.payer_id)
    .bind(&row.payer_wallet)
    .bind(&row.device_id)
    .bind(&row.idempotency_key)
    .bind(row.amount_minor)
    .bind(&row.currency)
    .bind(&row.reference)
    .bind(row.created_at_ms)
    .execute(pool)
    .await
    .map(|_| ()))?;
    let sql = format!(
        "SELECT {PAYMENT_COLUMNS} FROM payments WHERE payer_id = $1 AND idempotency_key = $2"
    );
    with_db!(db, pool => sqlx::query_as::<_, PaymentRow>(&sql)
        .bind(&row.payer_id)
        .bind(&row.idempotency_key)
        .fetch_one(pool)
        .await)
}

pub async fn payment(db: &Db, id: &str) -> Result<Option<PaymentRow>, sqlx::Error> {
    let sql = format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE id = $1");
    with_db!(db, pool => sqlx::query_as::<_, PaymentRow>(&sql).bind(id).fetch_optional(pool).await)
}

/// Marks a pending payment or charge `succeeded` (with its transfer) or `failed`.
pub async fn settle(
    db: &Db,
    table: Table,
    id: &str,
    status: &str,
    transfer_id: Option<&str>,
) -> Result<(), sqlx::Error> {
    let sql = format!(
        "UPDATE {} SET status = $1, transfer_id = $2 WHERE id = $3 AND status <> 'succeeded'",
        table.name()
    );
    with_db!(db, pool => sqlx::query(&sql)
        .bind(status)
        .bind(transfer_id)
        .bind(id)
        .execute(pool)
        .await
        .map(|_| ()))
}

// --- charges and pay code counters ---------------------------------------------------------------

/// The counter upsert of a pay code claim: raises a device's counter only if the new one is
/// above the stored one (a conditional upsert, so two processes cannot both accept a counter).
const RAISE_COUNTERS_SUFFIX: &str = " ON CONFLICT (device_id) DO UPDATE SET last_counter = \
    excluded.last_counter WHERE paycode_counters.last_counter < excluded.last_counter";
const CHARGE_INSERT_COLUMNS: &str = "id, merchant_id, payer_id, payer_wallet, device_id, counter, \
    idempotency_key, amount_minor, currency, reference, status, refunded_minor, transfer_id, \
    created_at_ms";

/// Claims the pay codes of `rows` (at most one per device) and stores the rows with their status
/// and transfer, on a SQLite connection inside the caller's transaction (the ledger writer's
/// batch): one multi-row statement for the counters, one for the charges. `Ok(false)` when some
/// counter was not above its device's last accepted one (a replay; the caller rolls back); a
/// charge already holding a row's idempotency key, counter or id is a unique violation, left to
/// the caller.
pub async fn stage_charges_sqlite(
    conn: &mut sqlx::SqliteConnection,
    rows: &[&ChargeRow],
) -> Result<bool, sqlx::Error> {
    let mut raised = 0;
    for chunk in crate::db::sqlite_chunks(rows) {
        let sql = crate::db::sqlite_values(
            "INSERT INTO paycode_counters (device_id, last_counter) VALUES ",
            2,
            chunk.len(),
            RAISE_COUNTERS_SUFFIX,
        );
        let mut query = sqlx::query(&sql);
        for row in chunk {
            query = query.bind(&row.device_id).bind(row.counter);
        }
        raised += query.execute(&mut *conn).await?.rows_affected();
    }
    if raised != rows.len() as u64 {
        return Ok(false);
    }
    for chunk in crate::db::sqlite_chunks(rows) {
        let sql = crate::db::sqlite_values(
            &format!("INSERT INTO charges ({CHARGE_INSERT_COLUMNS}) VALUES "),
            14,
            chunk.len(),
            "",
        );
        let mut query = sqlx::query(&sql);
        for row in chunk {
            query = query
                .bind(&row.id)
                .bind(&row.merchant_id)
                .bind(&row.payer_id)
                .bind(&row.payer_wallet)
                .bind(&row.device_id)
                .bind(row.counter)
                .bind(&row.idempotency_key)
                .bind(row.amount_minor)
                .bind(&row.currency)
                .bind(&row.reference)
                .bind(&row.status)
                .bind(row.refunded_minor)
                .bind(&row.transfer_id)
                .bind(row.created_at_ms);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(true)
}

/// [`stage_charges_sqlite`] on PostgreSQL: the same two statements over `UNNEST`ed arrays (one
/// device at most once, or the upsert would fail on touching a row twice).
pub async fn stage_charges_postgres(
    conn: &mut sqlx::PgConnection,
    rows: &[&ChargeRow],
) -> Result<bool, sqlx::Error> {
    let text = |f: fn(&ChargeRow) -> &str| rows.iter().map(|r| f(r)).collect::<Vec<&str>>();
    let number = |f: fn(&ChargeRow) -> i64| rows.iter().map(|r| f(r)).collect::<Vec<i64>>();
    let raised = sqlx::query(&format!(
        "INSERT INTO paycode_counters (device_id, last_counter) \
         SELECT * FROM unnest($1::text[], $2::bigint[]){RAISE_COUNTERS_SUFFIX}"
    ))
    .bind(text(|r| &r.device_id))
    .bind(number(|r| r.counter))
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if raised != rows.len() as u64 {
        return Ok(false);
    }
    sqlx::query(&format!(
        "INSERT INTO charges ({CHARGE_INSERT_COLUMNS}) \
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
           $6::bigint[], $7::text[], $8::bigint[], $9::text[], $10::text[], $11::text[], \
           $12::bigint[], $13::text[], $14::bigint[])"
    ))
    .bind(text(|r| &r.id))
    .bind(text(|r| &r.merchant_id))
    .bind(text(|r| &r.payer_id))
    .bind(text(|r| &r.payer_wallet))
    .bind(text(|r| &r.device_id))
    .bind(number(|r| r.counter))
    .bind(text(|r| &r.idempotency_key))
    .bind(number(|r| r.amount_minor))
    .bind(text(|r| &r.currency))
    .bind(
        rows.iter()
            .map(|r| r.reference.as_deref())
            .collect::<Vec<Option<&str>>>(),
    )
    .bind(text(|r| &r.status))
    .bind(number(|r| r.refunded_minor))
    .bind(
        rows.iter()
            .map(|r| r.transfer_id.as_deref())
            .collect::<Vec<Option<&str>>>(),
    )
    .bind(number(|r| r.created_at_ms))
    .execute(&mut *conn)
    .await?;
    Ok(true)
}

pub async fn charge(db: &Db, id: &str) -> Result<Option<ChargeRow>, sqlx::Error> {
    let sql = format!("SELECT {CHARGE_COLUMNS} FROM charges WHERE id = $1");
    with_db!(db, pool => sqlx::query_as::<_, ChargeRow>(&sql).bind(id).fetch_optional(pool).await)
}

pub async fn charge_by_key(
    db: &Db,
    merchant_id: &str,
    key: &str,
) -> Result<Option<ChargeRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {CHARGE_COLUMNS} FROM charges WHERE merchant_id = $1 AND idempotency_key = $2"
    );
    with_db!(db, pool => sqlx::query_as::<_, ChargeRow>(&sql)
        .bind(merchant_id)
        .bind(key)
        .fetch_optional(pool)
        .await)
}

/// The device a pay code key id names, from the key id index.
pub async fn device_of_key_id(db: &Db, key_id: &str) -> Result<Option<DeviceRow>, sqlx::Error> {
    with_db!(db, pool => sqlx::query_as::<_, DeviceRow>(
        "SELECT d.id, d.user_id, d.public_key, d.name, d.created_at_ms, d.revoked_at_ms \
         FROM device_key_ids k JOIN devices d ON d.id = k.device_id WHERE k.key_id = $1",
    )
    .bind(key_id)
    .fetch_optional(pool)
    .await)
}

/// Devices not yet in the key id index (read from identity's `devices`, never written), at most
/// `limit`.
pub async fn devices_without_key_id(db: &Db, limit: i64) -> Result<Vec<DeviceRow>, sqlx::Error> {
    with_db!(db, pool => sqlx::query_as::<_, DeviceRow>(
        "SELECT d.id, d.user_id, d.public_key, d.name, d.created_at_ms, d.revoked_at_ms \
         FROM devices d LEFT JOIN device_key_ids k ON k.device_id = d.id \
         WHERE k.device_id IS NULL ORDER BY d.created_at_ms LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await)
}

pub async fn insert_device_key_id(
    db: &Db,
    key_id: &str,
    device_id: &str,
) -> Result<(), sqlx::Error> {
    with_db!(db, pool => sqlx::query(
        "INSERT INTO device_key_ids (key_id, device_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(key_id)
    .bind(device_id)
    .execute(pool)
    .await
    .map(|_| ()))
}

// --- refunds -------------------------------------------------------------------------------------

/// What reserving a refund did.
#[derive(Debug)]
pub enum Reserve {
    Reserved,
    /// The refund would take the total refunded above the original amount.
    Exceeds,
}

/// In one transaction: adds `row.amount_minor` to the payable's `refunded_minor` only if the
/// total stays within the original amount (a conditional UPDATE, safe across processes), and
/// inserts the pending refund.
pub async fn reserve_refund(
    db: &Db,
    table: Table,
    row: &RefundRow,
) -> Result<Reserve, sqlx::Error> {
    let update = format!(
        "UPDATE {} SET refunded_minor = refunded_minor + $1 \
         WHERE id = $2 AND status = 'succeeded' AND refunded_minor + $1 <= amount_minor",
        table.name()
    );
    with_db!(db, pool => {
        let mut tx = pool.begin().await?;
        let reserved = sqlx::query(&update)
            .bind(row.amount_minor)
            .bind(&row.payment_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if reserved != 1 {
            tx.rollback().await?;
            return Ok(Reserve::Exceeds);
        }
        sqlx::query(
            "INSERT INTO refunds (id, payment_id, merchant_id, idempotency_key, amount_minor, \
             currency, reason, status, created_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8)",
        )
        .bind(&row.id)
        .bind(&row.payment_id)
        .bind(&row.merchant_id)
        .bind(&row.idempotency_key)
        .bind(row.amount_minor)
        .bind(&row.currency)
        .bind(&row.reason)
        .bind(row.created_at_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Reserve::Reserved)
    })
}

/// Gives a failed refund's reservation back and marks it failed, in one transaction.
pub async fn release_refund(db: &Db, table: Table, refund: &RefundRow) -> Result<(), sqlx::Error> {
    let update = format!(
        "UPDATE {} SET refunded_minor = refunded_minor - $1 WHERE id = $2",
        table.name()
    );
    with_db!(db, pool => {
        let mut tx = pool.begin().await?;
        let marked = sqlx::query(
            "UPDATE refunds SET status = 'failed' WHERE id = $1 AND status = 'pending'",
        )
        .bind(&refund.id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        // Only the one request that moved it out of pending gives the amount back.
        if marked == 1 {
            sqlx::query(&update)
                .bind(refund.amount_minor)
                .bind(&refund.payment_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await
    })
}

pub async fn refund_succeeded(db: &Db, id: &str, transfer_id: &str) -> Result<(), sqlx::Error> {
    with_db!(db, pool => sqlx::query(
        "UPDATE refunds SET status = 'succeeded', transfer_id = $1 WHERE id = $2",
    )
    .bind(transfer_id)
    .bind(id)
    .execute(pool)
    .await
    .map(|_| ()))
}

pub async fn refund(db: &Db, id: &str) -> Result<Option<RefundRow>, sqlx::Error> {
    let sql = format!("SELECT {REFUND_COLUMNS} FROM refunds WHERE id = $1");
    with_db!(db, pool => sqlx::query_as::<_, RefundRow>(&sql).bind(id).fetch_optional(pool).await)
}

pub async fn refund_by_key(
    db: &Db,
    merchant_id: &str,
    key: &str,
) -> Result<Option<RefundRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {REFUND_COLUMNS} FROM refunds WHERE merchant_id = $1 AND idempotency_key = $2"
    );
    with_db!(db, pool => sqlx::query_as::<_, RefundRow>(&sql)
        .bind(merchant_id)
        .bind(key)
        .fetch_optional(pool)
        .await)
}

pub async fn payment_by_key(
    db: &Db,
    payer_id: &str,
    key: &str,
) -> Result<Option<PaymentRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {PAYMENT_COLUMNS} FROM payments WHERE payer_id = $1 AND idempotency_key = $2"
    );
    with_db!(db, pool => sqlx::query_as::<_, PaymentRow>(&sql)
        .bind(payer_id)
        .bind(key)
        .fetch_optional(pool)
        .await)
}

/// Refunds still pending that were created before `before_ms`, oldest first, at most `limit`.
pub async fn stale_pending_refunds(
    db: &Db,
    before_ms: i64,
    limit: i64,
) -> Result<Vec<RefundRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {REFUND_COLUMNS} FROM refunds WHERE status = 'pending' AND created_at_ms < $1 \
         ORDER BY created_at_ms LIMIT $2"
    );
    with_db!(db, pool => sqlx::query_as::<_, RefundRow>(&sql)
        .bind(before_ms)
        .bind(limit)
        .fetch_all(pool)
        .await)
}

/// Payments still pending that were created before `before_ms`, oldest first, at most `limit`.
pub async fn stale_pending_payments(
    db: &Db,
    before_ms: i64,
    limit: i64,
) -> Result<Vec<PaymentRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {PAYMENT_COLUMNS} FROM payments WHERE status = 'pending' AND created_at_ms < $1 \
         ORDER BY created_at_ms LIMIT $2"
    );
    with_db!(db, pool => sqlx::query_as::<_, PaymentRow>(&sql)
        .bind(before_ms)
        .bind(limit)
        .fetch_all(pool)
        .await)
}

/// Charges still pending that were created before `before_ms`, oldest first, at most `limit`.
pub async fn stale_pending_charges(
    db: &Db,
    before_ms: i64,
    limit: i64,
) -> Result<Vec<ChargeRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {CHARGE_COLUMNS} FROM charges WHERE status = 'pending' AND created_at_ms < $1 \
         ORDER BY created_at_ms LIMIT $2"
    );
    with_db!(db, pool => sqlx::query_as::<_, ChargeRow>(&sql)
        .bind(before_ms)
        .bind(limit)
        .fetch_all(pool)
        .await)
}
