//! `purse paycode new|verify`: make an offline consumer pay code with a device key file, and verify
//! one the way a till or the server does. Every outcome is one JSON object on stdout (exit 0
//! done/valid, 1 refused/invalid). It never stores counters: `--counter` and `--last-counter` come
//! from the caller.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use purse_core::paycode::{self, NewPayCode, PayCode, VALIDITY_SECS_DEFAULT};
use serde_json::{Value, json};

use crate::cli::input::{
    now_unix, parse_amount, parse_public_key, read_arg_or_stdin, read_key_file,
};
use crate::cli::output::{Images, Refusal, Verdict, amount_json, merge, print_outcome};

#[derive(Debug, Subcommand)]
pub enum PaycodeCommand {
    /// Make a pay code signed with a device key file; prints it with its fields as JSON.
    New {
        /// The device's key file (from `purse keys new`).
        #[arg(long)]
        key: PathBuf,
        /// The device's next counter: strictly greater than any it used before.
        #[arg(long)]
        counter: u32,
        /// The most a merchant may charge with this code, e.g. `25.00`.
        #[arg(long, requires = "currency", allow_hyphen_values = true)]
        cap: Option<String>,
        /// The cap's currency (ISO 4217 code, e.g. `USD`).
        #[arg(long, requires = "cap")]
        currency: Option<String>,
        /// Seconds the code stays valid, 1 to 255.
        #[arg(long, default_value_t = u64::from(VALIDITY_SECS_DEFAULT))]
        validity: u64,
        /// Issue time in unix seconds instead of the clock (reproducible output).
        #[arg(long)]
        now: Option<u64>,
        /// Also write the code as an SVG QR image to this file.
        #[arg(long)]
        svg: Option<PathBuf>,
        /// Also write the code as a PNG QR image to this file.
        #[arg(long)]
        png: Option<PathBuf>,
    },
    /// Verify a pay code: signature, counter, validity window and cap. Prints
    /// `{"valid": true, ...}` (exit 0) or `{"valid": false, "error": {...}}` (exit 1).
    Verify {
        /// The pay code text (`PC1:…`), or `-` to read it from standard input.
        #[arg(allow_hyphen_values = true)]
        code: String,
        /// The device's public key (base64url, 43 characters).
        #[arg(long)]
        public_key: String,
        /// The device's last accepted counter; omit for a device that never paid.
        #[arg(long)]
        last_counter: Option<u32>,
        /// The amount about to be charged, checked against the code's cap.
        #[arg(long, requires = "currency", allow_hyphen_values = true)]
        amount: Option<String>,
        /// The charge's currency (ISO 4217 code).
        #[arg(long, requires = "amount")]
        currency: Option<String>,
        /// The time to judge validity at, unix seconds (default: the clock).
        #[arg(long)]
        now: Option<u64>,
    },
}

pub fn run(cmd: PaycodeCommand) -> anyhow::Result<u8> {
    match cmd {
        PaycodeCommand::New {
            key,
            counter,
            cap,
            currency,
            validity,
            now,
            svg,
            png,
        } => {
            let cap = cap.zip(currency);
            let images = Images { svg, png };
            print_outcome(
                new(&key, counter, cap, validity, now, &images),
                Verdict::Plain,
            )
        }
        PaycodeCommand::Verify {
            code,
            public_key,
            last_counter,
            amount,
            currency,
            now,
        } => {
            let charge = amount.zip(currency);
            print_outcome(
                verify(&code, &public_key, last_counter, charge, now),
                Verdict::Valid,
            )
        }
    }
}

fn new(
    key: &Path,
    counter: u32,
    cap: Option<(String, String)>,
    validity: u64,
    now: Option<u64>,
    images: &Images,
) -> Result<Value, Refusal> {
    let secret = read_key_file(key)?;
    let cap = cap
        .map(|(amount, currency)| parse_amount(&amount, &currency))
        .transpose()?;
    let validity_secs = u8::try_from(validity)
        .ok()
        .filter(|&v| v > 0)
        .ok_or(paycode::PaycodeError::ValidityInvalid)?;
    let new = NewPayCode {
        counter,
        issued_at_unix: now.unwrap_or_else(now_unix),
        validity_secs,
        cap,
    };
    let text = paycode::generate(&secret, &new)?;
    let qr_version = images.write(&text)?;
    let mut answer = json!({ "code": text, "qr_version": qr_version });
    let claims = paycode::decode(&text)?;
    merge(&mut answer, describe(claims.claims()));
    images.describe(&mut answer);
    Ok(answer)
}

fn verify(
    code: &str,
    public_key: &str,
    last_counter: Option<u32>,
    charge: Option<(String, String)>,
    now: Option<u64>,
) -> Result<Value, Refusal> {
    let code = read_arg_or_stdin(code, paycode::TEXT_CHARS_MAX)?;
    let public_key = parse_public_key(public_key)?;
    let charge = charge
        .map(|(amount, currency)| parse_amount(&amount, &currency))
        .transpose()?;
    let now = now.unwrap_or_else(now_unix);
    let verified = paycode::verify(&code, &public_key, last_counter, now, charge.as_ref())?;
    Ok(describe(&verified))
}

fn describe(code: &PayCode) -> Value {
    json!({
        "key_id": code.key_id().to_string(),
        "counter": code.counter(),
        "issued_at_unix": code.issued_at_unix(),
        "validity_secs": code.validity_secs(),
        "expires_at_unix": code.expires_at_unix(),
        "cap": code.cap().map(|cap| amount_json(&cap)),
    })
}
