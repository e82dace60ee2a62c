//! Identity storage: the only SQL of the identity area (users, sessions and refresh tokens,
//! devices, device-signature nonces, login back-off counters, the server's signing key), written
//! once for SQLite and PostgreSQL through [`with_db!`]. It never decides policy (how long a lock
//! lasts, whether a password matches): callers pass the numbers in and read the facts out.

use sqlx::FromRow;

use super::error::IdentityError;
use super::login_id::LoginId;
use crate::db::Db;
use crate::with_db;

impl From<sqlx::Error> for IdentityError {
    fn from(err: sqlx::Error) -> IdentityError {
        IdentityError::storage(err)
    }
}

fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

#[derive(Clone, Debug, FromRow)]
pub struct UserRow {
    pub id: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub password_hash: String,
    pub created_at_ms: i64,
}

#[derive(Clone, Debug, FromRow)]
pub struct DeviceRow {
    pub id: String,
    pub user_id: String,
    pub public_key: Vec<u8>,
    pub name: Option<String>,
    pub created_at_ms: i64,
    pub revoked_at_ms: Option<i64>,
}

/// What presenting a refresh token did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rotation {
    /// The token was live: it is now spent and the new one is stored in the same session.
    Rotated { user_id: String, session_id: String },
    /// No such token.
    Unknown,
    /// The token had expired (nothing changed).
    Expired,
    /// The session was already revoked (nothing changed).
    Revoked,
    /// The token had been spent before: the session is now revoked.
    Reused,
}

// --- users ---------------------------------------------------------------------------------------

/// Inserts a new user; a taken email or phone is [`IdentityError::AccountExists`].
pub async fn insert_user(db: &Db, user: &UserRow) -> Result<(), IdentityError> {
    let result = with_db!(db, pool => sqlx::query(
        "INSERT INTO users (id, email, phone, password_hash, created_at_ms) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&user.id)
    .bind(&user.email)
    .bind(&user.phone)
    .bind(&user.password_hash)
    .bind(user.created_at_ms)
    .execute(pool)
    .await
    .map(|_| ()));
    match result {
        Ok(_) => Ok(()),
        Err(err) if is_unique_violation(&err) => Err(IdentityError::AccountExists),
        Err(err) => Err(err.into()),
    }
}

pub async fn user_by_login(db: &Db, login: &LoginId) -> Result<Option<UserRow>, IdentityError> {
    let sql = match login {
        LoginId::Email(_) => {
            "SELECT id, email, phone, password_hash, created_at_ms FROM users WHERE email = $1"
        }
        LoginId::Phone(_) => {
            "SELECT id, email, phone, password_hash, created_at_ms FROM users WHERE phone = $1"
        }
    };
    let row = with_db!(db, pool => sqlx::query_as::<_, UserRow>(sql)
        .bind(login.as_str())
        .fetch_optional(pool)
        .await)?;
    Ok(row)
}

pub async fn user_by_id(db: &Db, user_id: &str) -> Result<Option<UserRow>, IdentityError> {
    let row = with_db!(db, pool => sqlx::query_as::<_, UserRow>(
        "SELECT id, email, phone, password_hash, created_at_ms FROM users WHERE id = $1",
    )
    .bind(user_id)
    .fetch_optional(pool)
    .await)?;
    Ok(row)
}

pub async fn set_password_hash(db: &Db, user_id: &str, phc: &str) -> Result<(), IdentityError> {
    with_db!(db, pool => sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
        .bind(phc)
        .bind(user_id)
        .execute(pool)
        .await
        .map(|_| ()))?;
    Ok(())
}

// --- login back-off ------------------------------------------------------------------------------

/// What [`charge_login_attempt`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Charge {
    /// The account is locked until this time; the attempt was not counted and must not be tried.
    Locked { until_ms: i64 },
    /// The attempt is counted as failure number `failures` of the current run (cleared again by a
    /// successful login), and may now be checked.
    Granted { failures: i64 },
}

