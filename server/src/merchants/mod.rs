//! Merchants: profiles (each with a ledger wallet owned by its `mer_` id), signing keys (server
//! generated and kept in the database like the token key, or public keys the merchant registered)
//! and their public directory, POS API keys (shown once, stored as SHA-256) with the [`PosKey`]
//! extractor, and the signed EMV QR codes the server makes (`purse_core::merchant_code`, rendered
//! by `purse_core::qr`). It never moves money: payments, charges and refunds are in
//! [`crate::payments`].
//!
//! **Invariant:** a merchant's resources are visible to its owner (and, where the route says "or
//! POS", to its own POS keys) only; anyone else gets `404 not_found`, exactly like a missing id.

pub mod http;
pub mod store;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::{StatusCode, header};
use actix_web::{FromRequest, HttpRequest, web};
use purse_core::api::ledger::{Wallet, WalletTransaction};
use purse_core::api::merchants::{
    ApiKey, CreateApiKeyRequest, CreateMerchantKeyRequest, CreateMerchantRequest, CreateQrRequest,
    Merchant, MerchantKey, MerchantKeyDirectory, MerchantQr,
};
use purse_core::api::{Page, PageQuery};
use purse_core::keys::{PublicKey, SecretKey};
use purse_core::merchant_code::{self, CodeKind, MerchantCodeError, NewMerchantCode};
use purse_core::money::{self, Amount, Currency, MoneyError};
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};

use crate::app::AppState;
use crate::db::Db;
use crate::error::ApiError;
use crate::identity::{AuthUser, IdentityError};
use crate::ids::{self, IdKind};
use crate::ledger::{Ledger, LedgerError, now_ms};
use crate::recent::Recent;
use crate::wallets::{self, WalletError};
use store::{ApiKeyRow, KeyRow, MerchantRow, QrRow};

/// The prefix of every POS API key secret.
pub const POS_SECRET_PREFIX: &str = "purse_pos_";
/// Longest POS key name, in characters.
pub const API_KEY_NAME_CHARS_MAX: usize = 64;
/// Most POS keys `GET /v1/merchants/{id}/api-keys` lists (newest first).
pub const API_KEYS_LIST_MAX: i64 = 100;
/// A dynamic code's expiry when the request names none.
pub const DYNAMIC_EXPIRY_S_DEFAULT: u64 = 15 * 60;
/// Longest expiry of a code: a year.
pub const EXPIRY_S_MAX: u64 = 365 * 24 * 60 * 60;

/// Why a merchant request is refused. One conversion ([`From<MerchantError> for ApiError`])
/// decides the status of each.
#[derive(Debug, thiserror::Error)]
pub enum MerchantError {
    #[error("{field} {reason}")]
    FieldInvalid {
        code: &'static str,
        field: &'static str,
        reason: &'static str,
    },
    #[error("currency must be an ISO 4217 code such as USD")]
    CurrencyUnknown,
    #[error(transparent)]
    Amount(MoneyError),
    #[error("public_key must be an Ed25519 public key, base64url without padding (43 characters)")]
    KeyInvalid,
    #[error("this public key is already registered")]
    KeyExists,
    #[error("name must be 1 to 64 characters without control characters")]
    ApiKeyNameInvalid,
    #[error("reference must be 1 to 25 of A-Z, a-z, 0-9, '.', '_' and '-'")]
    ReferenceInvalid,
    #[error("expires_in_s must be between 1 and 31536000")]
    ExpiryInvalid,
    #[error("this merchant already made a dynamic code with this reference")]
    ReferenceInUse,
    #[error("the merchant is not active")]
    Inactive,
    #[error("no such merchant")]
    NotFound,
    #[error("no such key")]
    KeyNotFound,
    #[error("storage error: {0}")]
    Storage(String),
    #[error(transparent)]
    Ledger(LedgerError),
    #[error(transparent)]
    Wallet(WalletError),
}

