//! Offline consumer pay codes: a phone signs a short-lived, one-time code that a merchant scans.
//!
//! It owns the pay code's byte layout, its base45 text form and the verification rules (signature,
//! counter replay, validity window with bounded clock skew, amount cap). It never stores counters
//! or looks devices up: the caller passes the device key and the last accepted counter in, and
//! records the new counter after a successful charge. `docs/formats.md` ("Pay code") is the
//! normative description; its test vectors are checked by the tests.
//!
//! ```
//! use purse_core::keys::SecretKey;
//! use purse_core::paycode::{self, NewPayCode};
//!
//! let device = SecretKey::from_bytes(&[7; 32]);
//! let new = NewPayCode { counter: 1, issued_at_unix: 1_700_000_000, validity_secs: 60, cap: None };
//! let text = paycode::generate(&device, &new).unwrap();
//! assert!(text.starts_with("PC1:"));
//! let code = paycode::verify(&text, &device.public_key(), None, 1_700_000_010, None).unwrap();
//! assert_eq!(code.counter(), 1);
//! ```

use crate::keys::{KeyError, KeyId, PublicKey, Signature, Signer};
use crate::money::{AMOUNT_MINOR_MAX, Amount, Currency};

/// Text prefix of every pay code: "Purse pay Code, text form 1". It tells a scanner the QR holds a
/// pay code (EMV merchant payloads start with "000201") and is itself in the QR alphanumeric set.
pub const PREFIX: &str = "PC1:";

/// Layout version in the high nibble of the header byte.
pub const LAYOUT_VERSION: u8 = 1;

/// Every signature is over this context string followed by the body bytes, so a device signature
/// made for anything else (for example an API request) can never pass as a pay code.
pub const SIGNING_CONTEXT: &[u8] = b"purse-paycode-v1:";

/// Default validity: long enough to show the code and scan it, short enough that a photographed
/// code is useless a minute later.
pub const VALIDITY_SECS_DEFAULT: u8 = 60;

/// How far the verifier's clock and the phone's clock may disagree, in seconds, in either
/// direction. Phones take network time; half a minute covers a phone that has been offline a while.
pub const CLOCK_SKEW_SECS: u64 = 30;

const HEADER_LEN: usize = 1;
const KEY_ID_LEN: usize = 8;
const SIGNATURE_LEN: usize = 64;
/// header, key id, counter (u32), issued-at (u32), validity (u8).
const BODY_LEN_BASE: usize = HEADER_LEN + KEY_ID_LEN + 4 + 4 + 1;
/// The optional cap: currency numeric (10 bits) and amount in minor units (50 bits) in one u64.
const CAP_LEN: usize = 8;
const BODY_LEN_MAX: usize = BODY_LEN_BASE + CAP_LEN;
const BYTES_MAX: usize = BODY_LEN_MAX + SIGNATURE_LEN;

/// Header flag: the amount cap is present.
const FLAG_CAP: u8 = 0b0001;
const FLAGS_KNOWN: u8 = FLAG_CAP;

const CAP_AMOUNT_BITS: u32 = 50;
const CAP_CURRENCY_BITS: u32 = 10;

/// The longest valid pay code text: prefix plus base45 of a capped code (90 bytes, 135 chars).
/// Longer input is rejected before any decoding work.
pub const TEXT_CHARS_MAX: usize = PREFIX.len() + BYTES_MAX / 2 * 3 + BYTES_MAX % 2 * 2;

