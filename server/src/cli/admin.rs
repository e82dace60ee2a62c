//! `purse admin fund WALLET AMOUNT`: credit a wallet from the issuance system account of its
//! currency, as an ordinary ledger transfer (so double entry holds). Works on the database
//! directly — beside a running server too: the chain head serializes the two writers and the
//! server's wallet actor re-reads its balance before refusing a debit. Prints the result as JSON.
//!
//! Support actions (see [`crate::operations`]), each recorded as an audit event with who, why and
//! when, never as an edit: `purse admin freeze|unfreeze WALLET --reason …`, `purse admin reverse
//! TXN --reason …` (a new `reversal` transfer), and `purse admin audit` to list the trail. They
//! print one JSON object on stdout (`{"error": {"code", "message"}}` and exit 1 when refused).

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use purse_core::api::ledger::AdminFundResponse;

use crate::config::Config;
use crate::db::Db;
use crate::ledger::money::{format_minor, parse_amount};
use crate::ledger::{AccountKind, Ledger, LedgerError};
use crate::metrics::Metrics;
use crate::operations::{self, OpsError, Why};

use super::output::{Refusal, Verdict, coded, print_outcome};

coded!(OpsError);

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Credit WALLET with AMOUNT (decimal, in the wallet's currency) from the issuance account.
    Fund(FundArgs),
    /// Freeze WALLET: it cannot be debited (in every server process within about a second).
    Freeze(WalletActionArgs),
    /// Lift the freeze of WALLET.
    Unfreeze(WalletActionArgs),
    /// Reverse transfer TXN: post the amount back as a new `reversal` transfer (once per transfer).
    Reverse(ReverseArgs),
    /// List the audit trail of operator actions, newest first.
    Audit(AuditArgs),
}

/// Who acts and why, for every support action.
#[derive(Debug, Args)]
pub struct WhyArgs {
    /// Why (recorded in the audit trail; 1 to 500 characters).
    #[arg(long)]
    pub reason: String,
    /// Who acts (recorded in the audit trail); defaults to $USER.
    #[arg(long, env = "USER", hide_env_values = true)]
    pub actor: Option<String>,
    /// A TOML configuration file (for the database); `PURSE_*` environment variables override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

impl WhyArgs {
    fn why(&self) -> Why {
        Why {
            actor: self.actor.clone().unwrap_or_default(),
            reason: self.reason.clone(),
        }
    }
}

#[derive(Debug, Args)]
pub struct WalletActionArgs {
    /// The wallet id (`wal_...`).
    pub wallet: String,
    #[command(flatten)]
    pub why: WhyArgs,
}

#[derive(Debug, Args)]
pub struct ReverseArgs {
    /// The transfer id (`txn_...`).
    pub transfer: String,
    #[command(flatten)]
    pub why: WhyArgs,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only the events of this wallet or transfer.
    #[arg(long)]
    pub target: Option<String>,
    /// Most events to list (1 to 1000).
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
    /// A TOML configuration file (for the database); `PURSE_*` environment variables override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// A support action to run against the ledger.
enum Action {
    Freeze(String),
    Unfreeze(String),
    Reverse(String),
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
        AdminCommand::Freeze(args) => support(Action::Freeze(args.wallet), &args.why),
        AdminCommand::Unfreeze(args) => support(Action::Unfreeze(args.wallet), &args.why),
        AdminCommand::Reverse(args) => support(Action::Reverse(args.transfer), &args.why),
        AdminCommand::Audit(args) => {
            let config = Config::load(args.config.as_deref())?;
            actix_rt::System::new().block_on(audit(config, args))
        }
    }
}

fn support(action: Action, why: &WhyArgs) -> anyhow::Result<u8> {
    let config = Config::load(why.config.as_deref())?;
    let why = why.why();
    actix_rt::System::new().block_on(async move {
        let db = Db::open(&config).await?;
        let ledger = Ledger::start(db.clone(), &config.ledger, &config.wallets, Metrics::new());
        let outcome = act(&ledger, action, &why).await;
        ledger.shutdown().await;
        db.close().await;
        print_outcome(outcome, Verdict::Plain)
    })
}

async fn act(ledger: &Ledger, action: Action, why: &Why) -> Result<serde_json::Value, Refusal> {
    let answer = match action {
        Action::Freeze(wallet) => {
            let event = operations::freeze(ledger, &wallet, why).await?;
            serde_json::json!({ "wallet": wallet, "frozen": true, "audit": event })
        }
        Action::Unfreeze(wallet) => {
            let event = operations::unfreeze(ledger, &wallet, why).await?;
            serde_json::json!({ "wallet": wallet, "frozen": false, "audit": event })
        }
        Action::Reverse(txn) => {
            let (reversal, event) = operations::reverse(ledger, &txn, why).await?;
            let currency = reversal.currency.clone();
            serde_json::json!({
                "reversed": txn,
                "reversal": {
                    "id": reversal.id,
                    "reference": reversal.reference,
                    "kind": reversal.kind,
                    "debit_account": reversal.debit_account,
                    "credit_account": reversal.credit_account,
                    "amount": format_minor(reversal.amount_minor, &currency),
                    "currency": currency,
                    "created_at_ms": reversal.created_at_ms,
                },
                "audit": event,
            })
        }
    };
    Ok(answer)
}

async fn audit(config: Config, args: AuditArgs) -> anyhow::Result<u8> {
    let db = Db::open(&config).await?;
    let outcome = operations::audit(&db, args.target.as_deref(), args.limit).await;
    db.close().await;
    let outcome = outcome
        .map(|events| serde_json::json!({ "data": events }))
        .map_err(Refusal::from);
    print_outcome(outcome, Verdict::Plain)
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