impl MerchantError {
    pub fn code(&self) -> &'static str {
        match self {
            MerchantError::FieldInvalid { code, .. } => code,
            MerchantError::CurrencyUnknown => "currency_unknown",
            MerchantError::Amount(err) => err.code(),
            MerchantError::KeyInvalid => "merchant_key_invalid",
            MerchantError::KeyExists => "merchant_key_exists",
            MerchantError::ApiKeyNameInvalid => "api_key_name_invalid",
            MerchantError::ReferenceInvalid => "reference_invalid",
            MerchantError::ExpiryInvalid => "expires_in_s_invalid",
            MerchantError::ReferenceInUse => "reference_in_use",
            MerchantError::Inactive => "merchant_inactive",
            MerchantError::NotFound | MerchantError::KeyNotFound => "not_found",
            MerchantError::Storage(_) => "storage_error",
            MerchantError::Ledger(err) => err.code(),
            MerchantError::Wallet(err) => err.code(),
        }
    }
}

impl From<sqlx::Error> for MerchantError {
    fn from(err: sqlx::Error) -> MerchantError {
        MerchantError::Storage(err.to_string())
    }
}

impl From<LedgerError> for MerchantError {
    fn from(err: LedgerError) -> MerchantError {
        MerchantError::Ledger(err)
    }
}

impl From<MerchantError> for ApiError {
    fn from(err: MerchantError) -> ApiError {
        let code = err.code();
        match err {
            MerchantError::FieldInvalid { .. }
            | MerchantError::CurrencyUnknown
            | MerchantError::Amount(_)
            | MerchantError::KeyInvalid
            | MerchantError::ApiKeyNameInvalid
            | MerchantError::ReferenceInvalid
            | MerchantError::ExpiryInvalid => ApiError::bad_request(code, err.to_string()),
            MerchantError::KeyExists | MerchantError::ReferenceInUse => {
                ApiError::conflict(code, err.to_string())
            }
            MerchantError::Inactive => ApiError::unprocessable(code, err.to_string()),
            MerchantError::NotFound => ApiError::not_found("merchant"),
            MerchantError::KeyNotFound => ApiError::not_found("key"),
            MerchantError::Storage(message) => {
                ApiError::internal(format_args!("merchants: {message}"))
            }
            MerchantError::Ledger(err) => err.into(),
            MerchantError::Wallet(err) => err.into(),
        }
    }
}

/// A request authenticated with a POS API key (`Authorization: Bearer purse_pos_...`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PosKey {
    /// `mer_...` the key belongs to.
    pub merchant_id: String,
    /// `key_...`
    pub api_key_id: String,
    /// The key's merchant as read when the request was authenticated.
    pub merchant: Box<MerchantRow>,
}

/// Who calls a merchant route that says "owner or POS".
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MerchantCaller {
    /// A user's access token: the merchant's owner, or (where a route allows) a payer.
    User(AuthUser),
    Pos(PosKey),
}

impl MerchantCaller {
    /// The idempotency owner of this caller's keys: the user, or the POS key.
    pub fn idempotency_owner(&self) -> &str {
        match self {
            MerchantCaller::User(user) => &user.user_id,
            MerchantCaller::Pos(pos) => &pos.api_key_id,
        }
    }
}

fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn state_of(req: &HttpRequest) -> Result<web::Data<AppState>, ApiError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::internal("AppState is not registered on this route"))
}

fn pos_key_invalid() -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "pos_key_invalid", "Unauthorized")
        .detail("the POS API key is unknown or revoked")
}

impl FromRequest for PosKey {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<PosKey, ApiError>>>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let secret = bearer(req).map(str::to_owned);
        let state = state_of(req);
        Box::pin(async move {
            let state = state?;
            let secret = secret
                .filter(|s| s.starts_with(POS_SECRET_PREFIX))
                .ok_or_else(|| ApiError::from(IdentityError::TokenMissing))?;
            state.merchants.authenticate_pos(&secret).await
        })
    }
}

impl FromRequest for MerchantCaller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<MerchantCaller, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_pos = bearer(req).is_some_and(|t| t.starts_with(POS_SECRET_PREFIX));
        if is_pos {
            let pos = PosKey::from_request(req, payload);
            Box::pin(async move { Ok(MerchantCaller::Pos(pos.await?)) })
        } else {
            let user = AuthUser::from_request(req, payload);
            Box::pin(async move { Ok(MerchantCaller::User(user.await?)) })
        }
    }
}

/// Validated fields of a new merchant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewMerchant {
    name: String,
    city: String,
    country: String,
    mcc: String,
    currency: &'static Currency,
}

