//! What every `purse` command reads: key files, public keys, amounts and currencies given as
//! flags, and a payload given as an argument or on standard input — each bounded in size and
//! turned into a core type or a [`Refusal`]. It never prints and never writes files (that is
//! `output`), and never asks for passwords (that is `keys`).

use std::io::Read;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use purse_core::keys::{KeyError, PublicKey, SecretKey};
use purse_core::money::{Amount, Currency};
use zeroize::Zeroizing;

use crate::cli::output::Refusal;

/// A key file is one 67-character line; anything much bigger is not a key file, so stop reading.
const KEY_FILE_BYTES_MAX: u64 = 4096;

/// The clock in unix seconds, for commands given no `--now`.
pub(crate) fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

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

/// `text` itself, or with `-` the first line of standard input. It reads at most `chars_max`
/// characters of 4 bytes and a line ending, so a huge stream is cut short and then refused by the
/// decoder's size check.
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