/// Why a pay code was not generated or not accepted. Each variant has its own stable `code()`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaycodeError {
    /// The text is not a well-formed pay code (prefix, base45, length, header, fields).
    #[error("not a valid pay code: {reason}")]
    Invalid { reason: &'static str },
    /// The code names a different key id than the device key it is verified with.
    #[error("pay code was made by key {code_key_id}, not by the device key {device_key_id}")]
    WrongKey {
        code_key_id: KeyId,
        device_key_id: KeyId,
    },
    /// The signature does not verify: the code was altered or forged.
    #[error("pay code signature does not verify: the code was altered or forged")]
    Tampered,
    /// The counter is not above the last accepted counter of this device.
    #[error(
        "pay code counter {counter} was already used (last accepted counter is {last_counter})"
    )]
    Replayed { counter: u32, last_counter: u32 },
    /// Issued later than now plus the allowed clock skew.
    #[error("pay code is not valid yet (issued at {issued_at_unix}, now {now_unix})")]
    NotYetValid { issued_at_unix: u64, now_unix: u64 },
    /// Now is at or past the end of the validity window plus the allowed clock skew.
    #[error("pay code expired at {expires_at_unix} (now {now_unix})")]
    Expired { expires_at_unix: u64, now_unix: u64 },
    /// The charge is in another currency than the code's cap.
    #[error("pay code is capped in {cap_currency}, the charge is in {charge_currency}")]
    CurrencyMismatch {
        cap_currency: &'static str,
        charge_currency: &'static str,
    },
    /// The charge is above the code's cap.
    #[error("charge {charge} {currency} is above the pay code's cap of {cap} {currency}")]
    OverLimit {
        cap: Amount,
        charge: Amount,
        currency: &'static str,
    },
    /// `generate` was asked for a validity of 0 seconds.
    #[error("validity must be 1..=255 seconds")]
    ValidityInvalid,
    /// `generate` was given an issue time the 32-bit field cannot hold (after 2106-02-07).
    #[error("issue time {issued_at_unix} does not fit the pay code's 32-bit seconds field")]
    IssuedAtOutOfRange { issued_at_unix: u64 },
    /// The signer (for example a platform keystore) failed.
    #[error("signing the pay code failed: {0}")]
    Signer(KeyError),
}

impl PaycodeError {
    /// Stable machine code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            PaycodeError::Invalid { .. } => "paycode_invalid",
            PaycodeError::WrongKey { .. } => "paycode_wrong_key",
            PaycodeError::Tampered => "paycode_tampered",
            PaycodeError::Replayed { .. } => "paycode_replayed",
            PaycodeError::NotYetValid { .. } => "paycode_not_yet_valid",
            PaycodeError::Expired { .. } => "paycode_expired",
            PaycodeError::CurrencyMismatch { .. } => "paycode_currency_mismatch",
            PaycodeError::OverLimit { .. } => "paycode_over_limit",
            PaycodeError::ValidityInvalid => "paycode_validity_invalid",
            PaycodeError::IssuedAtOutOfRange { .. } => "paycode_issued_at_out_of_range",
            PaycodeError::Signer(inner) => inner.code(),
        }
    }
}

fn invalid(reason: &'static str) -> PaycodeError {
    PaycodeError::Invalid { reason }
}

/// What a phone puts into a new pay code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewPayCode {
    /// Strictly greater than every counter this device used before (the SDK persists it).
    pub counter: u32,
    /// The phone's clock, unix seconds.
    pub issued_at_unix: u64,
    /// 1..=255 seconds; [`VALIDITY_SECS_DEFAULT`] unless there is a reason.
    pub validity_secs: u8,
    /// The most the merchant may charge with this code, if the user set a limit.
    pub cap: Option<Amount>,
}

/// The contents of a pay code. Returned by [`verify`] once every check passed; inside an
/// [`UnverifiedPayCode`] the same fields are only claims.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PayCode {
    key_id: KeyId,
    counter: u32,
    issued_at_unix: u64,
    validity_secs: u8,
    cap: Option<Amount>,
}

impl PayCode {
    /// Key id of the device key that signed the code.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }
    /// The device's counter; the verifier stores it as the new "last accepted counter".
    pub fn counter(&self) -> u32 {
        self.counter
    }
    /// When the phone says it made the code, unix seconds.
    pub fn issued_at_unix(&self) -> u64 {
        self.issued_at_unix
    }
    /// How long the code is valid after `issued_at_unix`, in seconds.
    pub fn validity_secs(&self) -> u8 {
        self.validity_secs
    }
    /// `issued_at_unix + validity_secs`: the nominal end of validity. Verification allows
    /// [`CLOCK_SKEW_SECS`] beyond it.
    pub fn expires_at_unix(&self) -> u64 {
        self.issued_at_unix + u64::from(self.validity_secs)
    }
    /// The amount cap, if any.
    pub fn cap(&self) -> Option<Amount> {
        self.cap
    }
}

/// A decoded pay code whose signature and window have not been checked yet: read its key id to
/// find the device, then call [`UnverifiedPayCode::verify`].
#[derive(Clone, Debug)]
pub struct UnverifiedPayCode {
    claims: PayCode,
    /// `SIGNING_CONTEXT || body`, kept on the stack: the exact bytes the signature covers.
    message: [u8; SIGNING_CONTEXT.len() + BODY_LEN_MAX],
    message_len: usize,
    signature: [u8; SIGNATURE_LEN],
}

impl UnverifiedPayCode {
    /// The key id the code claims; use it to find the device (not yet proven).
    pub fn key_id(&self) -> KeyId {
        self.claims.key_id
    }

