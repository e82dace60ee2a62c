//! `purse qr decode` (being written).

#[derive(Debug, clap::Args)]
pub struct DecodeArgs {}

pub fn run(_args: DecodeArgs) -> anyhow::Result<u8> {
    anyhow::bail!("purse qr decode is not built yet")
}
