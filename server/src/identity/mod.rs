//! Identity: users (email or phone + argon2id password), login sessions (EdDSA access tokens and
//! rotating refresh tokens), devices (Ed25519 public keys) and the device signature that every
//! money-moving request carries. It never moves money and never stores a password, a refresh token
//! or a device secret: only argon2id hashes, SHA-256 hashes and public keys.
//!
//! Layers: [`Identity`] (this file) holds the rules and is what handlers and extractors call;
//! `store` holds the SQL; `http` the handlers; `extract` the [`AuthUser`] and [`SignedDevice`]
//! extractors that other areas' handlers take as arguments:
//!
//! ```text
//! async fn create_transfer(signed: SignedDevice<CreateTransfer>, ...) -> Result<..., ApiError> {
//!     let user_id = &signed.user.user_id;   // from the verified access token
//!     let request = signed.body;            // parsed from the exact bytes that were signed
//! }
//! ```
//!
//! **Invariant:** a request reaches a money-moving handler only with a valid access token, a
//! fresh timestamp, a never-seen nonce, and a signature by an unrevoked device of the same user.
//! One handler takes [`SignedDeviceDeferred`] instead (P2P transfers): its nonce is recorded in the
//! ledger transaction that moves the money, or by the nonce book before any other answer, so a
//! replayed signature still moves nothing and is still answered `device_signature_replayed`.

pub mod backoff;
pub mod device_keys;
pub mod error;
mod extract;
pub mod http;
mod janitor;
pub mod jwt;
pub mod keys;
pub mod login_id;
mod nonces;
pub mod password;
pub mod refresh;
pub mod signature;
pub mod store;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use purse_core::api::identity::{
    Device, LoginRequest, RegisterDeviceRequest, SignupRequest, TokenKey, TokenResponse, User,
};
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

pub use self::backoff::BackoffPolicy;
pub use self::error::IdentityError;
pub use self::extract::{AuthUser, SignedDevice, SignedDeviceDeferred};
pub use self::login_id::LoginId;
pub use self::store::DeviceNonce;

use self::jwt::TokenSigner;
use self::keys::ServerKey;
use self::nonces::NonceBook;
use self::password::{Password, Verdict};
use self::signature::SignatureHeaders;
use self::store::{Charge, DeviceRow, Rotation, UserRow};
use crate::db::Db;
use crate::ids::{self, IdKind};

/// Device names are labels for people, not documents.
pub const DEVICE_NAME_CHARS_MAX: usize = 64;

/// Identity settings (`[identity]` in the configuration file, `PURSE_IDENTITY_*` variables, see
/// [`crate::config`]); the defaults are the production values.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdentityConfig {
    /// `iss` of issued access tokens, and the only one accepted.
    pub issuer: String,
    /// `aud` of issued access tokens, and the only one accepted.
    pub audience: String,
    pub backoff: BackoffPolicy,
    /// Active (unrevoked) devices per user.
    pub devices_active_max: usize,
    /// argon2id runs at once: each holds 19 MiB and a core for tens of milliseconds, so a burst of
    /// logins queues here instead of exhausting memory.
    pub hashing_concurrent_max: usize,
    /// Nonces per database transaction of the nonce book.
    pub nonce_batch_max: usize,
    /// Signed requests waiting for the nonce book before new ones are refused as busy.
    pub nonce_queue_max: usize,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        IdentityConfig {
            issuer: jwt::DEFAULT_ISSUER.to_owned(),
            audience: jwt::DEFAULT_AUDIENCE.to_owned(),
            backoff: BackoffPolicy::default(),
            devices_active_max: 10,
            hashing_concurrent_max: 4,
            nonce_batch_max: 512,
            nonce_queue_max: 16_384,
        }
    }
}

/// The identity service. Shared by all workers behind an `Arc`.
pub struct Identity {
    db: Db,
    config: IdentityConfig,
    signer: TokenSigner,
    verified: jwt::VerifiedTokens,
    hashing: Semaphore,
    nonces: NonceBook,
    device_keys: device_keys::DeviceKeys,
    key_id_devices: device_keys::KeyIdDevices,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("signer", &self.signer)
            .finish_non_exhaustive()
    }
}

