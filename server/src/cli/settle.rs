//! `purse settle import FILE`: import one settlement report by hand, streaming the file (never
//! loaded into memory) with a progress bar on stderr, and print the summary as JSON. Works on the
//! database directly, beside a running server or not. Exit status: 0 imported (findings or not;
//! they are in the reconciliation report), 2 when the file or the database cannot be used.

use std::io::BufReader;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::config::Config;
use crate::db::Db;
use crate::ledger::Ledger;
use crate::metrics::Metrics;
use crate::settlement::Settlement;

#[derive(Debug, Subcommand)]
pub enum SettleCommand {
    /// Import a settlement report CSV: match its lines to top-ups, post the settlement once per
    /// report id, write the reconciliation report (JSON and CSV).
    Import(ImportArgs),
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The settlement report CSV (docs/formats.md, "Settlement report").
    pub file: PathBuf,
    /// Where to write `<report id>.json` and `<report id>.csv`; default `[settlement]
    /// reports_dir` (`<data_dir>/settlement`).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// A TOML configuration file (for the database); `PURSE_*` environment variables override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

pub fn run(cmd: SettleCommand) -> anyhow::Result<u8> {
    match cmd {
        SettleCommand::Import(args) => {
            let config = Config::load(args.config.as_deref())?;
            actix_rt::System::new().block_on(import(config, args))
        }
    }
}

async fn import(config: Config, args: ImportArgs) -> anyhow::Result<u8> {
    let file = std::fs::File::open(&args.file)
        .with_context(|| format!("opening {}", args.file.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let db = Db::open(&config).await?;
    let ledger = Ledger::start(db.clone(), &config.ledger, &config.wallets, Metrics::new());
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| config.settlement_reports_dir());
    let settlement = Settlement::new(db.clone(), ledger.clone(), Metrics::new(), dir);
    let bar = if args.quiet {
        indicatif::ProgressBar::hidden()
    } else {
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(size),
            indicatif::ProgressDrawTarget::stderr(),
        );
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {elapsed} eta {eta}",
            )
            .expect("a valid template"),
        );
        bar
    };
    let outcome = settlement
        .import(BufReader::with_capacity(256 * 1024, file), |read| {
            bar.set_position(read)
        })
        .await;
    bar.finish_and_clear();
    ledger.shutdown().await;
    db.close().await;
    let summary = outcome.context("importing the settlement report")?;
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(0)
}
