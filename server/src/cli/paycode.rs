//! `purse paycode new|verify`: make an offline consumer pay code with a device key file, and verify
//! one the way a till or the server does. Every outcome is one JSON object on stdout (exit 0
//! done/valid, 1 refused/invalid). It never stores counters: `--counter` and `--last-counter` come
//! from the caller.
//!
//! The small output and input helpers at the end are shared with `purse qr encode|verify`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Subcommand;
use purse_core::keys::{KeyError, PublicKey, SecretKey};
use purse_core::money::{Amount, Currency, MoneyError};
use purse_core::paycode::{self, NewPayCode, PayCode, VALIDITY_SECS_DEFAULT};
use purse_core::qr::{Qr, QrError};
use serde_json::{Value, json};
use zeroize::Zeroizing;

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
        .ok_or_else(|| Refusal::new(&paycode::PaycodeError::ValidityInvalid))?;
    let new = NewPayCode {
        counter,
        issued_at_unix: now.unwrap_or_else(now_unix),
        validity_secs,
        cap,
    };
    let text = paycode::generate(&secret, &new).map_err(|err| Refusal::new(&err))?;
    let qr_version = images.write(&text)?;
    let mut answer = json!({ "code": text, "qr_version": qr_version });
    let claims = paycode::decode(&text).map_err(|err| Refusal::new(&err))?;
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
    let verified = paycode::verify(&code, &public_key, last_counter, now, charge.as_ref())
        .map_err(|err| Refusal::new(&err))?;
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

// ---------------------------------------------------------------------------------------------
// Helpers shared with `purse qr encode|verify`.

/// Why a command refused: the stable `error.code` and a message, from any core error.
#[derive(Debug)]
pub(crate) struct Refusal {
    code: &'static str,
    message: String,
}

impl Refusal {
    /// From any core error: they all carry a stable `code()` next to their message.
    pub(crate) fn new<E: std::fmt::Display + Coded>(err: &E) -> Refusal {
        Refusal {
            code: err.code(),
            message: err.to_string(),
        }
    }

    pub(crate) fn other(code: &'static str, message: impl Into<String>) -> Refusal {
        Refusal {
            code,
            message: message.into(),
        }
    }
}

/// The core error types' shared shape: a stable machine code.
pub(crate) trait Coded {
    fn code(&self) -> &'static str;
}

macro_rules! coded {
    ($($ty:ty),*) => {$(
        impl Coded for $ty {
            fn code(&self) -> &'static str {
                <$ty>::code(self)
            }
        }
        impl From<$ty> for Refusal {
            fn from(err: $ty) -> Refusal {
                Refusal::new(&err)
            }
        }
    )*};
}
coded!(
    KeyError,
    MoneyError,
    QrError,
    paycode::PaycodeError,
    purse_core::merchant_code::MerchantCodeError
);

/// How a refusal is printed: `{"error": …}` for commands that make something, `{"valid": false,
/// "error": …}` for verdicts (as `purse qr decode` does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Plain,
    Valid,
}

/// Prints the one JSON object of a command and returns its exit status (0 or 1).
pub(crate) fn print_outcome(
    outcome: Result<Value, Refusal>,
    verdict: Verdict,
) -> anyhow::Result<u8> {
    let (answer, exit) = match (outcome, verdict) {
        (Ok(answer), Verdict::Plain) => (answer, 0),
        (Ok(mut answer), Verdict::Valid) => {
            let mut valid = json!({ "valid": true });
            merge(&mut valid, std::mem::take(&mut answer));
            (valid, 0)
        }
        (Err(refusal), verdict) => {
            let error = json!({ "code": refusal.code, "message": refusal.message });
            match verdict {
                Verdict::Plain => (json!({ "error": error }), 1),
                Verdict::Valid => (json!({ "valid": false, "error": error }), 1),
            }
        }
    };
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{answer}").context("writing to stdout")?;
    Ok(exit)
}