/// Counts a login attempt *before* its password is checked, in one transaction that holds the
/// counter's row (PostgreSQL row lock, SQLite write lock). Charging first is what makes the
/// back-off hold under concurrency: a thousand parallel guesses each take the next number, so at
/// most the free ones run before the lock is set, whichever server process they reach.
///
/// `lock_ms_for(failures)` gives the lock that failure number `failures` sets; a run is forgotten
/// when its last failure is older than `forget_after_ms`.
pub async fn charge_login_attempt(
    db: &Db,
    login_key: &str,
    now_ms: i64,
    forget_after_ms: i64,
    lock_ms_for: impl Fn(i64) -> i64,
) -> Result<Charge, IdentityError> {
    with_db!(db, pool => {
        let mut tx = pool.begin().await?;
        // A no-op upsert whose only job is to take the row (and create it) inside this transaction.
        let (failures, last_failure_ms, locked_until_ms): (i64, i64, i64) = sqlx::query_as(
            "INSERT INTO login_failures (login_key, failures, last_failure_ms, locked_until_ms) \
             VALUES ($1, 0, $2, 0) \
             ON CONFLICT (login_key) DO UPDATE SET login_key = excluded.login_key \
             RETURNING failures, last_failure_ms, locked_until_ms",
        )
        .bind(login_key)
        .bind(now_ms)
        .fetch_one(&mut *tx)
        .await?;
        if locked_until_ms > now_ms {
            tx.rollback().await?;
            return Ok(Charge::Locked { until_ms: locked_until_ms });
        }
        let run = if now_ms.saturating_sub(last_failure_ms) > forget_after_ms { 0 } else { failures };
        let failures = run + 1;
        let lock_ms = lock_ms_for(failures);
        let until_ms = if lock_ms > 0 { now_ms.saturating_add(lock_ms) } else { 0 };
        sqlx::query(
            "UPDATE login_failures SET failures = $1, last_failure_ms = $2, locked_until_ms = $3 \
             WHERE login_key = $4",
        )
        .bind(failures)
        .bind(now_ms)
        .bind(until_ms)
        .bind(login_key)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Charge::Granted { failures })
    })
}

/// Forgets the failures of a login key after a successful login.
pub async fn clear_login_failures(db: &Db, login_key: &str) -> Result<(), IdentityError> {
    with_db!(db, pool => sqlx::query("DELETE FROM login_failures WHERE login_key = $1")
        .bind(login_key)
        .execute(pool)
        .await
        .map(|_| ()))?;
    Ok(())
}

/// Deletes failure runs whose last failure is before `before_ms` and whose lock is over (they
/// would be forgotten at the next attempt anyway); returns how many.
pub async fn prune_login_failures(
    db: &Db,
    before_ms: i64,
    now_ms: i64,
) -> Result<u64, IdentityError> {
    let pruned = with_db!(db, pool => sqlx::query(
        "DELETE FROM login_failures WHERE last_failure_ms < $1 AND locked_until_ms <= $2",
    )
    .bind(before_ms)
    .bind(now_ms)
    .execute(pool)
    .await
    .map(|done| done.rows_affected()))?;
    Ok(pruned)
}

// --- sessions and refresh tokens -----------------------------------------------------------------

/// Starts a login session with its first refresh token.
pub async fn create_session(
    db: &Db,
    session_id: &str,
    user_id: &str,
    token_hash: &[u8; 32],
    now_ms: i64,
    expires_at_ms: i64,
) -> Result<(), IdentityError> {
    with_db!(db, pool => {
        let mut tx = pool.begin().await?;
        sqlx::query("INSERT INTO sessions (id, user_id, created_at_ms) VALUES ($1, $2, $3)")
            .bind(session_id)
            .bind(user_id)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, session_id, issued_at_ms, expires_at_ms) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(&token_hash[..])
        .bind(session_id)
        .bind(now_ms)
        .bind(expires_at_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok::<(), IdentityError>(())
    })
}

