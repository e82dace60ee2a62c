//! `purse qr decode PAYLOAD|-`: decodes one EMV merchant-presented payload and prints the verdict as
//! one JSON object on stdout (exit 0 accepted, 1 rejected). It never verifies Purse signatures
//! (that is `merchant_code`) and never prints anything but that object on stdout.

use std::io::{Read, Write};

use anyhow::Context;
use purse_core::emv::{self, EmvError, PAYLOAD_CHARS_MAX};
use serde_json::{Map, Value, json};

#[derive(Debug, clap::Args)]
pub struct DecodeArgs {
    /// The payload text, or `-` to read it from standard input (one trailing newline is dropped).
    #[arg(allow_hyphen_values = true)]
    payload: String,
}

pub fn run(args: DecodeArgs) -> anyhow::Result<u8> {
    let result = if args.payload == "-" {
        let bytes = read_stdin()?;
        emv::decode_bytes(trim_newline(&bytes))
    } else {
        emv::decode(&args.payload)
    };
    let (verdict, exit) = match result {
        Ok(payload) => {
            let mut object = Map::new();
            object.insert("valid".to_owned(), Value::Bool(true));
            if let Value::Object(fields) = payload.to_json() {
                object.extend(fields);
            }
            (Value::Object(object), 0)
        }
        Err(err) => (rejected(&err), 1),
    };
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{verdict}").context("writing to stdout")?;
    Ok(exit)
}

fn rejected(err: &EmvError) -> Value {
    json!({"valid": false, "error": {"code": err.code(), "message": err.to_string()}})
}

/// Reads at most one byte more than the largest payload could take, so a huge stream is refused
/// by the decoder's size check without being held in memory.
fn read_stdin() -> anyhow::Result<Vec<u8>> {
    let limit = (PAYLOAD_CHARS_MAX * 4 + 3) as u64;
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .take(limit)
        .read_to_end(&mut bytes)
        .context("reading the payload from stdin")?;
    Ok(bytes)
}

/// Drops one trailing "\n" or "\r\n" (what `echo` and most editors add); nothing else.
fn trim_newline(bytes: &[u8]) -> &[u8] {
    bytes
        .strip_suffix(b"\r\n")
        .or_else(|| bytes.strip_suffix(b"\n"))
        .unwrap_or(bytes)
}
