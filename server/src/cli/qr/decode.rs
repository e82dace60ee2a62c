//! `purse qr decode PAYLOAD|-`: decodes one EMV merchant-presented payload and prints the verdict as
//! one JSON object on stdout (exit 0 accepted, 1 rejected). It never verifies Purse signatures
//! (that is `purse qr verify`) and never prints anything but that object on stdout.

use purse_core::emv::{self, PAYLOAD_CHARS_MAX};
use serde_json::Value;

use crate::cli::input::read_arg_or_stdin;
use crate::cli::output::{Refusal, Verdict, print_outcome};

#[derive(Debug, clap::Args)]
pub struct DecodeArgs {
    /// The payload text, or `-` to read it from standard input (one trailing newline is dropped).
    #[arg(allow_hyphen_values = true)]
    payload: String,
}

pub fn run(args: DecodeArgs) -> anyhow::Result<u8> {
    print_outcome(decode(&args), Verdict::Valid)
}

/// `{"valid": true, ...}` gets the fields of [`emv::Payload::to_json`], the shape of the vectors.
fn decode(args: &DecodeArgs) -> Result<Value, Refusal> {
    let text = read_arg_or_stdin(&args.payload, PAYLOAD_CHARS_MAX)?;
    Ok(emv::decode(&text)?.to_json())
}