/// Spends the token with hash `old_hash` and stores `new_hash` in its session, atomically. The
/// first statement is the conditional update that spends the token, so of two concurrent
/// presentations exactly one rotates and the other is treated as reuse (which revokes the
/// session: the safe reading of a race between a thief and the owner).
pub async fn rotate_refresh_token(
    db: &Db,
    old_hash: &[u8; 32],
    new_hash: &[u8; 32],
    now_ms: i64,
    new_expires_at_ms: i64,
) -> Result<Rotation, IdentityError> {
    with_db!(db, pool => {
        let mut tx = pool.begin().await?;
        let spent: Option<(String, i64)> = sqlx::query_as(
            "UPDATE refresh_tokens SET used_at_ms = $1 \
             WHERE token_hash = $2 AND used_at_ms IS NULL \
             RETURNING session_id, expires_at_ms",
        )
        .bind(now_ms)
        .bind(&old_hash[..])
        .fetch_optional(&mut *tx)
        .await?;
        let Some((session_id, expires_at_ms)) = spent else {
            // Never issued, or spent before: the latter is reuse.
            let session: Option<(String,)> =
                sqlx::query_as("SELECT session_id FROM refresh_tokens WHERE token_hash = $1")
                    .bind(&old_hash[..])
                    .fetch_optional(&mut *tx)
                    .await?;
            let Some((session_id,)) = session else {
                tx.rollback().await?;
                return Ok(Rotation::Unknown);
            };
            sqlx::query(
                "UPDATE sessions SET revoked_at_ms = $1, revoked_why = 'reuse' \
                 WHERE id = $2 AND revoked_at_ms IS NULL",
            )
            .bind(now_ms)
            .bind(&session_id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            return Ok(Rotation::Reused);
        };
        let (user_id, revoked_at_ms): (String, Option<i64>) =
            sqlx::query_as("SELECT user_id, revoked_at_ms FROM sessions WHERE id = $1")
                .bind(&session_id)
                .fetch_one(&mut *tx)
                .await?;
        if revoked_at_ms.is_some() {
            tx.rollback().await?;
            return Ok(Rotation::Revoked);
        }
        if expires_at_ms <= now_ms {
            tx.rollback().await?;
            return Ok(Rotation::Expired);
        }
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, session_id, issued_at_ms, expires_at_ms) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(&new_hash[..])
        .bind(&session_id)
        .bind(now_ms)
        .bind(new_expires_at_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Rotation::Rotated { user_id, session_id })
    })
}

/// The session and user of a refresh token, spent or not.
pub async fn session_of_token(
    db: &Db,
    token_hash: &[u8; 32],
) -> Result<Option<(String, String)>, IdentityError> {
    let row = with_db!(db, pool => sqlx::query_as::<_, (String, String)>(
        "SELECT s.id, s.user_id FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id \
         WHERE t.token_hash = $1",
    )
    .bind(&token_hash[..])
    .fetch_optional(pool)
    .await)?;
    Ok(row)
}

/// Revokes a session of `user_id` (logout). Revoking an already revoked session changes nothing.
/// Returns false when no such session belongs to the user.
pub async fn revoke_session(
    db: &Db,
    user_id: &str,
    session_id: &str,
    now_ms: i64,
) -> Result<bool, IdentityError> {
    // The update comes first (no read-then-write transaction, which SQLite could refuse with a
    // busy snapshot under concurrent writers); only when it changed nothing is ownership checked.
    let revoked = with_db!(db, pool => sqlx::query(
        "UPDATE sessions SET revoked_at_ms = $1, revoked_why = 'logout' \
         WHERE id = $2 AND user_id = $3 AND revoked_at_ms IS NULL",
    )
    .bind(now_ms)
    .bind(session_id)
    .bind(user_id)
    .execute(pool)
    .await
    .map(|done| done.rows_affected()))?;
    if revoked == 1 {
        return Ok(true);
    }
    let owned = with_db!(db, pool => sqlx::query_scalar::<_, String>(
        "SELECT id FROM sessions WHERE id = $1 AND user_id = $2",
    )
    .bind(session_id)
    .bind(user_id)
    .fetch_optional(pool)
    .await)?;
    Ok(owned.is_some())
}

