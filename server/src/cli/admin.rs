//! `purse admin fund WALLET AMOUNT`: credit a wallet from the issuance system account of its
//! currency, as an ordinary ledger transfer (so double entry holds). Works on the database
//! directly — beside a running server too: the chain head serializes the two writers and the
//! server's wallet actor re-reads its balance before refusing a debit. Prints the result as JSON.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use purse_core::api::ledger::AdminFundResponse;

use crate::config::Config;
use crate::db::Db;
use crate::ledger::money::{format_minor, parse_amount};
use crate::ledger::{AccountKind, Ledger, LedgerError};
use crate::metrics::Metrics;

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Credit WALLET with AMOUNT (decimal, in the wallet's currency) from the issuance account.
    Fund(FundArgs),
}

#[derive(Debug, Args)]
pub struct FundArgs {
    /// The wallet id (`wal_...`).
    pub wallet: String,
    /// The amount in the wallet's currency, such as 100.00.
    pub amount: String,
    /// Idempotency reference: funding twice with one reference credits once.
    #[arg(long)]
    pub reference: Option<String>,
    /// A TOML configuration file (for the database); `PURSE_*` environment variables override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

pub fn run(cmd: AdminCommand) -> anyhow::Result<u8> {
    match cmd {
        AdminCommand::Fund(args) => {
            let config = Config::load(args.config.as_deref())?;
            actix_rt::System::new().block_on(fund(config, args))
        }
    }
}

async fn fund(config: Config, args: FundArgs) -> anyhow::Result<u8> {
    let db = Db::open(&config).await?;
    let ledger = Ledger::start(db.clone(), &config.ledger, &config.wallets, Metrics::new());
    let outcome = fund_with(&ledger, &args).await;
    ledger.shutdown().await;
    db.close().await;
    let response = outcome?;
    println!("{}", serde_json::to_string_pretty(&response)?);
    Ok(0)
}

async fn fund_with(ledger: &Ledger, args: &FundArgs) -> anyhow::Result<AdminFundResponse> {
    let wallet = ledger
        .account(&args.wallet)
        .await?
        .filter(|account| account.kind == AccountKind::Wallet);
    let Some(wallet) = wallet else {
        bail!("account_not_found: no wallet {}", args.wallet);
    };
    let amount_minor = parse_amount(&args.amount, &wallet.currency).map_err(|err| {
        anyhow::anyhow!(
            "{}: {} ({} {})",
            err.code(),
            err,
            args.amount,
            wallet.currency
        )
    })?;
    let posted = ledger
        .fund(&wallet.id, amount_minor, args.reference.clone())
        .await
        .map_err(|err: LedgerError| anyhow::anyhow!("{}: {err}", err.code()))
        .context("funding failed")?;
    Ok(AdminFundResponse {
        transfer_id: posted.transfer.id,
        wallet_id: wallet.id,
        amount: format_minor(amount_minor, &wallet.currency),
        balance: format_minor(posted.credit_balance_minor, &wallet.currency),
        currency: wallet.currency,
    })
}
