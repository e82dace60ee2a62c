//! What every `purse` command prints: one JSON object on stdout — the answer, or a [`Refusal`] with
//! its stable `error.code` — and the exit status that goes with it, plus the QR images a command
//! writes next to its answer. It never decides whether something is valid (the commands and the
//! core do) and never prints anything else on stdout.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use purse_core::qr::Qr;
use serde_json::{Value, json};

/// Why a command refused: the stable `error.code` and a message, from any core error.
#[derive(Debug)]
pub(crate) struct Refusal {
    code: &'static str,
    message: String,
}

impl Refusal {
    /// A refusal the core has no error for (a missing flag, an unwritable file): `code` is its
    /// stable snake_case `error.code`.
    pub(crate) fn other(code: &'static str, message: impl Into<String>) -> Refusal {
        Refusal {
            code,
            message: message.into(),
        }
    }
}

/// The shape the core error types (and a command's own error type) share: a stable machine code
/// next to their message. Implement it with [`coded!`]; `?` then turns the error into a
/// [`Refusal`].
pub(crate) trait Coded: std::fmt::Display {
    fn code(&self) -> &'static str;
}

impl<E: Coded> From<E> for Refusal {
    fn from(err: E) -> Refusal {
        Refusal {
            code: err.code(),
            message: err.to_string(),
        }
    }
}

/// Implements [`Coded`] for error types that have an inherent `fn code(&self) -> &'static str`.
macro_rules! coded {
    ($($ty:ty),* $(,)?) => {$(
        impl $crate::cli::output::Coded for $ty {
            fn code(&self) -> &'static str {
                <$ty>::code(self)
            }
        }
    )*};
}
pub(crate) use coded;

coded!(
    purse_core::emv::EmvError,
    purse_core::keys::KeyError,
    purse_core::money::MoneyError,
    purse_core::qr::QrError,
    purse_core::paycode::PaycodeError,
    purse_core::merchant_code::MerchantCodeError,
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

/// An amount as it appears in every answer: a decimal string (never a float) and its currency.
pub(crate) fn amount_json(amount: &purse_core::money::Amount) -> Value {
    json!({ "amount": amount.to_string(), "currency": amount.currency().code })
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