    /// The unverified contents, for display or logging only.
    pub fn claims(&self) -> &PayCode {
        &self.claims
    }

    /// Checks, in this order: the key id matches `device_key`, the signature, the counter against
    /// `last_counter` (None: the device never paid before), the validity window at `now_unix` with
    /// [`CLOCK_SKEW_SECS`], and the cap against `charge`. `charge` is the amount about to be
    /// charged; `None` skips only the cap check (for display, never for charging).
    pub fn verify(
        self,
        device_key: &PublicKey,
        last_counter: Option<u32>,
        now_unix: u64,
        charge: Option<&Amount>,
    ) -> Result<PayCode, PaycodeError> {
        let claims = self.claims;
        let device_key_id = device_key.key_id();
        if claims.key_id != device_key_id {
            return Err(PaycodeError::WrongKey {
                code_key_id: claims.key_id,
                device_key_id,
            });
        }
        let signature =
            Signature::from_bytes(&self.signature).map_err(|_| PaycodeError::Tampered)?;
        device_key
            .verify(&self.message[..self.message_len], &signature)
            .map_err(|_| PaycodeError::Tampered)?;
        if let Some(last_counter) = last_counter {
            if claims.counter <= last_counter {
                return Err(PaycodeError::Replayed {
                    counter: claims.counter,
                    last_counter,
                });
            }
        }
        check_window(&claims, now_unix)?;
        if let Some(charge) = charge {
            check_cap(&claims, charge)?;
        }
        Ok(claims)
    }
}

/// Valid iff `issued_at - skew <= now < issued_at + validity + skew`.
fn check_window(claims: &PayCode, now_unix: u64) -> Result<(), PaycodeError> {
    if now_unix.saturating_add(CLOCK_SKEW_SECS) < claims.issued_at_unix {
        return Err(PaycodeError::NotYetValid {
            issued_at_unix: claims.issued_at_unix,
            now_unix,
        });
    }
    let expires_at_unix = claims.expires_at_unix();
    if now_unix >= expires_at_unix + CLOCK_SKEW_SECS {
        return Err(PaycodeError::Expired {
            expires_at_unix,
            now_unix,
        });
    }
    Ok(())
}

fn check_cap(claims: &PayCode, charge: &Amount) -> Result<(), PaycodeError> {
    let Some(cap) = claims.cap else {
        return Ok(());
    };
    if cap.currency().numeric != charge.currency().numeric {
        return Err(PaycodeError::CurrencyMismatch {
            cap_currency: cap.currency().code,
            charge_currency: charge.currency().code,
        });
    }
    if charge.minor() > cap.minor() {
        return Err(PaycodeError::OverLimit {
            cap,
            charge: *charge,
            currency: cap.currency().code,
        });
    }
    Ok(())
}

/// Signs a new pay code with the device's signer and returns its text (`PC1:` + base45).
pub fn generate(signer: &dyn Signer, new: &NewPayCode) -> Result<String, PaycodeError> {
    if new.validity_secs == 0 {
        return Err(PaycodeError::ValidityInvalid);
    }
    let issued_at =
        u32::try_from(new.issued_at_unix).map_err(|_| PaycodeError::IssuedAtOutOfRange {
            issued_at_unix: new.issued_at_unix,
        })?;
    let mut bytes = Vec::with_capacity(BYTES_MAX);
    let flags = if new.cap.is_some() { FLAG_CAP } else { 0 };
    bytes.push(LAYOUT_VERSION << 4 | flags);
    let public_key = signer.public_key();
    bytes.extend_from_slice(&public_key.key_id().to_bytes());
    bytes.extend_from_slice(&new.counter.to_be_bytes());
    bytes.extend_from_slice(&issued_at.to_be_bytes());
    bytes.push(new.validity_secs);
    if let Some(cap) = &new.cap {
        bytes.extend_from_slice(&pack_cap(cap).to_be_bytes());
    }
    let mut message = Vec::with_capacity(SIGNING_CONTEXT.len() + bytes.len());
    message.extend_from_slice(SIGNING_CONTEXT);
    message.extend_from_slice(&bytes);
    let signature = signer.sign(&message).map_err(PaycodeError::Signer)?;
    check_own_signature(signer, &message, &signature).map_err(PaycodeError::Signer)?;
    bytes.extend_from_slice(&signature.to_bytes());
    debug_assert!(bytes.len() <= BYTES_MAX);
    let mut text = String::with_capacity(TEXT_CHARS_MAX);
    text.push_str(PREFIX);
    base45::encode_into(&bytes, &mut text);
    Ok(text)
}

