//! `purse qr verify PAYLOAD|-`: verifies a signed Purse merchant code with the merchant's public
//! key and prints the verdict as one JSON object (exit 0 valid, 1 invalid), as a Purse wallet does
//! after scanning. It never fetches keys: the public key is a flag.

use purse_core::merchant_code::{self, MerchantCode};
use serde_json::{Value, json};

use crate::cli::input::{now_unix, parse_public_key, read_arg_or_stdin};
use crate::cli::output::{Refusal, Verdict, amount_json, merge, print_outcome};

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The payload text, or `-` to read it from standard input.
    #[arg(allow_hyphen_values = true)]
    payload: String,
    /// The merchant's public key (base64url, 43 characters).
    #[arg(long)]
    public_key: String,
    /// The time to judge expiry at, unix seconds (default: the clock).
    #[arg(long)]
    now: Option<u64>,
}

pub fn run(args: VerifyArgs) -> anyhow::Result<u8> {
    print_outcome(verify(&args), Verdict::Valid)
}

fn verify(args: &VerifyArgs) -> Result<Value, Refusal> {
    let payload = read_arg_or_stdin(&args.payload, purse_core::emv::PAYLOAD_CHARS_MAX)?;
    let public_key = parse_public_key(&args.public_key)?;
    let now = args.now.unwrap_or_else(now_unix);
    let code = merchant_code::verify(&payload, &public_key, now)?;
    Ok(describe(&code))
}

fn describe(code: &MerchantCode) -> Value {
    let mut answer = json!({
        "merchant_id": code.merchant_id(),
        "key_id": code.key_id().to_string(),
        "dynamic": code.is_dynamic(),
        "merchant_name": code.merchant_name(),
        "city": code.city(),
        "country": code.country(),
        "mcc": code.mcc(),
        "currency": code.currency().code,
    });
    merge(
        &mut answer,
        json!({
            "amount": code.amount().map(|amount| amount_json(&amount)),
            "reference": code.reference(),
            "expires_at_unix": code.expires_at_unix(),
        }),
    );
    answer
}
