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
    /// Top-ups and provider webhooks.
    pub topups: crate::topups::TopUps,
    /// Settlement report import and reconciliation.
    pub settlement: crate::settlement::Settlement,
    /// The built-in sandbox acquirer, when mounted (`[sandbox] enabled`).
    pub sandbox: Option<crate::sandbox::Sandbox>,
    /// This server's own base URL (`http://127.0.0.1:PORT`), set once it listens.
    pub self_url: crate::providers::sandbox::SelfUrl,
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
        let ledger = crate::ledger::Ledger::start(
            db.clone(),
            &config.ledger,
            &config.wallets,
            metrics.clone(),
        );
        // Every durable writer of this process commits through one gate (see `write_gate`).
        let write_gate = ledger.write_gate();
        let identity = crate::identity::Identity::start_with_writer(
            db.clone(),
            write_gate.clone(),
            config.identity.clone(),
        )
        .await
        .map_err(|err| StartError::Other(format!("starting identity: {err}")))?;
        let events = crate::events::Events::with_writer(db.clone(), write_gate.clone());
        let transfers = crate::transfers::Transfers::new(
            ledger.clone(),
            identity.clone(),
            &config.limits,
            events.clone(),
        );
        let idempotency =
            crate::idempotency::Idempotency::start_with_writer(db.clone(), write_gate);
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
        // Payments, charges and refunds a crash cut off half-way: completed in the background.
        let recovering = payments.clone();
        tokio::spawn(async move {
            match recovering.recover_pending_payments().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(payments = n, "pending payments and charges settled"),
                Err(err) => tracing::warn!(error = %err, "settling pending payments failed"),
            }
            match recovering.recover_pending_refunds().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(refunds = n, "pending refunds recovered"),
                Err(err) => tracing::warn!(error = %err, "recovering pending refunds failed"),
            }
        });
        let self_url = crate::providers::sandbox::SelfUrl::default();
        let provider =
            crate::providers::sandbox::SandboxClient::new(config.sandbox.clone(), self_url.clone());
        let topups = crate::topups::TopUps::new(
            db.clone(),
            ledger.clone(),
            events.clone(),
            metrics.clone(),
            provider.clone(),
        );
        let settlement = crate::settlement::Settlement::new(
            db.clone(),
            ledger.clone(),
            metrics.clone(),
            config.settlement_reports_dir(),
        );
        crate::settlement::start_puller(
            settlement.clone(),
            provider,
            Duration::from_secs(config.settlement.pull_interval_s),
        );
        let sandbox = config.sandbox.enabled.then(|| {
            crate::sandbox::Sandbox::new(db.clone(), config.sandbox.clone(), self_url.clone())
        });
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
            topups,
            settlement,
            sandbox,
            self_url,
            openapi_json: Arc::new(openapi_json),
        })
    }

    /// Stops the actors after the HTTP server drained (queued transfers still commit), then
    /// closes the pool.
    pub async fn shutdown(&self) {
        let dispatcher_wait = Duration::from_millis(self.config.webhooks.timeout_ms + 1_000);
        self.webhook_dispatcher.shutdown(dispatcher_wait).await;
        // Answers sent before their idempotency record committed (SQLite) get it now.
        if tokio::time::timeout(
            crate::ledger::SHUTDOWN_STEP_TIMEOUT,
            self.idempotency.flush(),
        )
        .await
        .is_err()
        {
            tracing::warn!("idempotency records did not flush in time; stopping anyway");
        }
        self.ledger.shutdown().await;
        // Bounded like every ledger step: `close` waits for every checked-out connection, and a
        // connection held by a future dropped on a stopped thread (a wallet actor's balance read
        // when its arbiter stopped) is returned by a task that may never run.
        if tokio::time::timeout(crate::ledger::SHUTDOWN_STEP_TIMEOUT, self.db.close())
            .await
            .is_err()
        {
            tracing::warn!("database pool did not close in time; stopping anyway");
        }
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
            .configure(crate::pos::routes)
            .service(web::scope("/v1").configure(configure_v1));
        if let Some(sandbox) = &state.sandbox {
            cfg.service(
                web::scope("/sandbox")
                    .app_data(web::Data::new(sandbox.clone()))
                    .configure(crate::sandbox::http::routes),
            );
        }
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
    cfg.configure(crate::topups::http::routes);
}

/// The `Content-Length` of a request, if it declares one (a malformed one is left to actix).
fn declared_body_bytes(req: &actix_web::dev::ServiceRequest) -> Option<usize> {
    req.headers()
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
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
        let _ = state.self_url.set(format!("http://{addr}"));
        let config = state.config.clone();
        let app_state = state.clone();
        let mut http = actix_web::HttpServer::new(move || {
            let metrics = app_state.metrics.clone();
            let body_max_bytes = app_state.config.body_max_bytes;
            actix_web::App::new()
                .configure(configure(app_state.clone()))
                .default_service(web::to(error::not_found))
                .wrap_fn(move |req, srv| {
                    let started = Instant::now();
                    let method = req.method().to_string();
                    let route = req
                        .match_pattern()
                        .unwrap_or_else(|| "unmatched".to_owned());
                    // A declared body over the limit is refused before routing, so routes that
                    // read no body (or read it only after authentication) answer 413 as well.
                    let call = if declared_body_bytes(&req).is_some_and(|n| n > body_max_bytes) {
                        Err(req)
                    } else {
                        Ok(srv.call(req))
                    };
                    let metrics = metrics.clone();
                    async move {
                        let response = match call {
                            Ok(call) => call.await?.map_into_boxed_body(),
                            Err(req) => req.error_response(error::body_too_large(body_max_bytes)),
                        };
                        let response = problem_body(response);
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
    // The latest ledger verification is a database fact; a slow database must not stall a scrape.
    let latest = tokio::time::timeout(
        Duration::from_secs(1),
        crate::operations::latest_verification(&state.db),
    )
    .await;
    if let Ok(Ok(Some(run))) = latest {
        state
            .metrics
            .set_ledger_verification(run.ok, run.created_at_ms);
    }
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
