//! Merchant storage: the only SQL of the merchants area (profiles, signing keys, POS API keys,
//! QR codes), written once for SQLite and PostgreSQL through [`with_db!`]. It never decides who
//! may do what: callers pass ids in and read rows out.

use sqlx::FromRow;

use crate::db::Db;
use crate::with_db;

/// Whether `err` is a `UNIQUE` (or primary key) violation.
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct MerchantRow {
    pub id: String,
    pub owner_id: String,
    pub name: String,
    pub city: String,
    pub country: String,
    pub mcc: String,
    pub currency: String,
    pub wallet_id: String,
    pub status: String,
    pub created_at_ms: i64,
}

#[derive(Clone, Debug, FromRow)]
pub struct KeyRow {
    pub key_id: String,
    pub merchant_id: String,
    pub public_key: Vec<u8>,
    pub secret_seed: Option<Vec<u8>>,
    pub created_at_ms: i64,
    pub revoked_at_ms: Option<i64>,
}

#[derive(Clone, Debug, FromRow)]
pub struct ApiKeyRow {
    pub id: String,
    pub merchant_id: String,
    pub name: String,
    pub created_at_ms: i64,
    pub revoked_at_ms: Option<i64>,
}

#[derive(Clone, Debug, FromRow)]
pub struct QrRow {
    pub id: String,
    pub merchant_id: String,
    pub kind: String,
    pub key_id: String,
    pub amount_minor: Option<i64>,
    pub currency: String,
    pub reference: Option<String>,
    pub expires_at_ms: Option<i64>,
    pub payload: String,
    pub created_at_ms: i64,
}

const MERCHANT_COLUMNS: &str =
    "id, owner_id, name, city, country, mcc, currency, wallet_id, status, created_at_ms";
const KEY_COLUMNS: &str =
    "key_id, merchant_id, public_key, secret_seed, created_at_ms, revoked_at_ms";
const API_KEY_COLUMNS: &str = "id, merchant_id, name, created_at_ms, revoked_at_ms";

pub async fn insert_merchant(db: &Db, row: &MerchantRow) -> Result<(), sqlx::Error> {
    with_db!(db, pool => sqlx::query(
        "INSERT INTO merchants (id, owner_id, name, city, country, mcc, currency, wallet_id, \
         status, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&row.id)
    .bind(&row.owner_id)
    .bind(&row.name)
    .bind(&row.city)
    .bind(&row.country)
    .bind(&row.mcc)
    .bind(&row.currency)
    .bind(&row.wallet_id)
    .bind(&row.status)
    .bind(row.created_at_ms)
    .execute(pool)
    .await
    .map(|_| ()))
}

pub async fn merchant(db: &Db, id: &str) -> Result<Option<MerchantRow>, sqlx::Error> {
    let sql = format!("SELECT {MERCHANT_COLUMNS} FROM merchants WHERE id = $1");
    with_db!(db, pool => sqlx::query_as::<_, MerchantRow>(&sql).bind(id).fetch_optional(pool).await)
}

/// The merchants of `owner_id`, newest first, older than `before` (created_at_ms, id) if given,
/// at most `limit`.
pub async fn merchants_of(
    db: &Db,
    owner_id: &str,
    before: Option<(i64, String)>,
    limit: i64,
) -> Result<Vec<MerchantRow>, sqlx::Error> {
    let (before_ms, before_id) = before.unwrap_or((i64::MAX, String::new()));
    let sql = format!(
        "SELECT {MERCHANT_COLUMNS} FROM merchants WHERE owner_id = $1 \
         AND (created_at_ms < $2 OR (created_at_ms = $2 AND id < $3) OR $3 = '') \
         ORDER BY created_at_ms DESC, id DESC LIMIT $4"
    );
    with_db!(db, pool => sqlx::query_as::<_, MerchantRow>(&sql)
        .bind(owner_id)
        .bind(before_ms)
        .bind(before_id)
        .bind(limit)
        .fetch_all(pool)
        .await)
}

pub async fn set_merchant_status(db: &Db, id: &str, status: &str) -> Result<(), sqlx::Error> {
    with_db!(db, pool => sqlx::query("UPDATE merchants SET status = $1 WHERE id = $2")
        .bind(status)
        .bind(id)
        .execute(pool)
        .await
        .map(|_| ()))
}

/// Inserts a signing key; a key id or public key registered before is a unique violation.
pub async fn insert_key(db: &Db, row: &KeyRow) -> Result<(), sqlx::Error> {
    with_db!(db, pool => sqlx::query(
        "INSERT INTO merchant_keys (key_id, merchant_id, public_key, secret_seed, created_at_ms) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&row.key_id)
    .bind(&row.merchant_id)
    .bind(&row.public_key)
    .bind(&row.secret_seed)
    .bind(row.created_at_ms)
    .execute(pool)
    .await
    .map(|_| ()))
}

pub async fn key(db: &Db, key_id: &str) -> Result<Option<KeyRow>, sqlx::Error> {
    let sql = format!("SELECT {KEY_COLUMNS} FROM merchant_keys WHERE key_id = $1");
    with_db!(db, pool => sqlx::query_as::<_, KeyRow>(&sql).bind(key_id).fetch_optional(pool).await)
}

/// Every key of `merchant_id`, oldest first.
pub async fn keys_of(db: &Db, merchant_id: &str) -> Result<Vec<KeyRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {KEY_COLUMNS} FROM merchant_keys WHERE merchant_id = $1 \
         ORDER BY created_at_ms, key_id"
    );
    with_db!(db, pool => sqlx::query_as::<_, KeyRow>(&sql).bind(merchant_id).fetch_all(pool).await)
}