/// Adds the fields of `extra` (an object) to `target` (an object), dropping null values so absent
/// fields are omitted rather than printed as null.
pub(crate) fn merge(target: &mut Value, extra: Value) {
    if let (Value::Object(target), Value::Object(extra)) = (target, extra) {
        target.extend(extra.into_iter().filter(|(_, value)| !value.is_null()));
    }
}

pub(crate) fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// A key file is one 67-character line; anything much bigger is not a key file, so stop reading.
const KEY_FILE_BYTES_MAX: u64 = 4096;

/// Reads a key file written by `purse keys new`. The bytes are wiped after parsing.
pub(crate) fn read_key_file(path: &Path) -> Result<SecretKey, Refusal> {
    let unreadable = |err: std::io::Error| {
        Refusal::other(
            "key_file_unreadable",
            format!("cannot read {}: {err}", path.display()),
        )
    };
    let file = std::fs::File::open(path).map_err(unreadable)?;
    let mut bytes = Zeroizing::new(Vec::new());
    file.take(KEY_FILE_BYTES_MAX + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > KEY_FILE_BYTES_MAX {
        return Err(KeyError::SecretKeyInvalid.into());
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| KeyError::SecretKeyInvalid)?;
    Ok(SecretKey::from_text(text)?)
}

pub(crate) fn parse_public_key(text: &str) -> Result<PublicKey, Refusal> {
    Ok(text.trim().parse::<PublicKey>()?)
}

/// An amount in a currency given by its ISO 4217 code (`USD`) or numeric code (`840`).
pub(crate) fn parse_amount(amount: &str, currency: &str) -> Result<Amount, Refusal> {
    Ok(Amount::parse(amount, parse_currency(currency)?)?)
}

pub(crate) fn parse_currency(currency: &str) -> Result<&'static Currency, Refusal> {
    let currency = currency.trim();
    let found = match currency.parse::<u16>() {
        Ok(numeric) if currency.len() == 3 => Currency::from_numeric(numeric),
        _ => Currency::from_code(&currency.to_ascii_uppercase()),
    };
    Ok(found?)
}

pub(crate) fn amount_json(amount: &Amount) -> Value {
    json!({ "amount": amount.to_string(), "currency": amount.currency().code })
}

/// `text` itself, or with `-` the first line of standard input (read up to `chars_max` bytes and a
/// line ending more, so a huge stream is refused by the decoder's size check).
pub(crate) fn read_arg_or_stdin(text: &str, chars_max: usize) -> Result<String, Refusal> {
    if text != "-" {
        return Ok(text.to_owned());
    }
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .take((chars_max * 4 + 3) as u64)
        .read_to_end(&mut bytes)
        .map_err(|err| Refusal::other("input_unreadable", format!("cannot read stdin: {err}")))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| Refusal::other("input_unreadable", "standard input is not UTF-8"))?;
    let line = text.strip_suffix('\n').unwrap_or(&text);
    Ok(line.strip_suffix('\r').unwrap_or(line).to_owned())
}

/// Where to write QR images of a command's result.
#[derive(Debug, Default)]
pub(crate) struct Images {
    pub(crate) svg: Option<PathBuf>,
    pub(crate) png: Option<PathBuf>,
}

impl Images {
    /// Lays `text` out as a QR code, writes the requested images and returns the QR version.
    pub(crate) fn write(&self, text: &str) -> Result<u8, Refusal> {
        let qr = Qr::new(text)?;
        if let Some(path) = &self.svg {
            write_file(path, qr.to_svg().as_bytes())?;
        }
        if let Some(path) = &self.png {
            write_file(path, &qr.to_png()?)?;
        }
        Ok(qr.version())
    }

    /// Names the written files in the answer.
    pub(crate) fn describe(&self, answer: &mut Value) {
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
        merge(
            answer,
            json!({ "svg": path(&self.svg), "png": path(&self.png) }),
        );
    }
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), Refusal> {
    std::fs::write(path, bytes).map_err(|err| {
        Refusal::other(
            "file_write_failed",
            format!("cannot write {}: {err}", path.display()),
        )
    })
}
