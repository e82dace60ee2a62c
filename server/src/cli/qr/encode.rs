//! `purse qr encode` (being written).

#[derive(Debug, clap::Args)]
pub struct EncodeArgs {}

pub fn run(_args: EncodeArgs) -> anyhow::Result<u8> {
    anyhow::bail!("purse qr encode is not built yet")
}