/// Printable ASCII: the EMV common character set, which every scanner shows correctly.
fn is_emv_text(text: &str) -> bool {
    text.bytes().all(|b| (0x20..=0x7e).contains(&b))
}

impl NewMerchant {
    pub fn validate(request: &CreateMerchantRequest) -> Result<NewMerchant, MerchantError> {
        let currency =
            Currency::from_code(&request.currency).map_err(|_| MerchantError::CurrencyUnknown)?;
        let name = request.name.trim();
        let city = request.city.trim();
        let text_field = |code, field, text: &str| {
            if is_emv_text(text) {
                Ok(())
            } else {
                Err(MerchantError::FieldInvalid {
                    code,
                    field,
                    reason: "must be printable ASCII (the EMV common character set)",
                })
            }
        };
        text_field("name_invalid", "name", name)?;
        text_field("city_invalid", "city", city)?;
        // The core's merchant code builder holds the field rules (lengths, country, MCC): one
        // definition, and a merchant that exists can always print a code.
        let probe = NewMerchantCode {
            merchant_id: "mer_probe",
            merchant_name: name,
            city,
            country: &request.country,
            mcc: &request.mcc,
            currency,
            kind: CodeKind::Static {
                expires_at_unix: None,
            },
        };
        match merchant_code::encode_unsigned(&probe) {
            Ok(_) => {}
            Err(MerchantCodeError::FieldInvalid { field, reason }) => {
                let (code, field) = match field {
                    "merchant_name" => ("name_invalid", "name"),
                    "city" => ("city_invalid", "city"),
                    "country" => ("country_invalid", "country"),
                    "mcc" => ("mcc_invalid", "mcc"),
                    other => ("merchant_invalid", other),
                };
                return Err(MerchantError::FieldInvalid {
                    code,
                    field,
                    reason,
                });
            }
            Err(err) => return Err(MerchantError::Storage(format!("probe code: {err}"))),
        }
        Ok(NewMerchant {
            name: name.to_owned(),
            city: city.to_owned(),
            country: request.country.clone(),
            mcc: request.mcc.clone(),
            currency,
        })
    }
}

/// A validated `POST /v1/merchants/{id}/qr`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QrSpec {
    amount: Option<String>,
    reference: Option<String>,
    expires_in_s: Option<u64>,
}

fn is_reference(text: &str) -> bool {
    (1..=merchant_code::REFERENCE_CHARS_MAX).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl QrSpec {
    pub fn validate(request: &CreateQrRequest) -> Result<QrSpec, MerchantError> {
        if let Some(reference) = &request.reference {
            if !is_reference(reference) {
                return Err(MerchantError::ReferenceInvalid);
            }
        }
        if let Some(seconds) = request.expires_in_s {
            if !(1..=EXPIRY_S_MAX).contains(&seconds) {
                return Err(MerchantError::ExpiryInvalid);
            }
        }
        Ok(QrSpec {
            amount: request.amount.clone(),
            reference: request.reference.clone(),
            expires_in_s: request.expires_in_s,
        })
    }
}

/// SHA-256 of a POS secret, as stored.
fn secret_hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

fn merchant_view(row: &MerchantRow) -> Merchant {
    Merchant {
        id: row.id.clone(),
        name: row.name.clone(),
        city: row.city.clone(),
        country: row.country.clone(),
        mcc: row.mcc.clone(),
        currency: row.currency.clone(),
        wallet_id: row.wallet_id.clone(),
        status: row.status.clone(),
        created_at_ms: row.created_at_ms,
    }
}

fn key_view(row: &KeyRow) -> Result<MerchantKey, MerchantError> {
    let key = PublicKey::from_bytes(&row.public_key)
        .map_err(|_| MerchantError::Storage("a stored merchant key does not parse".to_owned()))?;
    Ok(MerchantKey {
        key_id: row.key_id.clone(),
        public_key: key.to_string(),
        status: if row.revoked_at_ms.is_some() {
            "revoked"
        } else {
            "active"
        }
        .to_owned(),
        created_at_ms: row.created_at_ms,
        revoked_at_ms: row.revoked_at_ms,
    })
}

fn api_key_view(row: &ApiKeyRow, secret: Option<String>) -> ApiKey {
    ApiKey {
        id: row.id.clone(),
        name: row.name.clone(),
        secret,
        created_at_ms: row.created_at_ms,
        revoked_at_ms: row.revoked_at_ms,
    }
}

/// The currency of a stored merchant row (checked when it was written).
pub fn currency_of(row: &MerchantRow) -> Result<&'static Currency, MerchantError> {
    Currency::from_code(&row.currency)
        .map_err(|_| MerchantError::Storage(format!("merchant {} has a bad currency", row.id)))
}