// --- devices -------------------------------------------------------------------------------------

const DEVICE_COLUMNS: &str = "id, user_id, public_key, name, created_at_ms, revoked_at_ms";

/// Registers a device unless the user already has `active_max` active devices. A public key is
/// registered once, ever: the same user registering it again gets the existing device back
/// (`Ok((row, false))`, so a retried request is harmless); another user gets
/// [`IdentityError::DeviceKeyTaken`].
pub async fn insert_device(
    db: &Db,
    device: &DeviceRow,
    active_max: usize,
) -> Result<(DeviceRow, bool), IdentityError> {
    let existing_sql = format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE public_key = $1");
    with_db!(db, pool => {
        let mut tx = pool.begin().await?;
        // Take the write side first (SQLite: the write lock; PostgreSQL: the user's row) so the
        // count below cannot be raced by a concurrent registration of the same user.
        sqlx::query("UPDATE users SET created_at_ms = created_at_ms WHERE id = $1")
            .bind(&device.user_id)
            .execute(&mut *tx)
            .await?;
        let existing: Option<DeviceRow> = sqlx::query_as(&existing_sql)
            .bind(&device.public_key)
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(existing) = existing {
            tx.rollback().await?;
            return if existing.user_id == device.user_id {
                Ok((existing, false))
            } else {
                Err(IdentityError::DeviceKeyTaken)
            };
        }
        let (active,): (i64,) = sqlx::query_as(
            "SELECT count(*) FROM devices WHERE user_id = $1 AND revoked_at_ms IS NULL",
        )
        .bind(&device.user_id)
        .fetch_one(&mut *tx)
        .await?;
        if active >= i64::try_from(active_max).unwrap_or(i64::MAX) {
            tx.rollback().await?;
            return Err(IdentityError::DeviceLimit { max: active_max });
        }
        let inserted = sqlx::query(
            "INSERT INTO devices (id, user_id, public_key, name, created_at_ms) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&device.id)
        .bind(&device.user_id)
        .bind(&device.public_key)
        .bind(&device.name)
        .bind(device.created_at_ms)
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {
                tx.commit().await?;
                Ok((device.clone(), true))
            }
            // Another user registered the same key at this very moment.
            Err(err) if is_unique_violation(&err) => Err(IdentityError::DeviceKeyTaken),
            Err(err) => Err(err.into()),
        }
    })
}

/// Devices of a user, newest first.
pub async fn devices_of_user(db: &Db, user_id: &str) -> Result<Vec<DeviceRow>, IdentityError> {
    let sql = format!(
        "SELECT {DEVICE_COLUMNS} FROM devices WHERE user_id = $1 ORDER BY created_at_ms DESC, id DESC"
    );
    let rows = with_db!(db, pool => sqlx::query_as::<_, DeviceRow>(&sql)
        .bind(user_id)
        .fetch_all(pool)
        .await)?;
    Ok(rows)
}

/// A device by id, whoever owns it (the caller checks ownership).
pub async fn device_by_id(db: &Db, device_id: &str) -> Result<Option<DeviceRow>, IdentityError> {
    let sql = format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE id = $1");
    let row = with_db!(db, pool => sqlx::query_as::<_, DeviceRow>(&sql)
        .bind(device_id)
        .fetch_optional(pool)
        .await)?;
    Ok(row)
}

/// Revokes a device of `user_id`; revoking twice keeps the first time. `None` when the user has no
/// such device.
pub async fn revoke_device(
    db: &Db,
    user_id: &str,
    device_id: &str,
    now_ms: i64,
) -> Result<Option<DeviceRow>, IdentityError> {
    with_db!(db, pool => sqlx::query(
        "UPDATE devices SET revoked_at_ms = $1 \
         WHERE id = $2 AND user_id = $3 AND revoked_at_ms IS NULL",
    )
    .bind(now_ms)
    .bind(device_id)
    .bind(user_id)
    .execute(pool)
    .await
    .map(|_| ()))?;
    Ok(device_by_id(db, device_id)
        .await?
        .filter(|device| device.user_id == user_id))
}

