//! `purse paycode` (being written).

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum PaycodeCommand {}

pub fn run(cmd: PaycodeCommand) -> anyhow::Result<u8> {
    match cmd {}
}
