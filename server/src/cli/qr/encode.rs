//! `purse qr encode`: builds an EMV merchant-presented payload from flags — a signed Purse merchant
//! code with `--sign-key`, an unsigned one without — and prints it as one JSON object (exit 0, or
//! 1 with `{"error": {code, message}}`), optionally writing SVG and PNG QR images. The layout and
//! the field rules are `purse_core::merchant_code`'s; this file only maps flags onto them.

use std::path::PathBuf;

use purse_core::merchant_code::{self, CodeKind, NewMerchantCode};
use serde_json::{Value, json};

use crate::cli::input::{now_unix, parse_amount, parse_currency, read_key_file};
use crate::cli::output::{Images, Refusal, Verdict, merge, print_outcome};

/// Expiry of a dynamic code when neither `--expires-in` nor `--expires-at` is given: long enough
/// to pay at a till or a web checkout, short enough that a stale code is not paid by mistake.
const DYNAMIC_EXPIRES_IN_SECS_DEFAULT: u64 = 15 * 60;

#[derive(Debug, clap::Args)]
pub struct EncodeArgs {
    /// Merchant name (tag 59), at most 25 characters.
    #[arg(long)]
    merchant_name: String,
    /// Merchant city (tag 60), at most 15 characters.
    #[arg(long)]
    city: String,
    /// Country (tag 58), ISO 3166-1 alpha-2, e.g. `PT`.
    #[arg(long)]
    country: String,
    /// Merchant category code (tag 52), 4 digits, e.g. `5814`.
    #[arg(long)]
    mcc: String,
    /// Currency (tag 53): ISO 4217 code (`EUR`) or numeric code (`978`).
    #[arg(long)]
    currency: String,
    /// The Purse merchant id (`mer_…`) carried in the Purse account template.
    #[arg(long)]
    merchant_id: String,
    /// Amount to pay, e.g. `12.50`: makes a dynamic (one payment) code; needs `--reference`.
    #[arg(long, allow_hyphen_values = true)]
    amount: Option<String>,
    /// The merchant's reference for this payment (tag 62, sub-tag 05), at most 25 characters.
    #[arg(long)]
    reference: Option<String>,
    /// Expire the code this many seconds from now (dynamic codes default to 900).
    #[arg(long, conflicts_with = "expires_at")]
    expires_in: Option<u64>,
    /// Expire the code at this time, unix seconds.
    #[arg(long)]
    expires_at: Option<u64>,
    /// Key file (from `purse keys new`) to sign the code with; without it the code is unsigned.
    #[arg(long)]
    sign_key: Option<PathBuf>,
    /// Also write the code as an SVG QR image to this file.
    #[arg(long)]
    svg: Option<PathBuf>,
    /// Also write the code as a PNG QR image to this file.
    #[arg(long)]
    png: Option<PathBuf>,
    /// The current time, unix seconds, for `--expires-in` (default: the clock).
    #[arg(long)]
    now: Option<u64>,
}

pub fn run(args: EncodeArgs) -> anyhow::Result<u8> {
    print_outcome(encode(&args), Verdict::Plain)
}

fn encode(args: &EncodeArgs) -> Result<Value, Refusal> {
    let currency = parse_currency(&args.currency)?;
    let expires_at_unix = match (args.expires_in, args.expires_at) {
        (Some(secs), _) => Some(
            args.now
                .unwrap_or_else(now_unix)
                .checked_add(secs)
                .ok_or_else(|| {
                    Refusal::other("expiry_out_of_range", "--expires-in is too large")
                })?,
        ),
        (None, at) => at,
    };
    let kind = match (&args.amount, &args.reference) {
        (Some(amount), Some(reference)) => CodeKind::Dynamic {
            amount: parse_amount(amount, &args.currency)?,
            reference: reference.clone(),
            expires_at_unix: match expires_at_unix {
                Some(at) => at,
                None => args
                    .now
                    .unwrap_or_else(now_unix)
                    .saturating_add(DYNAMIC_EXPIRES_IN_SECS_DEFAULT),
            },
        },
        (Some(_), None) => {
            return Err(Refusal::other(
                "reference_missing",
                "a dynamic code (--amount) needs --reference",
            ));
        }
        (None, Some(_)) => {
            return Err(Refusal::other(
                "amount_missing",
                "--reference belongs to a dynamic code: give --amount too",
            ));
        }
        (None, None) => CodeKind::Static { expires_at_unix },
    };
    let new = NewMerchantCode {
        merchant_id: &args.merchant_id,
        merchant_name: &args.merchant_name,
        city: &args.city,
        country: &args.country,
        mcc: &args.mcc,
        currency,
        kind,
    };
    let (payload, key_id) = match &args.sign_key {
        Some(path) => {
            let secret = read_key_file(path)?;
            let payload = merchant_code::generate(&secret, &new)?;
            (payload, Some(secret.key_id().to_string()))
        }
        None => (merchant_code::encode_unsigned(&new)?, None),
    };
    let images = Images {
        svg: args.svg.clone(),
        png: args.png.clone(),
    };
    let qr_version = images.write(&payload)?;
    let (dynamic, expires_at_unix) = match &new.kind {
        CodeKind::Static { expires_at_unix } => (false, *expires_at_unix),
        CodeKind::Dynamic {
            expires_at_unix, ..
        } => (true, Some(*expires_at_unix)),
    };
    let mut answer = json!({
        "payload": payload,
        "signed": key_id.is_some(),
        "dynamic": dynamic,
        "qr_version": qr_version,
    });
    merge(
        &mut answer,
        json!({ "key_id": key_id, "expires_at_unix": expires_at_unix }),
    );
    images.describe(&mut answer);
    Ok(answer)
}