/// The merchants service shared by every handler; cheap to clone.
#[derive(Clone)]
pub struct Merchants {
    db: Db,
    ledger: Ledger,
    /// Live POS keys with their merchant, by the hex SHA-256 of the secret, recently read (see
    /// [`crate::recent`] for the bound on a revocation or deactivation made by another process);
    /// one cache for every clone.
    pos_keys: Arc<Recent<PosKey>>,
}

impl Merchants {
    pub fn new(db: Db, ledger: Ledger) -> Merchants {
        Merchants {
            db,
            ledger,
            pos_keys: Arc::default(),
        }
    }

    /// Creates a merchant of `owner_id` with its wallet.
    pub async fn create(
        &self,
        owner_id: &str,
        new: NewMerchant,
    ) -> Result<Merchant, MerchantError> {
        let id = ids::new_id(IdKind::Merchant);
        let wallet = self.ledger.open_wallet(&id, new.currency.code).await?;
        let row = MerchantRow {
            id,
            owner_id: owner_id.to_owned(),
            name: new.name,
            city: new.city,
            country: new.country,
            mcc: new.mcc,
            currency: new.currency.code.to_owned(),
            wallet_id: wallet.id,
            status: "active".to_owned(),
            created_at_ms: now_ms(),
        };
        store::insert_merchant(&self.db, &row).await?;
        tracing::info!(owner_id, merchant_id = %row.id, "merchant created");
        Ok(merchant_view(&row))
    }

    /// A page of `owner_id`'s merchants, newest first.
    pub async fn list(
        &self,
        owner_id: &str,
        page: &PageQuery,
    ) -> Result<Page<Merchant>, MerchantError> {
        let limit = page
            .limit_checked()
            .ok_or(MerchantError::Wallet(WalletError::LimitInvalid))?;
        let before = match page.starting_after.as_deref() {
            None => None,
            Some(id) => match self.row(id).await?.filter(|m| m.owner_id == owner_id) {
                Some(row) => Some((row.created_at_ms, row.id)),
                None => return Err(MerchantError::Wallet(WalletError::CursorInvalid)),
            },
        };
        let mut rows =
            store::merchants_of(&self.db, owner_id, before, i64::from(limit) + 1).await?;
        let has_more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        Ok(Page {
            data: rows.iter().map(merchant_view).collect(),
            has_more,
        })
    }

    /// The merchant's wallet and balance (owner or POS).
    pub async fn wallet(
        &self,
        caller: &MerchantCaller,
        merchant_id: &str,
    ) -> Result<Wallet, MerchantError> {
        let merchant = self.authorized(caller, merchant_id).await?;
        wallets::get(&self.ledger, &merchant.id, &merchant.wallet_id)
            .await
            .map_err(MerchantError::Wallet)
    }

    /// A page of the merchant wallet's transfers, newest first (owner or POS).
    pub async fn wallet_history(
        &self,
        caller: &MerchantCaller,
        merchant_id: &str,
        page: &PageQuery,
    ) -> Result<Page<WalletTransaction>, MerchantError> {
        let merchant = self.authorized(caller, merchant_id).await?;
        wallets::history(&self.ledger, &merchant.id, &merchant.wallet_id, page)
            .await
            .map_err(MerchantError::Wallet)
    }

    /// The merchant row by id, whoever owns it (for payments, which check what they need).
    pub async fn row(&self, merchant_id: &str) -> Result<Option<MerchantRow>, MerchantError> {
        if !ids::is_valid(IdKind::Merchant, merchant_id) {
            return Ok(None);
        }
        Ok(store::merchant(&self.db, merchant_id).await?)
    }

