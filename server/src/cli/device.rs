//! `purse device sign`: the four device-signature headers for one request, so a person can move
//! money with plain `curl -H @FILE`. The message comes from
//! `purse_core::api::identity::device_signature_message` (the one definition, specified in
//! docs/formats.md); this module only reads the inputs and prints the headers. It never sends a
//! request and never prints the secret key. Unlike the other commands, its answer is header lines
//! (`Name: value`), not JSON, because curl reads exactly that; a refusal is still the usual
//! `{"error": …}` object with exit status 1.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;
use purse_core::api::identity::{
    HEADER_DEVICE_ID, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP, device_signature_message,
};
use purse_core::keys::Signer;

use crate::cli::input::read_key_file;
use crate::cli::output::{Refusal, Verdict, print_outcome};

/// Device ids are `dev_…`: 1 to 64 characters of `A-Z a-z 0-9 _` (docs/formats.md).
const DEVICE_ID_CHARS_MAX: usize = 64;
/// Methods are short HTTP tokens; anything longer is a typo, not a method.
const METHOD_CHARS_MAX: usize = 16;
/// A request target far longer than any route is refused rather than signed.
const PATH_CHARS_MAX: usize = 2048;
/// The server's default body limit (`body_max_bytes`); a bigger body would be refused with 413.
const BODY_BYTES_MAX: u64 = 64 * 1024;

#[derive(Debug, Subcommand)]
pub enum DeviceCommand {
    /// Print the Purse-Device-Id, Purse-Timestamp, Purse-Nonce and Purse-Signature headers for one
    /// request (fresh timestamp, random nonce), one `Name: value` line each, for `curl -H @FILE`.
    /// Sign right before sending: the server accepts a signature for 5 minutes, once.
    Sign {
        /// The device's key file (from `purse keys new`), whose public key was registered.
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// The device id returned by `POST /v1/devices` (`dev_…`).
        #[arg(long, value_name = "DEVICE_ID")]
        device: String,
        /// The HTTP method exactly as sent.
        #[arg(long, default_value = "POST")]
        method: String,
        /// The request target exactly as sent: path and query, such as /v1/transfers.
        #[arg(long)]
        path: String,
        /// The file holding the exact body bytes to send, or `-` for standard input; no body
        /// when absent.
        #[arg(long, value_name = "FILE", allow_hyphen_values = true)]
        body: Option<String>,
    },
}

pub fn run(cmd: DeviceCommand) -> anyhow::Result<u8> {
    match cmd {
        DeviceCommand::Sign {
            key,
            device,
            method,
            path,
            body,
        } => match sign(&key, &device, &method, &path, body.as_deref()) {
            Ok(lines) => {
                std::io::stdout()
                    .lock()
                    .write_all(lines.as_bytes())
                    .context("writing to stdout")?;
                Ok(0)
            }
            Err(refusal) => print_outcome(Err(refusal), Verdict::Plain),
        },
    }
}

/// The four header lines, each ending in a line feed.
fn sign(
    key: &Path,
    device: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Result<String, Refusal> {
    check_device_id(device)?;
    check_method(method)?;
    check_path(path)?;
    let body = match body {
        None => Vec::new(),
        Some(source) => read_body(source)?,
    };
    let secret = read_key_file(key)?;
    let timestamp_ms = crate::ledger::now_ms();
    let nonce = purse_core::api::identity::new_nonce();
    let message = device_signature_message(method, path, &body, timestamp_ms, &nonce, device);
    let signature = secret.sign(&message)?;
    Ok(format!(
        "{HEADER_DEVICE_ID}: {device}\n{HEADER_TIMESTAMP}: {timestamp_ms}\n\
         {HEADER_NONCE}: {nonce}\n{HEADER_SIGNATURE}: {signature}\n"
    ))
}

fn check_device_id(device: &str) -> Result<(), Refusal> {
    let ok = (1..=DEVICE_ID_CHARS_MAX).contains(&device.len())
        && device
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    ok.then_some(()).ok_or_else(|| {
        Refusal::other(
            "device_id_invalid",
            "--device must be 1 to 64 characters of A-Z a-z 0-9 _ (the id from POST /v1/devices)",
        )
    })
}

fn check_method(method: &str) -> Result<(), Refusal> {
    let ok = (1..=METHOD_CHARS_MAX).contains(&method.len())
        && method.bytes().all(|b| b.is_ascii_uppercase());
    ok.then_some(()).ok_or_else(|| {
        Refusal::other(
            "method_invalid",
            "--method must be an upper-case HTTP method such as POST",
        )
    })
}

/// The target must be what curl puts on the request line: it starts with `/` and holds only
/// visible ASCII (the server compares bytes, so a space or a fragment would never verify).
fn check_path(path: &str) -> Result<(), Refusal> {
    let ok = path.starts_with('/')
        && path.len() <= PATH_CHARS_MAX
        && path.bytes().all(|b| b.is_ascii_graphic() && b != b'#');
    ok.then_some(()).ok_or_else(|| {
        Refusal::other(
            "path_invalid",
            "--path must be the request target as sent: /path?query, visible ASCII, no #fragment",
        )
    })
}

/// The exact body bytes (no line ending is trimmed: the server hashes the bytes it receives).
fn read_body(source: &str) -> Result<Vec<u8>, Refusal> {
    let unreadable = |err: std::io::Error| {
        Refusal::other("body_unreadable", format!("cannot read {source}: {err}"))
    };
    let mut bytes = Vec::new();
    if source == "-" {
        std::io::stdin()
            .lock()
            .take(BODY_BYTES_MAX + 1)
            .read_to_end(&mut bytes)
            .map_err(unreadable)?;
    } else {
        std::fs::File::open(source)
            .map_err(unreadable)?
            .take(BODY_BYTES_MAX + 1)
            .read_to_end(&mut bytes)
            .map_err(unreadable)?;
    }
    if bytes.len() as u64 > BODY_BYTES_MAX {
        return Err(Refusal::other(
            "body_too_large",
            format!("the body is larger than {BODY_BYTES_MAX} bytes"),
        ));
    }
    Ok(bytes)
}
