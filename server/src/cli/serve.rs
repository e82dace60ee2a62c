//! `purse serve`: run the HTTP API. With no flags and no environment it is the zero-configuration
//! server: SQLite at `./data/purse.db`, listening on 127.0.0.1:8080. It logs where the database is
//! and never logs a secret (the database URL is redacted).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::app::{RunOptions, Server};
use crate::config::{Config, LogFormat, redact_url};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// A TOML configuration file; `PURSE_*` environment variables override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on (overrides the file and PURSE_LISTEN), such as 127.0.0.1:8080.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
}

pub fn run(args: ServeArgs) -> anyhow::Result<u8> {
    let mut config = Config::load(args.config.as_deref())?;
    if let Some(listen) = args.listen {
        config.listen = listen;
        config.validate()?;
    }
    init_logging(config.log_format);
    actix_rt::System::new().block_on(serve(config))
}

async fn serve(config: Config) -> anyhow::Result<u8> {
    let database = redact_url(&config.database_url());
    let server = Server::start(
        config,
        RunOptions {
            handle_signals: true,
        },
    )
    .await
    .context("starting the server")?;
    tracing::info!(%database, backend = ?server.state().db.backend(), "database ready, migrations applied");
    tracing::info!(addr = %server.addr(), "listening on http://{}", server.addr());
    server.run().await.context("serving HTTP")?;
    tracing::info!("stopped: in-flight requests drained");
    Ok(0)
}

/// Logs to stderr; `RUST_LOG` filters (default `info`).
pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    // A second call (tests running several commands in one process) keeps the first subscriber.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
