//! `purse ledger verify`: recompute the hash chain and every balance from the transfers and
//! compare with the database (see `ledger::verify`). Works on the database directly, beside a
//! running server or not. Exit status: 0 consistent, 1 inconsistent (the first bad row is named),
//! 2 when the database cannot be read.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::config::Config;
use crate::db::Db;
use crate::ledger::verify::{self, VerifyError};

#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Recompute the hash chain and all balances; exit 1 naming the first row that does not match.
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// A TOML configuration file (for the database); `PURSE_*` environment variables override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

pub fn run(cmd: LedgerCommand) -> anyhow::Result<u8> {
    match cmd {
        LedgerCommand::Verify(args) => {
            let config = Config::load(args.config.as_deref())?;
            actix_rt::System::new().block_on(verify_ledger(config))
        }
    }
}

async fn verify_ledger(config: Config) -> anyhow::Result<u8> {
    let db = Db::open(&config).await?;
    let outcome = verify::verify(&db).await;
    db.close().await;
    match outcome {
        Ok(report) => {
            println!(
                "ledger ok: {} transfers, {} accounts, head seq {} hash {}",
                report.transfers, report.accounts, report.head_seq, report.head_hash
            );
            for (currency, total) in &report.wallet_totals {
                println!("  {currency}: {total} minor units in wallets");
            }
            Ok(0)
        }
        Err(VerifyError::Inconsistent(finding)) => {
            println!("ledger INCONSISTENT: {finding}");
            Ok(1)
        }
        Err(err) => Err(err.into()),
    }
}