// --- device-signature nonces ---------------------------------------------------------------------

/// The nonce of one verified device signature, as `device_nonces` stores it. Recorded once: by the
/// nonce book ([`record_nonces`]), or in the database transaction of the money it signed for
/// ([`stage_nonces_sqlite`], [`stage_nonces_postgres`]; see `ledger::Outbox::nonce`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DeviceNonce {
    pub device_id: String,
    pub nonce: String,
    /// The signature's `Purse-Timestamp` (the janitor prunes by it).
    pub timestamp_ms: i64,
}

/// Records a batch of nonces in one transaction, one verdict per entry: true when new, false when
/// the (device, nonce) pair was already recorded (a replay), including earlier in the same batch.
/// Rows are inserted in (device, nonce) order, the order [`stage_nonces_postgres`] uses too, so two
/// PostgreSQL transactions inserting the same nonces (a replay racing its original) wait on each
/// other in one order and never deadlock.
pub async fn record_nonces(db: &Db, entries: &[DeviceNonce]) -> Result<Vec<bool>, IdentityError> {
    // Within the batch, only the first use of a pair can be new.
    let mut seen = std::collections::HashSet::with_capacity(entries.len());
    let first: Vec<bool> = entries
        .iter()
        .map(|entry| seen.insert((entry.device_id.as_str(), entry.nonce.as_str())))
        .collect();
    let mut unique: Vec<&DeviceNonce> = entries
        .iter()
        .zip(&first)
        .filter_map(|(entry, first)| first.then_some(entry))
        .collect();
    unique.sort_by(|a, b| (&a.device_id, &a.nonce).cmp(&(&b.device_id, &b.nonce)));
    let inserted: std::collections::HashSet<(String, String)> = match db {
        Db::Sqlite(pool) => {
            // Multi-row VALUES, a few rows per statement: each statement is one hop to the
            // connection's thread, so one per row would cost a hop per nonce.
            let mut tx = pool.begin().await?;
            let mut inserted = std::collections::HashSet::with_capacity(unique.len());
            for chunk in crate::db::sqlite_chunks(&unique) {
                let sql = crate::db::sqlite_values(
                    NONCE_INSERT_SQLITE,
                    3,
                    chunk.len(),
                    " ON CONFLICT (device_id, nonce) DO NOTHING RETURNING device_id, nonce",
                );
                let mut query = sqlx::query_as::<_, (String, String)>(&sql);
                for entry in chunk {
                    query = query
                        .bind(&entry.device_id)
                        .bind(&entry.nonce)
                        .bind(entry.timestamp_ms);
                }
                inserted.extend(query.fetch_all(&mut *tx).await?);
            }
            tx.commit().await?;
            inserted
        }
        Db::Postgres(pool) => {
            let (device_ids, nonces, timestamps) = nonce_columns(&unique);
            let rows: Vec<(String, String)> = sqlx::query_as(&format!(
                "{NONCE_INSERT_POSTGRES} RETURNING device_id, nonce"
            ))
            .bind(&device_ids)
            .bind(&nonces)
            .bind(&timestamps)
            .fetch_all(pool)
            .await?;
            rows.into_iter().collect()
        }
    };
    Ok(entries
        .iter()
        .zip(first)
        .map(|(entry, first)| {
            first && inserted.contains(&(entry.device_id.clone(), entry.nonce.clone()))
        })
        .collect())
}

const NONCE_INSERT_SQLITE: &str =
    "INSERT INTO device_nonces (device_id, nonce, timestamp_ms) VALUES ";
const NONCE_INSERT_POSTGRES: &str = "INSERT INTO device_nonces (device_id, nonce, timestamp_ms) \
     SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[]) \
     ON CONFLICT (device_id, nonce) DO NOTHING";

