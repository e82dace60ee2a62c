//! `purse bench transfers|charges|actors`: load a running server on this machine and print what it
//! measured (see [`crate::bench`]). Parses and bounds the flags, picks how wallets are funded, and
//! hands over; it never measures anything itself.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use purse_core::money::{Amount, Currency};

use crate::bench::setup::Funding;
use crate::bench::target::Target;
use crate::bench::{actors, charges, transfers};
use crate::config::Config;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// End-to-end P2P transfers per second: sets up users, devices and funded wallets, runs
    /// concurrent clients sending device-signed transfers, prints throughput, p50/p99/p999
    /// latency and errors by code, then checks that the wallets still hold what was funded.
    Transfers(TransfersArgs),
    /// Charges of consumer pay codes per second against P2P transfers per second, in one run:
    /// the transfer load, then the same clients as POS terminals charging pay codes of their own
    /// bench device for the same duration; prints both, their p50/p99 and the ratio, then checks
    /// conservation and that every acknowledged charge exists once. The server must run with
    /// PURSE_RISK_VELOCITY_PER_MINUTE raised (30 charges per device per minute by default).
    Charges(TransfersArgs),
    /// Wallet-actor memory: touches many distinct wallets, prints the server's resident memory
    /// growth (/proc/PID/status) and waits for idle passivation to bring the actor count down.
    Actors(ActorsArgs),
}

/// Flags every bench shares.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// The server to load: a loopback http:// URL (other hosts are refused).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Fund wallets through POST /v1/admin/fund with this operator token instead of writing to
    /// the server's database (by default, as `purse admin fund` does: ./data/purse.db,
    /// PURSE_DATABASE_URL or --config).
    #[arg(long, env = "PURSE_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// The server's TOML configuration, to find its database for funding.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Longest wait for one HTTP answer, in milliseconds.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(100..=120_000))]
    pub timeout_ms: u64,
}

impl TargetArgs {
    fn target(&self) -> anyhow::Result<Target> {
        Target::parse(&self.url).map_err(|err| anyhow::anyhow!("{}: {err}", err.code()))
    }

    fn funding(&self) -> anyhow::Result<Funding> {
        Ok(match &self.admin_token {
            Some(token) if !token.is_empty() => Funding::AdminApi {
                token: token.clone(),
            },
            _ => Funding::Database(Box::new(Config::load(self.config.as_deref())?)),
        })
    }
}

#[derive(Debug, Args)]
pub struct TransfersArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Bench wallets, one user each (each sign-up costs the server an argon2id hash).
    #[arg(long, default_value_t = 100)]
    pub wallets: usize,
    /// Concurrent clients, each with one transfer in flight at a time.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Seconds of measured load (at most 600).
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Seconds of load before measuring starts.
    #[arg(long, default_value_t = 1)]
    pub warmup: u64,
    /// Load-generator threads, each with its own connection pool.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Currency of the bench wallets.
    #[arg(long, default_value = "USD")]
    pub currency: String,
    /// What each wallet is funded with, in the currency.
    #[arg(long, default_value = "10000.00")]
    pub fund: String,
    /// Largest transfer; each moves a random amount from one minor unit up to this.
    #[arg(long, default_value = "1.00")]
    pub amount_max: String,
    /// The server's process id, to report its CPU use while measuring.
    #[arg(long)]
    pub server_pid: Option<u32>,
}

#[derive(Debug, Args)]
pub struct ActorsArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Distinct wallets to touch.
    #[arg(long, default_value_t = 100_000)]
    pub wallets: usize,
    /// Touches in flight at once.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// The server's process id, whose resident memory is read (required unless --save-setup).
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Only set up (users, wallets, funding) and save it to this new file, for a later
    /// --load-setup against a freshly started server: sign-ups' argon2id memory then does not
    /// blur what the actors cost. The file holds the bench devices' secret keys.
    #[arg(long, value_name = "FILE", conflicts_with = "load_setup")]
    pub save_setup: Option<PathBuf>,
    /// Touch the wallets of a setup saved by --save-setup instead of setting up.
    #[arg(long, value_name = "FILE")]
    pub load_setup: Option<PathBuf>,
    /// Seconds to wait for idle passivation after the touches (the server's idle timeout, 60 s
    /// by default, plus margin); at most 1800.
    #[arg(long, default_value_t = 180)]
    pub passivation_wait: u64,
    /// Resident-memory growth to report against, MiB.
    #[arg(long, default_value_t = 150)]
    pub rss_growth_target_mib: u64,
}

pub fn run(cmd: BenchCommand) -> anyhow::Result<u8> {
    match cmd {
        BenchCommand::Transfers(args) => {
            let target = args.target.target()?;
            let plan = transfers_plan(&args)?;
            transfers::check(&plan).context("purse bench transfers")?;
            Ok(transfers::run(&target, &plan)?.exit_code())
        }
        BenchCommand::Charges(args) => {
            let target = args.target.target()?;
            let plan = transfers_plan(&args)?;
            charges::check(&plan).context("purse bench charges")?;
            Ok(charges::run(&target, &plan)?.exit_code())
        }
        BenchCommand::Actors(args) => {
            let target = args.target.target()?;
            let phase = match (args.save_setup, args.server_pid) {
                (Some(save), _) => actors::Phase::SetupOnly { save },
                (None, Some(server_pid)) => actors::Phase::Touch {
                    setup: args.load_setup,
                    server_pid,
                },
                (None, None) => anyhow::bail!(
                    "purse bench actors: --server-pid is required (the server whose memory is measured)"
                ),
            };
            let plan = actors::Plan {
                wallets: args.wallets,
                concurrency: args.concurrency,
                phase,
                funding: args.target.funding()?,
                passivation_wait: Duration::from_secs(args.passivation_wait),
                rss_growth_target_mib: args.rss_growth_target_mib,
                request_timeout: Duration::from_millis(args.target.timeout_ms),
            };
            actors::check(&plan).context("purse bench actors")?;
            actors::run(&target, &plan)
        }
    }
}

/// The plan of `purse bench transfers` and `purse bench charges`.
fn transfers_plan(args: &TransfersArgs) -> anyhow::Result<transfers::Plan> {
    let currency = Currency::from_code(&args.currency)
        .map_err(|err| anyhow::anyhow!("--currency: {}: {err}", err.code()))?;
    let minor = |flag: &str, text: &str| {
        Amount::parse(text, currency)
            .map(|a| a.minor())
            .map_err(|err| anyhow::anyhow!("{flag}: {}: {err}", err.code()))
    };
    Ok(transfers::Plan {
        wallets: args.wallets,
        concurrency: args.concurrency,
        duration: Duration::from_secs(args.duration),
        warmup: Duration::from_secs(args.warmup),
        threads: args.threads,
        currency,
        fund_minor: minor("--fund", &args.fund)?,
        amount_max_minor: minor("--amount-max", &args.amount_max)?,
        funding: args.target.funding()?,
        server_pid: args.server_pid,
        request_timeout: Duration::from_millis(args.target.timeout_ms),
    })
}
