//! `purse ledger verify`: recompute the hash chain and every balance from the transfers and
//! compare with the database (see `ledger::verify`). Works on the database directly, beside a
//! running server or not. Exit status: 0 consistent, 1 inconsistent (the first bad row is named),
//! 2 when the database cannot be read.
//!
//! On a terminal it draws a progress bar on stderr; stdout carries only the result (text, or one
//! JSON object with `--format json`). Each run is recorded in `ledger_verifications`, which
//! `/metrics` reports (`purse_ledger_verify_ok`, `purse_ledger_verify_last_run_timestamp_seconds`)
//! so the `PurseLedgerVerifyFailed` and `PurseLedgerVerifyStale` alerts can fire.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use serde_json::json;

use crate::config::Config;
use crate::db::Db;
use crate::ledger::now_ms;
use crate::ledger::verify::{self, VerifyError};
use crate::operations::{self, Verification};

#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Recompute the hash chain and all balances; exit 1 naming the first row that does not match.
    Verify(VerifyArgs),
}

/// How `purse ledger verify` prints its result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// A TOML configuration file (for the database); `PURSE_*` environment variables override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// `text` (default) or `json` (one object on stdout).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Do not record this run in `ledger_verifications` (a read-only database user).
    #[arg(long)]
    pub no_record: bool,
}

pub fn run(cmd: LedgerCommand) -> anyhow::Result<u8> {
    match cmd {
        LedgerCommand::Verify(args) => {
            let config = Config::load(args.config.as_deref())?;
            actix_rt::System::new().block_on(verify_ledger(config, &args))
        }
    }
}

/// A progress bar on stderr when stderr is a terminal; nothing otherwise (logs, CI, pipes).
fn progress_bar() -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "verifying {bar:40} {pos}/{len} transfers ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    Some(bar)
}

async fn verify_ledger(config: Config, args: &VerifyArgs) -> anyhow::Result<u8> {
    let db = Db::open(&config).await?;
    let bar = progress_bar();
    let outcome = verify::verify_with_progress(&db, |done, total| {
        if let Some(bar) = &bar {
            bar.set_length(u64::try_from(total).unwrap_or(0));
            bar.set_position(u64::try_from(done).unwrap_or(0));
        }
    })
    .await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let run = match &outcome {
        Ok(report) => Some(Verification {
            ok: true,
            transfers: report.transfers,
            finding: None,
            created_at_ms: now_ms(),
        }),
        Err(VerifyError::Inconsistent(finding)) => Some(Verification {
            ok: false,
            transfers: 0,
            finding: Some(finding.to_string()),
            created_at_ms: now_ms(),
        }),
        Err(VerifyError::Storage(_)) => None,
    };
    if let (Some(run), false) = (&run, args.no_record) {
        if let Err(err) = operations::record_verification(&db, run).await {
            tracing::warn!(error = %err, "could not record the verification run");
        }
    }
    db.close().await;
    match (outcome, args.format) {
        (Ok(report), Format::Text) => {
            println!(
                "ledger ok: {} transfers, {} accounts, head seq {} hash {}",
                report.transfers, report.accounts, report.head_seq, report.head_hash
            );
            for (currency, total) in &report.wallet_totals {
                println!("  {currency}: {total} minor units in wallets");
            }
            Ok(0)
        }
        (Ok(report), Format::Json) => {
            let totals: serde_json::Map<String, serde_json::Value> = report
                .wallet_totals
                .iter()
                .map(|(currency, total)| (currency.clone(), json!(total.to_string())))
                .collect();
            println!(
                "{}",
                json!({
                    "ok": true,
                    "transfers": report.transfers,
                    "accounts": report.accounts,
                    "head_seq": report.head_seq,
                    "head_hash": report.head_hash,
                    "wallet_totals_minor": totals,
                })
            );
            Ok(0)
        }
        (Err(VerifyError::Inconsistent(finding)), Format::Text) => {
            println!("ledger INCONSISTENT: {finding}");
            Ok(1)
        }
        (Err(VerifyError::Inconsistent(finding)), Format::Json) => {
            println!(
                "{}",
                json!({ "ok": false, "error": { "code": "ledger_inconsistent", "message": finding.to_string() } })
            );
            Ok(1)
        }
        (Err(err), _) => Err(err.into()),
    }
}