/// Wall-clock time in unix milliseconds.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn now_s() -> u64 {
    now_ms().max(0).unsigned_abs() / 1000
}

impl Identity {
    /// Loads the access-token signing key from the database, generating and storing it on the
    /// very first start (every later start, and every other process on the same database, reads
    /// the same key), logs its public half, and starts the nonce book on the current runtime.
    pub async fn start(db: Db, config: IdentityConfig) -> Result<Arc<Identity>, IdentityError> {
        Identity::start_with_writer(db.clone(), db, config).await
    }

    /// [`Identity::start`] with the nonce book committing through `nonce_writer` (the process's
    /// write gate, see [`crate::ledger::Ledger::write_gate`]) instead of the shared pool.
    pub async fn start_with_writer(
        db: Db,
        nonce_writer: Db,
        config: IdentityConfig,
    ) -> Result<Arc<Identity>, IdentityError> {
        let candidate = ServerKey::generate();
        let candidate_public = candidate.public_key_bytes();
        let candidate_kid = keys::key_id_hex(&candidate_public);
        let stored = Zeroizing::new(
            store::load_or_store_token_key(
                &db,
                &candidate_kid,
                &candidate.seed(),
                &candidate_public,
                now_ms(),
            )
            .await?,
        );
        let seed: [u8; 32] = stored
            .as_slice()
            .try_into()
            .map_err(|_| IdentityError::Internal("stored token key has the wrong length"))?;
        let key = ServerKey::from_seed(seed);
        let generated = key.public_key_bytes() == candidate_public;
        let signer = TokenSigner::new(&key, &config.issuer, &config.audience)?;
        tracing::info!(
            kid = signer.kid(),
            public_key = %data_encoding::BASE64URL_NOPAD.encode(&signer.public_key_bytes()),
            generated,
            "access-token signing key (Ed25519, EdDSA JWT)"
        );
        let nonces = NonceBook::start(nonce_writer, config.nonce_batch_max, config.nonce_queue_max);
        janitor::start(db.clone(), config.backoff);
        Ok(Arc::new(Identity {
            hashing: Semaphore::new(config.hashing_concurrent_max.max(1)),
            db,
            config,
            signer,
            verified: jwt::VerifiedTokens::default(),
            nonces,
            device_keys: device_keys::DeviceKeys::default(),
            key_id_devices: device_keys::KeyIdDevices::default(),
        }))
    }

    /// Unrevoked devices by key id, recently read (see [`device_keys`]): the pay-code charge
    /// path reads through it, and a revocation here forgets it.
    pub fn key_id_devices(&self) -> &device_keys::KeyIdDevices {
        &self.key_id_devices
    }

    /// The token signer, for tools and tests that need a token signed with the real key.
    pub fn signer(&self) -> &TokenSigner {
        &self.signer
    }

    /// Runs argon2id off the async workers, at most `hashing_concurrent_max` at once.
    async fn hashing<R: Send + 'static>(
        &self,
        work: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, IdentityError> {
        let _permit = self
            .hashing
            .acquire()
            .await
            .map_err(|_| IdentityError::Internal("password hashing is shut down"))?;
        actix_web::web::block(work)
            .await
            .map_err(|_| IdentityError::Internal("password hashing task failed"))
    }

    /// Creates an account and logs it in.
    pub async fn signup(&self, request: SignupRequest) -> Result<TokenResponse, IdentityError> {
        let login = LoginId::from_parts(request.email.as_deref(), request.phone.as_deref())?;
        let password = Password::new(&request.password)?;
        // Fail fast on a taken identifier; the unique constraint still decides a race.
        if store::user_by_login(&self.db, &login).await?.is_some() {
            return Err(IdentityError::AccountExists);
        }
        let phc = self.hashing(move || password::hash(&password)).await??;
        let (email, phone) = match &login {
            LoginId::Email(email) => (Some(email.clone()), None),
            LoginId::Phone(phone) => (None, Some(phone.clone())),
        };
        let user = UserRow {
            id: ids::new_id(IdKind::User),
            email,
            phone,
            password_hash: phc,
            created_at_ms: now_ms(),
        };
        store::insert_user(&self.db, &user).await?;
        tracing::info!(user_id = %user.id, "user signed up");
        self.start_session(&user.id).await
    }

