//! Merchant HTTP handlers under `/v1/merchants` and their OpenAPI fragment. Each extracts,
//! validates, makes one call and maps the answer; no rule and no SQL lives here.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use purse_core::api::ledger::{Wallet, WalletTransaction};
use purse_core::api::merchants::{
    ApiKey, CreateApiKeyRequest, CreateMerchantKeyRequest, CreateMerchantRequest, CreateQrRequest,
    Merchant, MerchantKey, MerchantKeyDirectory, MerchantQr,
};
use purse_core::api::{Page, PageQuery, Problem};
use utoipa::OpenApi;

use super::{MerchantCaller, NewMerchant, QrSpec};
use crate::app::AppState;
use crate::error::ApiError;
use crate::idempotency::{Answer, Fingerprint, IdempotencyKey};
use crate::identity::AuthUser;

/// How long clients and proxies may cache the public key directory.
pub const KEY_DIRECTORY_MAX_AGE_S: u32 = 300;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/merchants", web::post().to(create_merchant))
        .route("/merchants", web::get().to(list_merchants))
        .route("/merchants/{merchant_id}", web::get().to(get_merchant))
        .route(
            "/merchants/{merchant_id}/wallet",
            web::get().to(merchant_wallet),
        )
        .route(
            "/merchants/{merchant_id}/wallet/transactions",
            web::get().to(merchant_wallet_transactions),
        )
        .route(
            "/merchants/{merchant_id}/deactivate",
            web::post().to(deactivate_merchant),
        )
        .route(
            "/merchants/{merchant_id}/activate",
            web::post().to(activate_merchant),
        )
        .route("/merchants/{merchant_id}/keys", web::post().to(create_key))
        .route(
            "/merchants/{merchant_id}/keys",
            web::get().to(key_directory),
        )
        .route(
            "/merchants/{merchant_id}/keys/{key_id}",
            web::delete().to(revoke_key),
        )
        .route(
            "/merchants/{merchant_id}/api-keys",
            web::post().to(create_api_key),
        )
        .route(
            "/merchants/{merchant_id}/api-keys",
            web::get().to(list_api_keys),
        )
        .route(
            "/merchants/{merchant_id}/api-keys/{key_id}",
            web::delete().to(revoke_api_key),
        )
        .route("/merchants/{merchant_id}/qr", web::post().to(create_qr));
}

