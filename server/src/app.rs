//! The application: shared state ([`AppState`]), the route table, the middleware (metrics,
//! problem+json for every error), and starting and stopping the HTTP server with a graceful drain.
//! It never holds business logic: each area registers its routes through one `routes` function
//! and its handlers send one message or call to the area's domain layer.
//!
//! Tests start the very same server in-process with [`Server::start`] on `127.0.0.1:0`.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::body::BoxBody;
use actix_web::dev::{ServerHandle, Service, ServiceResponse};
use actix_web::http::header;
use actix_web::{HttpResponse, web};
use purse_core::api::{Health, PROBLEM_CONTENT_TYPE};

use crate::config::Config;
use crate::db::{Db, DbError};
use crate::error::{self, ApiError};
use crate::metrics::Metrics;

/// Everything handlers share. Cheap to clone (pools and `Arc`s).
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    pub metrics: Metrics,
    /// The double-entry ledger and its actors: the only way money moves.
    pub ledger: crate::ledger::Ledger,
    /// Users, sessions, devices and request signatures.
    pub identity: Arc<crate::identity::Identity>,
    /// P2P transfers: who may send what to whom, and the per-user limits.
    pub transfers: crate::transfers::Transfers,
    /// `Idempotency-Key` records: replays, 409 and 422.
    pub idempotency: crate::idempotency::Idempotency,
    /// Events for SSE, webhooks and the SDK (`payment.succeeded`, ...).
    pub events: crate::events::Events,
    /// Merchants, their keys and QR codes.
    pub merchants: crate::merchants::Merchants,
    /// Payments to merchants (both QR flows) and refunds.
    pub payments: crate::payments::Payments,
    /// Risk rules and their rejections.
    pub risk: crate::risk::Risk,
    /// Merchant webhook endpoints, secrets and the delivery log.
    pub webhooks: crate::webhooks::Webhooks,
    /// Stops the webhook dispatcher task at shutdown.
    pub webhook_dispatcher: crate::webhooks::dispatcher::Handle,
    /// The OpenAPI document, rendered once at start.
    openapi_json: Arc<String>,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Other(String),
}

impl StartError {
    pub fn code(&self) -> &'static str {
        match self {
            StartError::Db(err) => err.code(),
            StartError::Bind { .. } => "listen_failed",
            StartError::Other(_) => "start_failed",
        }
    }
}

impl AppState {
    /// Opens and migrates the database and starts the actors. Must run inside an actix `System`.
    pub async fn start(config: Config) -> Result<AppState, StartError> {
        let db = Db::open(&config).await?;
        let metrics = Metrics::new();
        let identity = crate::identity::Identity::start(
            db.clone(),
            crate::identity::IdentityConfig::default(),
        )
        .await
        .map_err(|err| StartError::Other(format!("starting identity: {err}")))?;
        let ledger = crate::ledger::Ledger::start(
            db.clone(),
            &config.ledger,
            &config.wallets,
            metrics.clone(),
        );
        let events = crate::events::Events::new(db.clone());
        let transfers = crate::transfers::Transfers::new(
            ledger.clone(),
            identity.clone(),
            &config.limits,
            db.clone(),
            events.clone(),
        );
        let idempotency = crate::idempotency::Idempotency::start(db.clone());
        let merchants = crate::merchants::Merchants::new(db.clone(), ledger.clone());
        let risk = crate::risk::Risk::new(&config.risk, db.clone());
        let payments = crate::payments::Payments::new(
            db.clone(),
            ledger.clone(),
            identity.clone(),
            merchants.clone(),
            risk.clone(),
            events.clone(),
        );
        let webhooks = crate::webhooks::Webhooks::new(db.clone(), events.clone(), &config.webhooks);
        let webhook_dispatcher =
            crate::webhooks::dispatcher::start(db.clone(), events.clone(), config.webhooks.clone());
        let openapi_json = serde_json::to_string(&crate::openapi::document())
            .map_err(|err| StartError::Other(format!("rendering the OpenAPI document: {err}")))?;
        Ok(AppState {
            config: Arc::new(config),
            db,
            metrics,
            ledger,
            identity,
            transfers,
            idempotency,
            events,
            merchants,
            payments,
            risk,
            webhooks,
            webhook_dispatcher,
            openapi_json: Arc::new(openapi_json),
        })
    }

    /// Stops the actors after the HTTP server drained (queued transfers still commit), then
    /// closes the pool.
    pub async fn shutdown(&self) {
        let dispatcher_wait = Duration::from_millis(self.config.webhooks.timeout_ms + 1_000);
        self.webhook_dispatcher.shutdown(dispatcher_wait).await;
        self.ledger.shutdown().await;
        self.db.close().await;
    }
}

/// Registers every route of the API on an actix `App` (or a test service).
pub fn configure(state: AppState) -> impl Fn(&mut web::ServiceConfig) + Clone {
    move |cfg: &mut web::ServiceConfig| {
        let body_max_bytes = state.config.body_max_bytes;
        cfg.app_data(web::Data::new(state.clone()))
            .app_data(error::json_config(body_max_bytes))
            .app_data(error::payload_config(body_max_bytes))
            .app_data(error::query_config())
            .app_data(error::path_config())
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
            .route("/metrics", web::get().to(metrics))
            .route("/openapi.json", web::get().to(openapi_json))
            .service(web::scope("/v1").configure(configure_v1));
    }
}