    /// The merchant if `caller` may act for it; `NotFound` otherwise, whether it exists or not.
    pub async fn authorized(
        &self,
        caller: &MerchantCaller,
        merchant_id: &str,
    ) -> Result<MerchantRow, MerchantError> {
        let row = self
            .row(merchant_id)
            .await?
            .ok_or(MerchantError::NotFound)?;
        let allowed = match caller {
            MerchantCaller::User(user) => row.owner_id == user.user_id,
            MerchantCaller::Pos(pos) => pos.merchant_id == row.id,
        };
        if allowed {
            Ok(row)
        } else {
            Err(MerchantError::NotFound)
        }
    }

    /// The merchant if `owner_id` owns it.
    pub async fn owned(
        &self,
        owner_id: &str,
        merchant_id: &str,
    ) -> Result<MerchantRow, MerchantError> {
        let row = self
            .row(merchant_id)
            .await?
            .ok_or(MerchantError::NotFound)?;
        if row.owner_id == owner_id {
            Ok(row)
        } else {
            Err(MerchantError::NotFound)
        }
    }

    pub async fn get(&self, owner_id: &str, merchant_id: &str) -> Result<Merchant, MerchantError> {
        Ok(merchant_view(&self.owned(owner_id, merchant_id).await?))
    }

    /// Deactivates (or reactivates) a merchant: an inactive merchant's codes are refused with
    /// `merchant_inactive` and it cannot charge.
    pub async fn set_status(
        &self,
        owner_id: &str,
        merchant_id: &str,
        active: bool,
    ) -> Result<Merchant, MerchantError> {
        let mut row = self.owned(owner_id, merchant_id).await?;
        let status = if active { "active" } else { "inactive" };
        store::set_merchant_status(&self.db, &row.id, status).await?;
        // A POS key carries its merchant as read: none may carry the old status here.
        self.pos_keys.forget_all();
        row.status = status.to_owned();
        Ok(merchant_view(&row))
    }

    /// Adds a signing key: generated and kept by the server, or the merchant's own public key.
    pub async fn add_key(
        &self,
        owner_id: &str,
        merchant_id: &str,
        request: &CreateMerchantKeyRequest,
    ) -> Result<MerchantKey, MerchantError> {
        let merchant = self.owned(owner_id, merchant_id).await?;
        let row = match &request.public_key {
            Some(text) => {
                let key = text
                    .parse::<PublicKey>()
                    .map_err(|_| MerchantError::KeyInvalid)?;
                KeyRow {
                    key_id: key.key_id().to_string(),
                    merchant_id: merchant.id.clone(),
                    public_key: key.to_bytes().to_vec(),
                    secret_seed: None,
                    created_at_ms: now_ms(),
                    revoked_at_ms: None,
                }
            }
            None => self.generated_key_row(&merchant.id),
        };
        match store::insert_key(&self.db, &row).await {
            Ok(()) => {}
            Err(err) if store::is_unique_violation(&err) => return Err(MerchantError::KeyExists),
            Err(err) => return Err(err.into()),
        }
        tracing::info!(merchant_id, key_id = %row.key_id, "merchant key added");
        key_view(&row)
    }

    fn generated_key_row(&self, merchant_id: &str) -> KeyRow {
        let mut seed = zeroize::Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(&mut seed[..]);
        let secret = SecretKey::from_bytes(&seed);
        KeyRow {
            key_id: secret.key_id().to_string(),
            merchant_id: merchant_id.to_owned(),
            public_key: secret.public_key().to_bytes().to_vec(),
            secret_seed: Some(seed.to_vec()),
            created_at_ms: now_ms(),
            revoked_at_ms: None,
        }
    }

    pub async fn revoke_key(
        &self,
        owner_id: &str,
        merchant_id: &str,
        key_id: &str,
    ) -> Result<MerchantKey, MerchantError> {
        let merchant = self.owned(owner_id, merchant_id).await?;
        store::revoke_key(&self.db, &merchant.id, key_id, now_ms()).await?;
        let row = store::key(&self.db, key_id)
            .await?
            .filter(|row| row.merchant_id == merchant.id)
            .ok_or(MerchantError::KeyNotFound)?;
        tracing::info!(merchant_id, key_id, "merchant key revoked");
        key_view(&row)
    }