/// A platform keystore is outside our control: a code it signed wrongly (another key, a broken
/// implementation) would fail at every till, so it is caught here, where the cause is known. A
/// signer whose signatures verify by construction ([`Signer::signatures_verified`]: this crate's
/// own in-memory key) is not checked; the check costs about as much as the signature.
pub(crate) fn check_own_signature(
    signer: &dyn Signer,
    message: &[u8],
    signature: &Signature,
) -> Result<(), KeyError> {
    if signer.signatures_verified() {
        return Ok(());
    }
    signer
        .public_key()
        .verify(message, signature)
        .map_err(|_| KeyError::SignerFailed {
            reason: "the signature does not verify with the signer's public key".to_owned(),
        })
}

fn pack_cap(cap: &Amount) -> u64 {
    let numeric = u64::from(cap.currency().numeric);
    // ISO 4217 numeric codes are three decimal digits and amounts are at most 10^15 < 2^50, so
    // both always fit their fields; a violation is a bug in `money`.
    assert!(numeric < 1 << CAP_CURRENCY_BITS);
    let minor = u64::try_from(cap.minor()).expect("Amount is positive");
    assert!(minor < 1 << CAP_AMOUNT_BITS);
    numeric << CAP_AMOUNT_BITS | minor
}

fn unpack_cap(packed: u64) -> Result<Amount, PaycodeError> {
    if packed >> (CAP_AMOUNT_BITS + CAP_CURRENCY_BITS) != 0 {
        return Err(invalid("reserved cap bits are set"));
    }
    let numeric = (packed >> CAP_AMOUNT_BITS) as u16;
    let minor = packed & ((1 << CAP_AMOUNT_BITS) - 1);
    let currency =
        Currency::from_numeric(numeric).map_err(|_| invalid("cap currency is unknown"))?;
    // minor < 2^50, so it fits an i64; from_minor enforces 1..=AMOUNT_MINOR_MAX.
    if minor > AMOUNT_MINOR_MAX as u64 {
        return Err(invalid("cap amount is above the largest amount"));
    }
    Amount::from_minor(minor as i64, currency).map_err(|_| invalid("cap amount is not valid"))
}

/// Decodes a pay code without checking its signature or window, to read the key id. Never panics,
/// whatever the input.
pub fn decode(text: &str) -> Result<UnverifiedPayCode, PaycodeError> {
    if text.len() > TEXT_CHARS_MAX {
        return Err(invalid("text is longer than any pay code"));
    }
    let encoded = text
        .strip_prefix(PREFIX)
        .ok_or_else(|| invalid("text does not start with the pay code prefix PC1:"))?;
    let mut buf = [0u8; BYTES_MAX];
    let len = base45::decode_into(encoded.as_bytes(), &mut buf)?;
    let bytes = &buf[..len];
    if bytes.len() < BODY_LEN_BASE + SIGNATURE_LEN {
        return Err(invalid("code is too short"));
    }
    let header = bytes[0];
    if header >> 4 != LAYOUT_VERSION {
        return Err(invalid("unsupported layout version"));
    }
    let flags = header & 0x0f;
    if flags & !FLAGS_KNOWN != 0 {
        return Err(invalid("reserved header flags are set"));
    }
    let body_len = if flags & FLAG_CAP != 0 {
        BODY_LEN_MAX
    } else {
        BODY_LEN_BASE
    };
    if bytes.len() != body_len + SIGNATURE_LEN {
        return Err(invalid("code length does not match its header"));
    }
    let (body, signature) = bytes.split_at(body_len);
    let key_id = KeyId::from_bytes(body[1..9].try_into().map_err(|_| invalid("key id"))?);
    let counter = u32::from_be_bytes(body[9..13].try_into().map_err(|_| invalid("counter"))?);
    let issued_at = u32::from_be_bytes(body[13..17].try_into().map_err(|_| invalid("time"))?);
    let validity_secs = body[17];
    if validity_secs == 0 {
        return Err(invalid("validity is zero"));
    }
    let cap = if flags & FLAG_CAP != 0 {
        let packed = u64::from_be_bytes(body[18..26].try_into().map_err(|_| invalid("cap"))?);
        Some(unpack_cap(packed)?)
    } else {
        None
    };
    let mut message = [0u8; SIGNING_CONTEXT.len() + BODY_LEN_MAX];
    message[..SIGNING_CONTEXT.len()].copy_from_slice(SIGNING_CONTEXT);
    message[SIGNING_CONTEXT.len()..SIGNING_CONTEXT.len() + body_len].copy_from_slice(body);
    let mut sig = [0u8; SIGNATURE_LEN];
    sig.copy_from_slice(signature);
    Ok(UnverifiedPayCode {
        claims: PayCode {
            key_id,
            counter,
            issued_at_unix: u64::from(issued_at),
            validity_secs,
            cap,
        },
        message,
        message_len: SIGNING_CONTEXT.len() + body_len,
        signature: sig,
    })
}

