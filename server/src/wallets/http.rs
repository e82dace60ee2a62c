//! Wallet HTTP handlers under `/v1/wallets` and their OpenAPI fragment. Each extracts, calls one
//! function of [`super`] and maps the answer; no rule and no SQL lives here.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use purse_core::api::ledger::{CreateWalletRequest, Direction, Wallet, WalletTransaction};
use purse_core::api::{Page, PageQuery, Problem};
use utoipa::OpenApi;

use crate::app::AppState;
use crate::error::ApiError;
use crate::idempotency::{Answer, Fingerprint, IdempotencyKey};
use crate::identity::AuthUser;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/wallets")
            .route(web::post().to(create_wallet))
            .route(web::get().to(list_wallets)),
    )
    .route("/wallets/{wallet_id}", web::get().to(get_wallet))
    .route(
        "/wallets/{wallet_id}/transactions",
        web::get().to(wallet_transactions),
    );
}

/// Open your wallet in a currency (one per currency). Opening it again answers the existing
/// wallet with 200. An optional `Idempotency-Key` replays the first answer exactly.
#[utoipa::path(post, path = "/v1/wallets", tag = "wallets", security(("bearer" = [])),
    request_body = CreateWalletRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Optional: 1 to 128 visible ASCII characters")),
    responses(
        (status = 201, description = "The wallet was opened", body = Wallet),
        (status = 200, description = "You already had a wallet in this currency", body = Wallet),
        (status = 400, description = "`currency_unknown`, `body_invalid`, `idempotency_key_invalid`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "A `token_*` code", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`idempotency_key_in_use`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`idempotency_key_reused`", body = Problem, content_type = "application/problem+json")))]
pub async fn create_wallet(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: AuthUser,
    body: web::Json<CreateWalletRequest>,
) -> Result<HttpResponse, ApiError> {
    let key = IdempotencyKey::from_headers(req.headers())?;
    let body = body.into_inner();
    let execute = || async {
        let (wallet, created) = super::open(&state.ledger, &user.user_id, &body.currency).await?;
        let status = if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        Ok(Answer::json(status, &wallet))
    };
    match key {
        Some(key) => {
            let fingerprint = Fingerprint::of("POST", "/v1/wallets", &body);
            state
                .idempotency
                .run(&user.user_id, &key, fingerprint, execute)
                .await
        }
        None => Ok(execute().await?.into_response()),
    }
}

/// Your wallets, one per currency.
#[utoipa::path(get, path = "/v1/wallets", tag = "wallets", security(("bearer" = [])),
    responses(
        (status = 200, description = "Every wallet of the caller (one page)", body = Page<Wallet>),
        (status = 401, description = "A `token_*` code", body = Problem, content_type = "application/problem+json")))]
pub async fn list_wallets(
    state: web::Data<AppState>,
    user: AuthUser,
) -> Result<web::Json<Page<Wallet>>, ApiError> {
    Ok(web::Json(super::list(&state.ledger, &user.user_id).await?))
}

/// One of your wallets with its balance. Someone else's wallet is a 404, like a missing one.
#[utoipa::path(get, path = "/v1/wallets/{wallet_id}", tag = "wallets", security(("bearer" = [])),
    params(("wallet_id" = String, Path, description = "`wal_...`")),
    responses(
        (status = 200, description = "The wallet", body = Wallet),
        (status = 401, description = "A `token_*` code", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json")))]
pub async fn get_wallet(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<web::Json<Wallet>, ApiError> {
    Ok(web::Json(
        super::get(&state.ledger, &user.user_id, &path).await?,
    ))
}

/// The transfers of one of your wallets, newest first, cursor-paginated: pass the `id` of the
/// last item as `starting_after` for the next page while `has_more` is true.
#[utoipa::path(get, path = "/v1/wallets/{wallet_id}/transactions", tag = "wallets",
    security(("bearer" = [])),
    params(
        ("wallet_id" = String, Path, description = "`wal_...`"),
        ("limit" = Option<u32>, Query, description = "Items per page, 1 to 100 (default 20)"),
        ("starting_after" = Option<String>, Query, description = "The `id` of the last item of the previous page"),
    ),
    responses(
        (status = 200, description = "One page of the history", body = Page<WalletTransaction>),
        (status = 400, description = "`limit_invalid`, `starting_after_invalid`, `query_invalid`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "A `token_*` code", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json")))]
pub async fn wallet_transactions(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<web::Json<Page<WalletTransaction>>, ApiError> {
    Ok(web::Json(
        super::history(&state.ledger, &user.user_id, &path, &query).await?,
    ))
}

#[derive(OpenApi)]
#[openapi(
    paths(create_wallet, list_wallets, get_wallet, wallet_transactions),
    components(schemas(CreateWalletRequest, Wallet, WalletTransaction, Direction, Problem)),
    tags((name = "wallets", description = "Wallets, balances and history")),
)]
pub struct Api;
