//! `purse qr`: decode EMV merchant-presented payloads and create (signed) merchant codes.

mod decode;
mod encode;
mod verify;

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum QrCommand {
    /// Decode an EMV merchant-presented payload and print it as one JSON object.
    Decode(decode::DecodeArgs),
    /// Build an EMV merchant-presented payload, optionally signed as a Purse merchant code.
    Encode(Box<encode::EncodeArgs>),
    /// Verify a signed Purse merchant code with the merchant's public key.
    Verify(verify::VerifyArgs),
}

pub fn run(cmd: QrCommand) -> anyhow::Result<u8> {
    match cmd {
        QrCommand::Decode(args) => decode::run(args),
        QrCommand::Encode(args) => encode::run(*args),
        QrCommand::Verify(args) => verify::run(args),
    }
}