    /// The public key directory of a merchant (anyone may read it).
    pub async fn directory(
        &self,
        merchant_id: &str,
    ) -> Result<MerchantKeyDirectory, MerchantError> {
        let merchant = self
            .row(merchant_id)
            .await?
            .ok_or(MerchantError::NotFound)?;
        let keys = store::keys_of(&self.db, &merchant.id)
            .await?
            .iter()
            .map(key_view)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(MerchantKeyDirectory {
            merchant_id: merchant.id,
            keys,
        })
    }

    /// A signing key by its id (for verifying a code).
    pub async fn key(&self, key_id: &str) -> Result<Option<KeyRow>, MerchantError> {
        Ok(store::key(&self.db, key_id).await?)
    }

    pub async fn create_api_key(
        &self,
        owner_id: &str,
        merchant_id: &str,
        request: &CreateApiKeyRequest,
    ) -> Result<ApiKey, MerchantError> {
        let name = request.name.trim();
        let chars = name.chars().count();
        if chars == 0 || chars > API_KEY_NAME_CHARS_MAX || name.chars().any(char::is_control) {
            return Err(MerchantError::ApiKeyNameInvalid);
        }
        let merchant = self.owned(owner_id, merchant_id).await?;
        let mut random = [0u8; 32];
        OsRng.fill_bytes(&mut random);
        let secret = format!(
            "{POS_SECRET_PREFIX}{}",
            data_encoding::BASE32_DNSSEC.encode(&random)
        );
        let row = ApiKeyRow {
            id: ids::new_id(IdKind::ApiKey),
            merchant_id: merchant.id,
            name: name.to_owned(),
            created_at_ms: now_ms(),
            revoked_at_ms: None,
        };
        store::insert_api_key(&self.db, &row, &secret_hash(&secret)).await?;
        tracing::info!(merchant_id, api_key_id = %row.id, "POS API key created");
        Ok(api_key_view(&row, Some(secret)))
    }

    /// The newest [`API_KEYS_LIST_MAX`] POS keys of a merchant.
    pub async fn api_keys(
        &self,
        owner_id: &str,
        merchant_id: &str,
    ) -> Result<Page<ApiKey>, MerchantError> {
        let merchant = self.owned(owner_id, merchant_id).await?;
        let mut rows = store::api_keys_of(&self.db, &merchant.id, API_KEYS_LIST_MAX + 1).await?;
        let has_more = rows.len() as i64 > API_KEYS_LIST_MAX;
        rows.truncate(API_KEYS_LIST_MAX as usize);
        Ok(Page {
            data: rows.iter().map(|row| api_key_view(row, None)).collect(),
            has_more,
        })
    }

    pub async fn revoke_api_key(
        &self,
        owner_id: &str,
        merchant_id: &str,
        api_key_id: &str,
    ) -> Result<ApiKey, MerchantError> {
        let merchant = self.owned(owner_id, merchant_id).await?;
        let revoked = store::revoke_api_key(&self.db, &merchant.id, api_key_id, now_ms()).await;
        // Cached by secret, which this process does not keep: forget them all.
        self.pos_keys.forget_all();
        if !revoked? {
            return Err(MerchantError::KeyNotFound);
        }
        let row = store::api_key(&self.db, &merchant.id, api_key_id)
            .await?
            .ok_or(MerchantError::KeyNotFound)?;
        tracing::info!(merchant_id, api_key_id, "POS API key revoked");
        Ok(api_key_view(&row, None))
    }

    /// The POS key whose secret is `secret`; 401 `pos_key_invalid` when unknown or revoked.
    pub async fn authenticate_pos(&self, secret: &str) -> Result<PosKey, ApiError> {
        let hash = secret_hash(secret);
        let cache_key = data_encoding::HEXLOWER.encode(&hash);
        if let Some(pos) = self.pos_keys.get(&cache_key) {
            return Ok(pos);
        }
        let read = self.pos_keys.begin_read();
        let row = store::live_api_key_by_hash(&self.db, &hash)
            .await
            .map_err(|err| ApiError::internal(format_args!("merchants: {err}")))?
            .ok_or_else(pos_key_invalid)?;
        let pos = PosKey {
            merchant_id: row.merchant.id.clone(),
            api_key_id: row.api_key_id,
            merchant: Box::new(row.merchant),
        };
        self.pos_keys.put(&cache_key, pos.clone(), read);
        Ok(pos)
    }