/// The `/v1` API: one line per area.
fn configure_v1(cfg: &mut web::ServiceConfig) {
    cfg.configure(crate::identity::http::routes);
    cfg.configure(crate::ledger::http::routes);
    cfg.configure(crate::wallets::http::routes);
    cfg.configure(crate::transfers::http::routes);
    cfg.configure(crate::merchants::http::routes);
    cfg.configure(crate::payments::http::routes);
    cfg.configure(crate::risk::http::routes);
    cfg.configure(crate::events::http::routes);
    cfg.configure(crate::webhooks::http::routes);
}

/// A running HTTP server.
pub struct Server {
    addr: SocketAddr,
    state: AppState,
    server: actix_web::dev::Server,
}

/// How to run the server; tests switch off signal handling so Ctrl-C reaches the test runner.
#[derive(Clone, Copy, Debug)]
pub struct RunOptions {
    pub handle_signals: bool,
}

impl Server {
    /// Starts the database, the actors and the HTTP server on `config.listen` (port 0 picks a free
    /// port; see [`Server::addr`]). Must run inside an actix `System`.
    pub async fn start(config: Config, options: RunOptions) -> Result<Server, StartError> {
        let listener = TcpListener::bind(&config.listen).map_err(|source| StartError::Bind {
            addr: config.listen.clone(),
            source,
        })?;
        let state = AppState::start(config).await?;
        Server::from_listener(state, listener, options)
    }

    pub fn from_listener(
        state: AppState,
        listener: TcpListener,
        options: RunOptions,
    ) -> Result<Server, StartError> {
        let addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: "listener".to_owned(),
            source,
        })?;
        let bind_err = |source| StartError::Bind {
            addr: addr.to_string(),
            source,
        };
        let config = state.config.clone();
        let app_state = state.clone();
        let mut http = actix_web::HttpServer::new(move || {
            let metrics = app_state.metrics.clone();
            actix_web::App::new()
                .configure(configure(app_state.clone()))
                .default_service(web::to(error::not_found))
                .wrap_fn(move |req, srv| {
                    let started = Instant::now();
                    let method = req.method().to_string();
                    let route = req
                        .match_pattern()
                        .unwrap_or_else(|| "unmatched".to_owned());
                    let call = srv.call(req);
                    let metrics = metrics.clone();
                    async move {
                        let response = problem_body(call.await?.map_into_boxed_body());
                        metrics.observe_request(
                            &method,
                            &route,
                            response.status().as_u16(),
                            started.elapsed().as_secs_f64(),
                        );
                        Ok(response)
                    }
                })
        })
        .shutdown_timeout(config.shutdown_timeout_ms.div_ceil(1000))
        .listen(listener)
        .map_err(bind_err)?;
        if config.http_workers > 0 {
            http = http.workers(config.http_workers);
        }
        if !options.handle_signals {
            http = http.disable_signals();
        }
        Ok(Server {
            addr,
            state,
            server: http.run(),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// A handle to stop the server gracefully from elsewhere (`handle.stop(true)`).
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped (SIGTERM/SIGINT when signals are handled, or [`Server::handle`]):
    /// in-flight requests drain first, then the actors stop and the pool closes.
    pub async fn run(self) -> std::io::Result<()> {
        let result = self.server.await;
        self.state.shutdown().await;
        result
    }
}

/// Replaces the plain-text body of an error that actix produced on its own with a problem.
fn problem_body(response: ServiceResponse<BoxBody>) -> ServiceResponse<BoxBody> {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with(PROBLEM_CONTENT_TYPE));
    if is_problem {
        return response;
    }
    let problem = error::problem_for_status(status);
    let (req, _) = response.into_parts();
    ServiceResponse::new(req, actix_web::ResponseError::error_response(&problem))
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process is alive", body = Health)))]
pub async fn healthz() -> web::Json<Health> {
    web::Json(Health {
        status: "ok".to_owned(),
    })
}

/// Readiness: the database answers within a second.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready to serve", body = Health),
        (status = 503, description = "The database is unreachable", body = purse_core::api::Problem,
            content_type = "application/problem+json")))]
pub async fn readyz(state: web::Data<AppState>) -> Result<web::Json<Health>, ApiError> {
    match tokio::time::timeout(Duration::from_secs(1), state.db.ping()).await {
        Ok(Ok(())) => Ok(web::Json(Health {
            status: "ok".to_owned(),
        })),
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "readiness check failed");
            Err(ApiError::unavailable(
                "database_unreachable",
                "the database does not answer",
            ))
        }
        Err(_) => Err(ApiError::unavailable(
            "database_unreachable",
            "the database did not answer within a second",
        )),
    }
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")))]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}

/// This document: the OpenAPI 3.1 description of every route.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json")))]
pub async fn openapi_json(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(state.openapi_json.as_str().to_owned())
}
