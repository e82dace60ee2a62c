//! `purse sandbox-provider --listen 127.0.0.1:PORT`: the sandbox acquirer alone, as a separate
//! process (the same routes `purse serve` mounts under `/sandbox`). It keeps its state in the
//! configured database (its own `sandbox_intents` table) and delivers webhooks to
//! `[sandbox] webhook_url`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::config::Config;
use crate::db::Db;
use crate::providers::sandbox::SelfUrl;
use crate::sandbox::Sandbox;

#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// Address to listen on, such as 127.0.0.1:9100.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9100")]
    pub listen: String,
    /// A TOML configuration file; `PURSE_*` environment variables override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

pub fn run(args: SandboxArgs) -> anyhow::Result<u8> {
    let config = Config::load(args.config.as_deref())?;
    super::serve::init_logging(config.log_format);
    actix_rt::System::new().block_on(serve(config, args.listen))
}

async fn serve(config: Config, listen: String) -> anyhow::Result<u8> {
    let db = Db::open(&config).await?;
    let listener =
        std::net::TcpListener::bind(&listen).with_context(|| format!("listening on {listen}"))?;
    let addr = listener.local_addr()?;
    let self_url = SelfUrl::default();
    let _ = self_url.set(format!("http://{addr}"));
    let sandbox = Sandbox::new(db.clone(), config.sandbox.clone(), self_url);
    let body_max_bytes = config.body_max_bytes;
    tracing::info!(addr = %addr, "sandbox acquirer listening on http://{addr}/sandbox");
    actix_web::HttpServer::new(move || {
        actix_web::App::new()
            .app_data(crate::error::json_config(body_max_bytes))
            .service(
                actix_web::web::scope("/sandbox")
                    .app_data(actix_web::web::Data::new(sandbox.clone()))
                    .configure(crate::sandbox::http::routes),
            )
            .default_service(actix_web::web::to(crate::error::not_found))
    })
    .listen(listener)?
    .run()
    .await?;
    db.close().await;
    Ok(0)
}