/// Create a merchant (you become its owner) with a wallet in its currency.
///
/// `Idempotency-Key` is optional: the same key and body answer the first merchant again.
#[utoipa::path(post, path = "/v1/merchants", tag = "merchants", security(("bearer" = [])),
    request_body = CreateMerchantRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Optional")),
    responses(
        (status = 201, description = "The merchant", body = Merchant),
        (status = 400, description = "`name_invalid`, `city_invalid`, `country_invalid`, `mcc_invalid`, `currency_unknown`, `body_invalid`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "A `token_*` code", body = Problem, content_type = "application/problem+json")))]
pub async fn create_merchant(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: AuthUser,
    body: web::Json<CreateMerchantRequest>,
) -> Result<HttpResponse, ApiError> {
    let key = IdempotencyKey::from_headers(req.headers())?;
    let new = NewMerchant::validate(&body)?;
    let execute = || async {
        let merchant = state.merchants.create(&user.user_id, new).await?;
        Ok(Answer::json(StatusCode::CREATED, &merchant))
    };
    match key {
        Some(key) => {
            let fingerprint = Fingerprint::of("POST", "/v1/merchants", &*body);
            state
                .idempotency
                .run(&user.user_id, &key, fingerprint, execute)
                .await
        }
        None => Ok(execute().await?.into_response()),
    }
}

/// Your merchants, newest first, cursor-paginated.
#[utoipa::path(get, path = "/v1/merchants", tag = "merchants", security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "Your merchants", body = Page<Merchant>),
        (status = 400, description = "`limit_invalid`, `starting_after_invalid`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "A `token_*` code", body = Problem, content_type = "application/problem+json")))]
pub async fn list_merchants(
    state: web::Data<AppState>,
    user: AuthUser,
    query: web::Query<PageQuery>,
) -> Result<web::Json<Page<Merchant>>, ApiError> {
    Ok(web::Json(
        state.merchants.list(&user.user_id, &query).await?,
    ))
}

/// The merchant's wallet and balance (owner or POS key).
#[utoipa::path(get, path = "/v1/merchants/{merchant_id}/wallet", tag = "merchants", security(("bearer" = []), ("pos_key" = [])),
    params(("merchant_id" = String, Path, description = "`mer_...`")),
    responses(
        (status = 200, description = "The wallet", body = Wallet),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json")))]
pub async fn merchant_wallet(
    state: web::Data<AppState>,
    caller: MerchantCaller,
    path: web::Path<String>,
) -> Result<web::Json<Wallet>, ApiError> {
    Ok(web::Json(state.merchants.wallet(&caller, &path).await?))
}

/// The merchant wallet's transfers (payments in, refunds out), newest first, cursor-paginated
/// (owner or POS key).
#[utoipa::path(get, path = "/v1/merchants/{merchant_id}/wallet/transactions", tag = "merchants", security(("bearer" = []), ("pos_key" = [])),
    params(("merchant_id" = String, Path, description = "`mer_...`"), PageQuery),
    responses(
        (status = 200, description = "One page of the history", body = Page<WalletTransaction>),
        (status = 400, description = "`limit_invalid`, `starting_after_invalid`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json")))]
pub async fn merchant_wallet_transactions(
    state: web::Data<AppState>,
    caller: MerchantCaller,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<web::Json<Page<WalletTransaction>>, ApiError> {
    Ok(web::Json(
        state
            .merchants
            .wallet_history(&caller, &path, &query)
            .await?,
    ))
}

/// One of your merchants; anyone else's is a 404.
#[utoipa::path(get, path = "/v1/merchants/{merchant_id}", tag = "merchants", security(("bearer" = [])),
    params(("merchant_id" = String, Path, description = "`mer_...`")),
    responses(
        (status = 200, description = "The merchant", body = Merchant),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json")))]
pub async fn get_merchant(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<web::Json<Merchant>, ApiError> {
    Ok(web::Json(state.merchants.get(&user.user_id, &path).await?))
}

/// Deactivate a merchant: its codes are refused (`merchant_inactive`) and it cannot charge.
#[utoipa::path(post, path = "/v1/merchants/{merchant_id}/deactivate", tag = "merchants", security(("bearer" = [])),
    params(("merchant_id" = String, Path, description = "`mer_...`")),
    responses(
        (status = 200, description = "The merchant", body = Merchant),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json")))]
pub async fn deactivate_merchant(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<web::Json<Merchant>, ApiError> {
    Ok(web::Json(
        state
            .merchants
            .set_status(&user.user_id, &path, false)
            .await?,
    ))
}

/// Activate a deactivated merchant again.
#[utoipa::path(post, path = "/v1/merchants/{merchant_id}/activate", tag = "merchants", security(("bearer" = [])),
    params(("merchant_id" = String, Path, description = "`mer_...`")),
    responses(
        (status = 200, description = "The merchant", body = Merchant),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json")))]
pub async fn activate_merchant(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<web::Json<Merchant>, ApiError> {
    Ok(web::Json(
        state
            .merchants
            .set_status(&user.user_id, &path, true)
            .await?,
    ))
}

/// Add a signing key: `{}` makes the server generate and keep one (it signs the codes the server
/// makes); `{"public_key": ...}` registers a key you hold (for codes signed at the till).
#[utoipa::path(post, path = "/v1/merchants/{merchant_id}/keys", tag = "merchants", security(("bearer" = [])),
    request_body = CreateMerchantKeyRequest,
    params(("merchant_id" = String, Path, description = "`mer_...`")),
    responses(
        (status = 201, description = "The key", body = MerchantKey),
        (status = 400, description = "`merchant_key_invalid`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`merchant_key_exists`", body = Problem, content_type = "application/problem+json")))]
pub async fn create_key(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
    body: web::Json<CreateMerchantKeyRequest>,
) -> Result<HttpResponse, ApiError> {
    let key = state.merchants.add_key(&user.user_id, &path, &body).await?;
    Ok(HttpResponse::Created().json(key))
}

/// The public key directory of a merchant: no authentication, cacheable for 5 minutes.
#[utoipa::path(get, path = "/v1/merchants/{merchant_id}/keys", tag = "merchants",
    params(("merchant_id" = String, Path, description = "`mer_...`")),
    responses(
        (status = 200, description = "Every key, revoked ones included", body = MerchantKeyDirectory),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json")))]
pub async fn key_directory(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let directory = state.merchants.directory(&path).await?;
    Ok(HttpResponse::Ok()
        .insert_header((
            actix_web::http::header::CACHE_CONTROL,
            format!("public, max-age={KEY_DIRECTORY_MAX_AGE_S}"),
        ))
        .json(directory))
}

/// Revoke a signing key: codes signed with it are refused from now on (`merchant_key_revoked`).
#[utoipa::path(delete, path = "/v1/merchants/{merchant_id}/keys/{key_id}", tag = "merchants", security(("bearer" = [])),
    params(
        ("merchant_id" = String, Path, description = "`mer_...`"),
        ("key_id" = String, Path, description = "16 hex digits"),
    ),
    responses(
        (status = 200, description = "The revoked key", body = MerchantKey),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json")))]
pub async fn revoke_key(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(String, String)>,
) -> Result<web::Json<MerchantKey>, ApiError> {
    let (merchant_id, key_id) = path.into_inner();
    Ok(web::Json(
        state
            .merchants
            .revoke_key(&user.user_id, &merchant_id, &key_id)
            .await?,
    ))
}

/// Create a POS API key. The `secret` is in this answer only; the server keeps its SHA-256.
#[utoipa::path(post, path = "/v1/merchants/{merchant_id}/api-keys", tag = "merchants", security(("bearer" = [])),
    request_body = CreateApiKeyRequest,
    params(("merchant_id" = String, Path, description = "`mer_...`")),
    responses(
        (status = 201, description = "The key with its secret", body = ApiKey),
        (status = 400, description = "`api_key_name_invalid`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json")))]
pub async fn create_api_key(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
    body: web::Json<CreateApiKeyRequest>,
) -> Result<HttpResponse, ApiError> {
    let key = state
        .merchants
        .create_api_key(&user.user_id, &path, &body)
        .await?;
    Ok(HttpResponse::Created().json(key))
}

/// The merchant's POS API keys, without secrets.
#[utoipa::path(get, path = "/v1/merchants/{merchant_id}/api-keys", tag = "merchants", security(("bearer" = [])),
    params(("merchant_id" = String, Path, description = "`mer_...`")),
    responses(
        (status = 200, description = "The newest 100 keys", body = Page<ApiKey>),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json")))]
pub async fn list_api_keys(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<web::Json<Page<ApiKey>>, ApiError> {
    Ok(web::Json(
        state.merchants.api_keys(&user.user_id, &path).await?,
    ))
}

/// Revoke a POS API key: it is refused (`pos_key_invalid`) from now on.
#[utoipa::path(delete, path = "/v1/merchants/{merchant_id}/api-keys/{key_id}", tag = "merchants", security(("bearer" = [])),
    params(
        ("merchant_id" = String, Path, description = "`mer_...`"),
        ("key_id" = String, Path, description = "`key_...`"),
    ),
    responses(
        (status = 200, description = "The revoked key", body = ApiKey),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json")))]
pub async fn revoke_api_key(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(String, String)>,
) -> Result<web::Json<ApiKey>, ApiError> {
    let (merchant_id, key_id) = path.into_inner();
    Ok(web::Json(
        state
            .merchants
            .revoke_api_key(&user.user_id, &merchant_id, &key_id)
            .await?,
    ))
}

/// Make a signed QR code (owner or POS key). With `amount` it is dynamic: payable once, with a
/// reference (generated when absent) and an expiry (15 minutes by default).
#[utoipa::path(post, path = "/v1/merchants/{merchant_id}/qr", tag = "merchants", security(("bearer" = []), ("pos_key" = [])),
    request_body = CreateQrRequest,
    params(("merchant_id" = String, Path, description = "`mer_...`")),
    responses(
        (status = 201, description = "The code, as text, SVG and PNG", body = MerchantQr),
        (status = 400, description = "`amount_malformed`, `amount_too_precise`, `amount_not_positive`, `amount_too_large`, `reference_invalid`, `expires_in_s_invalid`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`reference_in_use`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`merchant_inactive`", body = Problem, content_type = "application/problem+json")))]
pub async fn create_qr(
    state: web::Data<AppState>,
    caller: MerchantCaller,
    path: web::Path<String>,
    body: web::Json<CreateQrRequest>,
) -> Result<HttpResponse, ApiError> {
    let spec = QrSpec::validate(&body)?;
    let merchant = state.merchants.authorized(&caller, &path).await?;
    let qr = state.merchants.create_qr(&merchant, spec).await?;
    Ok(HttpResponse::Created().json(qr))
}

#[derive(OpenApi)]
#[openapi(
    paths(create_merchant, list_merchants, get_merchant, merchant_wallet,
        merchant_wallet_transactions, deactivate_merchant, activate_merchant,
        create_key, key_directory, revoke_key, create_api_key, list_api_keys, revoke_api_key,
        create_qr),
    components(schemas(CreateMerchantRequest, Merchant, CreateMerchantKeyRequest, MerchantKey,
        MerchantKeyDirectory, CreateApiKeyRequest, ApiKey, CreateQrRequest, MerchantQr, Problem)),
    tags((name = "merchants", description = "Merchants, their signing keys, POS API keys and QR codes")),
)]
pub struct Api;