/// Decodes and verifies a pay code in one call; see [`UnverifiedPayCode::verify`] for the checks.
pub fn verify(
    text: &str,
    device_key: &PublicKey,
    last_counter: Option<u32>,
    now_unix: u64,
    charge: Option<&Amount>,
) -> Result<PayCode, PaycodeError> {
    decode(text)?.verify(device_key, last_counter, now_unix, charge)
}

/// Base45 (RFC 9285), strict: only the 45-character alphabet, no over-long groups, no dangling
/// character. Strictness makes the text form canonical, so changing any character of a pay code
/// either fails decoding or changes the signed bytes.
mod base45 {
    use super::{PaycodeError, invalid};

    const ALPHABET: &[u8; 45] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

    fn value(c: u8) -> Option<u16> {
        ALPHABET.iter().position(|&a| a == c).map(|v| v as u16)
    }

    pub(super) fn encode_into(bytes: &[u8], out: &mut String) {
        for chunk in bytes.chunks(2) {
            let (mut n, digits) = match *chunk {
                [a, b] => (u32::from(a) << 8 | u32::from(b), 3),
                [a] => (u32::from(a), 2),
                // chunks(2) yields one or two bytes.
                _ => continue,
            };
            for _ in 0..digits {
                out.push(char::from(ALPHABET[(n % 45) as usize]));
                n /= 45;
            }
        }
    }

    /// Decodes into `out`, returning the length; fails if the result would not fit.
    pub(super) fn decode_into(text: &[u8], out: &mut [u8]) -> Result<usize, PaycodeError> {
        if text.len() % 3 == 1 {
            return Err(invalid("base45 text has a dangling character"));
        }
        let mut len = 0;
        for group in text.chunks(3) {
            let mut n: u32 = 0;
            for &c in group.iter().rev() {
                let v = value(c).ok_or_else(|| invalid("character outside the base45 alphabet"))?;
                n = n * 45 + u32::from(v);
            }
            let (produced, count) = if group.len() == 3 {
                let n = u16::try_from(n).map_err(|_| invalid("base45 group above 65535"))?;
                (n.to_be_bytes(), 2)
            } else {
                let n = u8::try_from(n).map_err(|_| invalid("base45 pair above 255"))?;
                ([n, 0], 1)
            };
            let end = len + count;
            if end > out.len() {
                return Err(invalid("code is too long"));
            }
            out[len..end].copy_from_slice(&produced[..count]);
            len = end;
        }
        Ok(len)
    }

    #[cfg(test)]
    mod tests {
        fn encode(bytes: &[u8]) -> String {
            let mut s = String::new();
            super::encode_into(bytes, &mut s);
            s
        }
        fn decode(text: &str) -> Option<Vec<u8>> {
            let mut buf = [0u8; 64];
            let len = super::decode_into(text.as_bytes(), &mut buf).ok()?;
            Some(buf[..len].to_vec())
        }

        #[test]
        fn rfc_9285_examples() {
            for (bytes, text) in [
                (&b"AB"[..], "BB8"),
                (b"Hello!!", "%69 VD92EX0"),
                (b"base-45", "UJCLQE7W581"),
                (b"ietf!", "QED8WEX0"),
                (b"", ""),
            ] {
                assert_eq!(encode(bytes), text);
                assert_eq!(decode(text).as_deref(), Some(bytes));
            }
        }

        #[test]
        fn rejects_non_canonical_and_foreign_input() {
            assert_eq!(decode("GGW"), None, "65536 does not fit two bytes");
            assert_eq!(decode("FGW"), Some(vec![0xff, 0xff]));
            assert_eq!(decode("U5"), Some(vec![0xff]));
            assert_eq!(decode("V5"), None, "256 does not fit one byte");
            assert_eq!(decode("BB8A"), None, "dangling character");
            assert_eq!(decode("bb8"), None, "lower case is not base45");
            assert_eq!(decode("B\u{e9}"), None);
        }
    }
}