    /// Checks a password, with per-account back-off, and starts a session.
    pub async fn login(&self, request: LoginRequest) -> Result<TokenResponse, IdentityError> {
        let login = LoginId::from_parts(request.email.as_deref(), request.phone.as_deref())?;
        let backoff_key = login.backoff_key();
        let policy = self.config.backoff;
        let now = now_ms();
        let charge = store::charge_login_attempt(
            &self.db,
            &backoff_key,
            now,
            policy.forget_after_ms,
            |failures| policy.lock_ms(u32::try_from(failures).unwrap_or(u32::MAX)),
        )
        .await?;
        if let Charge::Locked { until_ms } = charge {
            return Err(IdentityError::LoginBackoff {
                retry_after_s: backoff::retry_after_s(until_ms, now),
            });
        }
        let user = store::user_by_login(&self.db, &login).await?;
        let attempt = Zeroizing::new(request.password);
        let (verdict, user) = match user {
            Some(user) => {
                let phc = user.password_hash.clone();
                let attempt = attempt.clone();
                let verdict = self
                    .hashing(move || password::verify(&attempt, &phc))
                    .await?;
                (verdict, Some(user))
            }
            None => {
                // Same work as a real check, so timing does not reveal which accounts exist.
                let attempt = attempt.clone();
                self.hashing(move || password::verify_dummy(&attempt))
                    .await?;
                (Verdict::Mismatch, None)
            }
        };
        let user = match (verdict, user) {
            (Verdict::Match | Verdict::MatchNeedsRehash, Some(user)) => user,
            _ => {
                tracing::info!(login_kind = login_kind(&login), "login failed");
                return Err(IdentityError::CredentialsInvalid);
            }
        };
        store::clear_login_failures(&self.db, &backoff_key).await?;
        if verdict == Verdict::MatchNeedsRehash
            && let Ok(password) = Password::new(&attempt)
        {
            let phc = self.hashing(move || password::hash(&password)).await??;
            store::set_password_hash(&self.db, &user.id, &phc).await?;
        }
        tracing::info!(user_id = %user.id, "user logged in");
        self.start_session(&user.id).await
    }

    async fn start_session(&self, user_id: &str) -> Result<TokenResponse, IdentityError> {
        let session_id = ids::new_id(IdKind::Session);
        let token = refresh::mint();
        let now = now_ms();
        store::create_session(
            &self.db,
            &session_id,
            user_id,
            &token.hash,
            now,
            now + refresh::REFRESH_TTL_MS,
        )
        .await?;
        self.token_response(user_id, &session_id, &token.text)
    }

    fn token_response(
        &self,
        user_id: &str,
        session_id: &str,
        refresh_token: &str,
    ) -> Result<TokenResponse, IdentityError> {
        let access = self.signer.issue(user_id, session_id, now_s())?;
        Ok(TokenResponse {
            user_id: user_id.to_owned(),
            access_token: access.token,
            token_type: "Bearer".to_owned(),
            expires_in: access.expires_in_s,
            refresh_token: refresh_token.to_owned(),
            refresh_expires_in: (refresh::REFRESH_TTL_MS / 1000).unsigned_abs(),
        })
    }

    /// Spends a refresh token for a new pair. Presenting a spent token revokes its session.
    pub async fn refresh(&self, presented: &str) -> Result<TokenResponse, IdentityError> {
        let old_hash = refresh::hash_presented(presented)?;
        let token = refresh::mint();
        let now = now_ms();
        let rotation = store::rotate_refresh_token(
            &self.db,
            &old_hash,
            &token.hash,
            now,
            now + refresh::REFRESH_TTL_MS,
        )
        .await?;
        match rotation {
            Rotation::Rotated {
                user_id,
                session_id,
            } => self.token_response(&user_id, &session_id, &token.text),
            Rotation::Unknown => Err(IdentityError::RefreshInvalid),
            Rotation::Expired => Err(IdentityError::RefreshExpired),
            Rotation::Revoked => Err(IdentityError::RefreshRevoked),
            Rotation::Reused => {
                tracing::warn!("refresh token reused: its session is revoked");
                Err(IdentityError::RefreshReused)
            }
        }
    }

