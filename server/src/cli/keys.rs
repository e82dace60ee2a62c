//! `purse keys` (being written).

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {}

pub fn run(cmd: KeysCommand) -> anyhow::Result<u8> {
    match cmd {}
}