/// Revokes a key of `merchant_id`; revoking twice keeps the first time.
pub async fn revoke_key(
    db: &Db,
    merchant_id: &str,
    key_id: &str,
    now_ms: i64,
) -> Result<(), sqlx::Error> {
    with_db!(db, pool => sqlx::query(
        "UPDATE merchant_keys SET revoked_at_ms = $1 \
         WHERE merchant_id = $2 AND key_id = $3 AND revoked_at_ms IS NULL",
    )
    .bind(now_ms)
    .bind(merchant_id)
    .bind(key_id)
    .execute(pool)
    .await
    .map(|_| ()))
}

pub async fn insert_api_key(
    db: &Db,
    row: &ApiKeyRow,
    secret_hash: &[u8],
) -> Result<(), sqlx::Error> {
    with_db!(db, pool => sqlx::query(
        "INSERT INTO merchant_api_keys (id, merchant_id, name, secret_hash, created_at_ms) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&row.id)
    .bind(&row.merchant_id)
    .bind(&row.name)
    .bind(secret_hash)
    .bind(row.created_at_ms)
    .execute(pool)
    .await
    .map(|_| ()))
}

pub async fn api_keys_of(
    db: &Db,
    merchant_id: &str,
    limit: i64,
) -> Result<Vec<ApiKeyRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {API_KEY_COLUMNS} FROM merchant_api_keys WHERE merchant_id = $1 \
         ORDER BY created_at_ms DESC, id DESC LIMIT $2"
    );
    with_db!(db, pool => sqlx::query_as::<_, ApiKeyRow>(&sql)
        .bind(merchant_id)
        .bind(limit)
        .fetch_all(pool)
        .await)
}

/// An unrevoked API key and its merchant, read together.
#[derive(Debug, FromRow)]
pub struct LiveApiKey {
    pub api_key_id: String,
    #[sqlx(flatten)]
    pub merchant: MerchantRow,
}

/// The unrevoked API key whose secret hashes to `secret_hash`, with its merchant as it is now
/// (one round trip: every POS request starts here).
pub async fn live_api_key_by_hash(
    db: &Db,
    secret_hash: &[u8],
) -> Result<Option<LiveApiKey>, sqlx::Error> {
    let merchant_columns = MERCHANT_COLUMNS
        .split(", ")
        .map(|column| format!("m.{column}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT k.id AS api_key_id, {merchant_columns} FROM merchant_api_keys k \
         JOIN merchants m ON m.id = k.merchant_id \
         WHERE k.secret_hash = $1 AND k.revoked_at_ms IS NULL"
    );
    with_db!(db, pool => sqlx::query_as::<_, LiveApiKey>(&sql)
        .bind(secret_hash)
        .fetch_optional(pool)
        .await)
}

/// Revokes an API key of `merchant_id`; `false` when it has no such key.
pub async fn revoke_api_key(
    db: &Db,
    merchant_id: &str,
    id: &str,
    now_ms: i64,
) -> Result<bool, sqlx::Error> {
    with_db!(db, pool => {
        sqlx::query(
            "UPDATE merchant_api_keys SET revoked_at_ms = $1 \
             WHERE merchant_id = $2 AND id = $3 AND revoked_at_ms IS NULL",
        )
        .bind(now_ms)
        .bind(merchant_id)
        .bind(id)
        .execute(pool)
        .await?;
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM merchant_api_keys WHERE merchant_id = $1 AND id = $2",
        )
        .bind(merchant_id)
        .bind(id)
        .fetch_one(pool)
        .await
        .map(|n| n > 0)
    })
}

pub async fn api_key(
    db: &Db,
    merchant_id: &str,
    id: &str,
) -> Result<Option<ApiKeyRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {API_KEY_COLUMNS} FROM merchant_api_keys WHERE merchant_id = $1 AND id = $2"
    );
    with_db!(db, pool => sqlx::query_as::<_, ApiKeyRow>(&sql)
        .bind(merchant_id)
        .bind(id)
        .fetch_optional(pool)
        .await)
}

/// Inserts a QR code; a dynamic code's reference used before by this merchant is a unique
/// violation.
pub async fn insert_qr(db: &Db, row: &QrRow) -> Result<(), sqlx::Error> {
    with_db!(db, pool => sqlx::query(
        "INSERT INTO merchant_qr_codes (id, merchant_id, kind, key_id, amount_minor, currency, \
         reference, expires_at_ms, payload, created_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&row.id)
    .bind(&row.merchant_id)
    .bind(&row.kind)
    .bind(&row.key_id)
    .bind(row.amount_minor)
    .bind(&row.currency)
    .bind(&row.reference)
    .bind(row.expires_at_ms)
    .bind(&row.payload)
    .bind(row.created_at_ms)
    .execute(pool)
    .await
    .map(|_| ()))
}