    /// Ends a session: the one of `refresh_token` when given, else the one of the access token.
    pub async fn logout(
        &self,
        user: Option<&AuthUser>,
        refresh_token: Option<&str>,
    ) -> Result<(), IdentityError> {
        let (user_id, session_id) = match (refresh_token, user) {
            (Some(text), _) => {
                let hash = refresh::hash_presented(text)?;
                let (session_id, owner) = store::session_of_token(&self.db, &hash)
                    .await?
                    .ok_or(IdentityError::RefreshInvalid)?;
                if user.is_some_and(|user| user.user_id != owner) {
                    return Err(IdentityError::RefreshInvalid);
                }
                (owner, session_id)
            }
            (None, Some(user)) => (user.user_id.clone(), user.session_id.clone()),
            (None, None) => return Err(IdentityError::TokenMissing),
        };
        if !store::revoke_session(&self.db, &user_id, &session_id, now_ms()).await? {
            return Err(IdentityError::RefreshInvalid);
        }
        tracing::info!(user_id = %user_id, "session logged out");
        Ok(())
    }

    /// Verifies a bearer access token.
    pub fn authenticate(&self, token: &str) -> Result<AuthUser, IdentityError> {
        let claims = self.verified.verify(&self.signer, token, now_s())?;
        if !ids::is_valid(IdKind::User, &claims.sub) {
            return Err(IdentityError::TokenMalformed);
        }
        Ok(AuthUser {
            user_id: claims.sub,
            session_id: claims.sid,
        })
    }

    pub async fn user(&self, user_id: &str) -> Result<User, IdentityError> {
        let user = store::user_by_id(&self.db, user_id)
            .await?
            .ok_or(IdentityError::Internal(
                "token names a user that does not exist",
            ))?;
        Ok(User {
            id: user.id,
            email: user.email,
            phone: user.phone,
            created_at_ms: user.created_at_ms,
        })
    }

    /// The id of the user with this email or phone, for transfers addressed to a person.
    pub async fn find_user(&self, login: &LoginId) -> Result<Option<String>, IdentityError> {
        Ok(store::user_by_login(&self.db, login)
            .await?
            .map(|user| user.id))
    }

    /// The public half of the token key, for `GET /v1/auth/keys`.
    pub fn token_key(&self) -> TokenKey {
        TokenKey {
            alg: "EdDSA".to_owned(),
            kid: self.signer.kid().to_owned(),
            public_key: data_encoding::BASE64URL_NOPAD.encode(&self.signer.public_key_bytes()),
        }
    }

    /// Registers a device key for `user_id`; `Ok((device, false))` when this user had already
    /// registered the same key (a retried request).
    pub async fn register_device(
        &self,
        user_id: &str,
        request: RegisterDeviceRequest,
    ) -> Result<(Device, bool), IdentityError> {
        let key = keys::parse_device_key(&request.public_key)?;
        let name = match request.name {
            None => None,
            Some(name) => Some(check_device_name(&name)?),
        };
        let row = DeviceRow {
            id: ids::new_id(IdKind::Device),
            user_id: user_id.to_owned(),
            public_key: key.to_bytes().to_vec(),
            name,
            created_at_ms: now_ms(),
            revoked_at_ms: None,
        };
        let (row, created) =
            store::insert_device(&self.db, &row, self.config.devices_active_max).await?;
        if created {
            tracing::info!(user_id, device_id = %row.id, key_id = %key.key_id(), "device registered");
        }
        Ok((device_view(&row)?, created))
    }

    pub async fn devices(&self, user_id: &str) -> Result<Vec<Device>, IdentityError> {
        store::devices_of_user(&self.db, user_id)
            .await?
            .iter()
            .map(device_view)
            .collect()
    }

    /// A device of `user_id`; someone else's device is [`IdentityError::DeviceNotFound`] too.
    pub async fn device(&self, user_id: &str, device_id: &str) -> Result<Device, IdentityError> {
        if !ids::is_valid(IdKind::Device, device_id) {
            return Err(IdentityError::DeviceNotFound);
        }
        let row = store::device_by_id(&self.db, device_id)
            .await?
            .filter(|row| row.user_id == user_id)
            .ok_or(IdentityError::DeviceNotFound)?;
        device_view(&row)
    }