    /// Makes, stores and renders a signed code of `merchant` with its newest server-held key
    /// (one is generated on first use).
    pub async fn create_qr(
        &self,
        merchant: &MerchantRow,
        spec: QrSpec,
    ) -> Result<MerchantQr, MerchantError> {
        if merchant.status != "active" {
            return Err(MerchantError::Inactive);
        }
        let currency = currency_of(merchant)?;
        let now = now_ms();
        let amount = match &spec.amount {
            Some(text) => Some(Amount::parse(text, currency).map_err(MerchantError::Amount)?),
            None => None,
        };
        let (kind, reference, expires_in_s) = match &amount {
            Some(_) => (
                "dynamic",
                Some(spec.reference.clone().unwrap_or_else(|| {
                    ids::new_id(IdKind::Qr)
                        .trim_start_matches(IdKind::Qr.prefix())
                        .to_owned()
                })),
                Some(spec.expires_in_s.unwrap_or(DYNAMIC_EXPIRY_S_DEFAULT)),
            ),
            // A static code carries no reference (the payer's payment has none either).
            None => ("static", None, spec.expires_in_s),
        };
        let expires_at_unix = expires_in_s.map(|s| (now / 1000) as u64 + s);
        let code_kind = match (&amount, &reference, expires_at_unix) {
            (Some(amount), Some(reference), Some(expires_at_unix)) => CodeKind::Dynamic {
                amount: *amount,
                reference: reference.clone(),
                expires_at_unix,
            },
            _ => CodeKind::Static { expires_at_unix },
        };
        let key = self.signing_key(&merchant.id).await?;
        let seed: [u8; 32] = key
            .secret_seed
            .as_deref()
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| MerchantError::Storage("a server key without its seed".to_owned()))?;
        let secret = SecretKey::from_bytes(&seed);
        let new = NewMerchantCode {
            merchant_id: &merchant.id,
            merchant_name: &merchant.name,
            city: &merchant.city,
            country: &merchant.country,
            mcc: &merchant.mcc,
            currency,
            kind: code_kind,
        };
        let payload = merchant_code::generate(&secret, &new)
            .map_err(|err| MerchantError::Storage(format!("making a merchant code: {err}")))?;
        let qr = purse_core::qr::Qr::new(&payload)
            .map_err(|err| MerchantError::Storage(format!("rendering a QR code: {err}")))?;
        let png = qr
            .to_png()
            .map_err(|err| MerchantError::Storage(format!("rendering a QR code: {err}")))?;
        let row = QrRow {
            id: ids::new_id(IdKind::Qr),
            merchant_id: merchant.id.clone(),
            kind: kind.to_owned(),
            key_id: key.key_id.clone(),
            amount_minor: amount.map(|a| a.minor()),
            currency: currency.code.to_owned(),
            reference: reference.clone(),
            expires_at_ms: expires_at_unix.map(|s| s as i64 * 1000),
            payload: payload.clone(),
            created_at_ms: now,
        };
        match store::insert_qr(&self.db, &row).await {
            Ok(()) => {}
            Err(err) if store::is_unique_violation(&err) => {
                return Err(MerchantError::ReferenceInUse);
            }
            Err(err) => return Err(err.into()),
        }
        Ok(MerchantQr {
            id: row.id,
            kind: row.kind,
            payload,
            svg: qr.to_svg(),
            png_base64: data_encoding::BASE64.encode(&png),
            amount: amount.map(|a| money::format_minor(a.minor(), currency)),
            currency: row.currency,
            reference,
            expires_at_ms: row.expires_at_ms,
        })
    }

    /// The newest unrevoked server-held key of a merchant, generated on first use.
    async fn signing_key(&self, merchant_id: &str) -> Result<KeyRow, MerchantError> {
        let newest = store::keys_of(&self.db, merchant_id)
            .await?
            .into_iter()
            .rev()
            .find(|k| k.revoked_at_ms.is_none() && k.secret_seed.is_some());
        if let Some(key) = newest {
            return Ok(key);
        }
        let row = self.generated_key_row(merchant_id);
        store::insert_key(&self.db, &row).await?;
        Ok(row)
    }
}
