//! The `purse` command line: one module per command group, plus `input` (reading and parsing
//! what a command is given) and `output` (the one JSON object it prints and its exit status),
//! which every group shares. It never holds business rules: those are `purse_core`'s.

pub mod admin;
pub mod bench;
mod device;
mod input;
mod keys;
pub mod ledger;
pub mod ops;
mod output;
mod paycode;
mod qr;
mod sandbox;
pub mod serve;
pub mod settle;

use clap::{Parser, Subcommand};

/// Purse: QR payments, wallets and a double-entry ledger.
#[derive(Debug, Parser)]
#[command(name = "purse", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Decode, verify and create EMV merchant-presented QR codes.
    #[command(subcommand)]
    Qr(qr::QrCommand),
    /// Create, inspect, back up and restore Ed25519 keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Create and verify offline consumer pay codes.
    #[command(subcommand)]
    Paycode(paycode::PaycodeCommand),
    /// Sign requests as a registered device, for sending them with curl.
    #[command(subcommand)]
    Device(device::DeviceCommand),
    /// Run the HTTP API (zero configuration: SQLite at ./data/purse.db, 127.0.0.1:8080).
    Serve(serve::ServeArgs),
    /// Check the ledger: hash chain and balances recomputed from the transfers.
    #[command(subcommand)]
    Ledger(ledger::LedgerCommand),
    /// Operator commands that work on the database directly.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// Apply the database migrations and exit (a release step; `purse serve` also migrates).
    Migrate(ops::MigrateArgs),
    /// Check a configuration: file + `PURSE_*` environment, printed with secrets redacted.
    #[command(subcommand)]
    Config(ops::ConfigCommand),
    /// Load a running server on this machine: transfers per second, latency, actor memory.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Import provider settlement reports and reconcile them with top-ups.
    #[command(subcommand)]
    Settle(settle::SettleCommand),
    /// Run the sandbox acquirer alone (the provider top-ups use in development and tests).
    SandboxProvider(sandbox::SandboxArgs),
}

/// Runs one command and returns the process exit status.
pub fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Qr(cmd) => qr::run(cmd),
        Command::Keys(cmd) => keys::run(cmd),
        Command::Paycode(cmd) => paycode::run(cmd),
        Command::Device(cmd) => device::run(cmd),
        Command::Serve(args) => serve::run(args),
        Command::Ledger(cmd) => ledger::run(cmd),
        Command::Admin(cmd) => admin::run(cmd),
        Command::Migrate(args) => ops::migrate(args),
        Command::Config(cmd) => ops::run_config(cmd),
        Command::Bench(cmd) => bench::run(cmd),
        Command::Settle(cmd) => settle::run(cmd),
        Command::SandboxProvider(args) => sandbox::run(args),
    }
}