    pub async fn revoke_device(
        &self,
        user_id: &str,
        device_id: &str,
    ) -> Result<Device, IdentityError> {
        if !ids::is_valid(IdKind::Device, device_id) {
            return Err(IdentityError::DeviceNotFound);
        }
        let row = store::revoke_device(&self.db, user_id, device_id, now_ms())
            .await?
            .ok_or(IdentityError::DeviceNotFound)?;
        self.device_keys.forget(device_id);
        self.key_id_devices.forget_all();
        tracing::info!(user_id, device_id, "device revoked");
        device_view(&row)
    }

    /// Checks the device signature of one request from `user` (headers already parsed): fresh
    /// timestamp, the user's own unrevoked device and a valid signature. Returns its nonce, not
    /// yet recorded: the caller records it ([`Identity::record_nonce`], or in the transaction of
    /// the money it signs for) before it answers.
    pub async fn verify_signed_request(
        &self,
        user: &AuthUser,
        method: &str,
        path_and_query: &str,
        body: &[u8],
        headers: &SignatureHeaders,
    ) -> Result<DeviceNonce, IdentityError> {
        signature::check_fresh(headers.timestamp_ms, now_ms())?;
        // Revocation within the cache's bound: see `device_keys`.
        let key = match self.device_keys.get(&headers.device_id) {
            Some((owner, key)) if owner == user.user_id => key,
            Some(_) => return Err(IdentityError::DeviceUnknown),
            None => {
                let read = self.device_keys.begin_read();
                let device = store::device_by_id(&self.db, &headers.device_id)
                    .await?
                    .filter(|device| device.user_id == user.user_id)
                    .ok_or(IdentityError::DeviceUnknown)?;
                if device.revoked_at_ms.is_some() {
                    return Err(IdentityError::DeviceRevoked);
                }
                let key = keys::device_key_from_bytes(&device.public_key)
                    .map_err(|_| IdentityError::Internal("a stored device key does not parse"))?;
                self.device_keys
                    .put(&device.id, (device.user_id.clone(), key), read);
                key
            }
        };
        signature::verify(&key, method, path_and_query, body, headers)?;
        Ok(DeviceNonce {
            device_id: headers.device_id.clone(),
            nonce: headers.nonce.clone(),
            timestamp_ms: headers.timestamp_ms,
        })
    }

    /// Records the nonce of a verified signature; [`IdentityError::SignatureReplayed`] when it
    /// was recorded before (a replay), by this or any other process.
    pub async fn record_nonce(&self, nonce: DeviceNonce) -> Result<(), IdentityError> {
        self.nonces.record(nonce).await
    }

    /// Whether the nonce of a verified signature is recorded already: a replay, to refuse before
    /// it has any effect. A read, for a handler that records the nonce later (with its money):
    /// only that recording decides between two requests racing with one nonce.
    pub async fn nonce_recorded(&self, nonce: &DeviceNonce) -> Result<bool, IdentityError> {
        store::nonce_recorded(&self.db, nonce).await
    }
}

fn login_kind(login: &LoginId) -> &'static str {
    match login {
        LoginId::Email(_) => "email",
        LoginId::Phone(_) => "phone",
    }
}

fn check_device_name(name: &str) -> Result<String, IdentityError> {
    let name = name.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > DEVICE_NAME_CHARS_MAX || name.chars().any(char::is_control) {
        return Err(IdentityError::DeviceNameInvalid {
            max: DEVICE_NAME_CHARS_MAX,
        });
    }
    Ok(name.to_owned())
}

fn device_view(row: &DeviceRow) -> Result<Device, IdentityError> {
    let key = keys::device_key_from_bytes(&row.public_key)
        .map_err(|_| IdentityError::Internal("a stored device key does not parse"))?;
    Ok(Device {
        id: row.id.clone(),
        public_key: key.to_string(),
        key_id: key.key_id().to_string(),
        name: row.name.clone(),
        created_at_ms: row.created_at_ms,
        revoked_at_ms: row.revoked_at_ms,
    })
}