fn nonce_columns(rows: &[&DeviceNonce]) -> (Vec<String>, Vec<String>, Vec<i64>) {
    (
        rows.iter().map(|row| row.device_id.clone()).collect(),
        rows.iter().map(|row| row.nonce.clone()).collect(),
        rows.iter().map(|row| row.timestamp_ms).collect(),
    )
}

/// Inserts `rows` (sorted by device and nonce: see [`record_nonces`]) inside the caller's
/// transaction; `Ok(false)` when any of them was recorded before, or appears twice in `rows`
/// (the caller rolls back: a replayed signature moves nothing).
pub async fn stage_nonces_sqlite(
    conn: &mut sqlx::SqliteConnection,
    rows: &[&DeviceNonce],
) -> Result<bool, sqlx::Error> {
    let mut inserted = 0;
    for chunk in crate::db::sqlite_chunks(rows) {
        let sql = crate::db::sqlite_values(
            NONCE_INSERT_SQLITE,
            3,
            chunk.len(),
            " ON CONFLICT (device_id, nonce) DO NOTHING",
        );
        let mut query = sqlx::query(&sql);
        for row in chunk {
            query = query
                .bind(&row.device_id)
                .bind(&row.nonce)
                .bind(row.timestamp_ms);
        }
        inserted += query.execute(&mut *conn).await?.rows_affected();
    }
    Ok(inserted == rows.len() as u64)
}

/// [`stage_nonces_sqlite`] on PostgreSQL: one statement.
pub async fn stage_nonces_postgres(
    conn: &mut sqlx::PgConnection,
    rows: &[&DeviceNonce],
) -> Result<bool, sqlx::Error> {
    let (device_ids, nonces, timestamps) = nonce_columns(rows);
    let inserted = sqlx::query(NONCE_INSERT_POSTGRES)
        .bind(&device_ids)
        .bind(&nonces)
        .bind(&timestamps)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    Ok(inserted == rows.len() as u64)
}

/// Whether `nonce` is recorded already (read only; recording is what decides, see
/// [`record_nonces`]).
pub async fn nonce_recorded(db: &Db, nonce: &DeviceNonce) -> Result<bool, IdentityError> {
    let found = with_db!(db, pool => sqlx::query_scalar::<_, i64>(
        "SELECT 1 FROM device_nonces WHERE device_id = $1 AND nonce = $2",
    )
    .bind(&nonce.device_id)
    .bind(&nonce.nonce)
    .fetch_optional(pool)
    .await)?;
    Ok(found.is_some())
}

/// Deletes nonces whose timestamp is before `before_ms`; returns how many.
pub async fn prune_nonces(db: &Db, before_ms: i64) -> Result<u64, IdentityError> {
    let pruned = with_db!(db, pool => sqlx::query("DELETE FROM device_nonces WHERE timestamp_ms < $1")
        .bind(before_ms)
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))?;
    Ok(pruned)
}

// --- the server's signing key --------------------------------------------------------------------

/// The access-token signing key: inserts `candidate` when none is stored yet, then returns the
/// stored seed (the candidate's, or the one another process stored first).
pub async fn load_or_store_token_key(
    db: &Db,
    kid: &str,
    candidate_seed: &[u8; 32],
    public_key: &[u8; 32],
    now_ms: i64,
) -> Result<Vec<u8>, IdentityError> {
    let seed = with_db!(db, pool => {
        sqlx::query(
            "INSERT INTO server_keys (purpose, kid, secret_seed, public_key, created_at_ms) \
             VALUES ('access_token', $1, $2, $3, $4) ON CONFLICT (purpose) DO NOTHING",
        )
        .bind(kid)
        .bind(&candidate_seed[..])
        .bind(&public_key[..])
        .bind(now_ms)
        .execute(pool)
        .await?;
        sqlx::query_as::<_, (Vec<u8>,)>(
            "SELECT secret_seed FROM server_keys WHERE purpose = 'access_token'",
        )
        .fetch_one(pool)
        .await
    })?;
    Ok(seed.0)
}
