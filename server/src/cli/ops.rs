//! Deployment commands: `purse migrate` (apply the embedded migrations and exit, for a release
//! step or a Kubernetes init container) and `purse config check` (load the file and the `PURSE_*`
//! environment as `purse serve` would, print the effective configuration with secrets redacted,
//! exit 1 when it is invalid or, with `--connect`, when the database does not answer).

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::config::{Config, redact_url};
use crate::db::Db;

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// A TOML configuration file (for the database); `PURSE_*` environment variables override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Load the file and the environment, print the effective configuration (secrets redacted).
    Check(CheckArgs),
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// A TOML configuration file; `PURSE_*` environment variables override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Also connect to the database (without migrating it) and fail when it does not answer.
    #[arg(long)]
    pub connect: bool,
}

/// `purse migrate`: prints one JSON line naming the backend and the redacted database URL.
pub fn migrate(args: MigrateArgs) -> anyhow::Result<u8> {
    let config = Config::load(args.config.as_deref())?;
    actix_rt::System::new().block_on(async {
        let db = Db::open(&config).await?;
        let backend = format!("{:?}", db.backend()).to_lowercase();
        db.close().await;
        println!(
            "{}",
            serde_json::json!({
                "migrated": true,
                "backend": backend,
                "database": redact_url(&config.database_url()),
            })
        );
        Ok(0)
    })
}

pub fn run_config(cmd: ConfigCommand) -> anyhow::Result<u8> {
    match cmd {
        ConfigCommand::Check(args) => check(args),
    }
}

fn check(args: CheckArgs) -> anyhow::Result<u8> {
    let config = match Config::load(args.config.as_deref()) {
        Ok(config) => config,
        Err(err) => {
            println!("config INVALID ({}): {err}", err.code());
            return Ok(1);
        }
    };
    println!("config ok");
    println!("database: {}", redact_url(&config.database_url()));
    println!("{config:#?}");
    if args.connect {
        let connected = actix_rt::System::new().block_on(async {
            let db = Db::connect(&config).await?;
            let ping = db.ping().await;
            db.close().await;
            ping.map_err(crate::db::DbError::from)
        });
        match connected {
            Ok(()) => println!("database answers"),
            Err(err) => {
                println!("database UNREACHABLE ({}): {err}", err.code());
                return Ok(1);
            }
        }
    }
    Ok(0)
}
