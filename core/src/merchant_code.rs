//! Signed Purse merchant codes: EMV merchant-presented payloads that carry a Purse merchant
//! account template and an Ed25519 signature template, so a Purse app can prove who made a code.
//!
//! It owns the two Purse templates, what the signature covers and the verification rules. It
//! builds and reads the EMV text only through `emv` (so a Purse code is always a valid EMV code
//! that any scanner reads) and never fetches keys: the caller passes the merchant's public key.
//! `docs/formats.md` ("Merchant code") is the normative description; its test vectors are checked
//! by the tests.
//!
//! ```
//! use purse_core::keys::SecretKey;
//! use purse_core::merchant_code::{self, CodeKind, NewMerchantCode};
//! use purse_core::money::Currency;
//!
//! let merchant = SecretKey::from_bytes(&[9; 32]);
//! let new = NewMerchantCode {
//!     merchant_id: "mer_4kQx2",
//!     merchant_name: "Corner Coffee",
//!     city: "Lisbon",
//!     country: "PT",
//!     mcc: "5814",
//!     currency: Currency::from_code("EUR").unwrap(),
//!     kind: CodeKind::Static { expires_at_unix: None },
//! };
//! let payload = merchant_code::generate(&merchant, &new).unwrap();
//! let code = merchant_code::verify(&payload, &merchant.public_key(), 1_700_000_000).unwrap();
//! assert_eq!(code.merchant_id(), "mer_4kQx2");
//! ```

use std::str::FromStr;

use crate::emv::{self, DataObject, EmvError, Payload, PayloadBuilder, PoiMethod};
use crate::keys::{KeyError, KeyId, PublicKey, Signature, Signer};
use crate::money::{Amount, Currency};
use crate::paycode::{CLOCK_SKEW_SECS, check_own_signature};

/// GUID (sub-tag 00) of both Purse templates: a reverse domain name, as EMV suggests.
pub const GUID: &str = "app.purse";

/// Id of the Purse merchant account template written by [`generate`]. Verification finds the
/// template by its GUID in any of 26–51, so a later move to another id stays readable.
pub const ACCOUNT_TEMPLATE_ID: &str = "26";

/// Id of the Purse signature template, always 80: the signature does not cover the template's own
/// id, so a verifier that took any of 80–99 would let one character change unnoticed.
pub const SIGNATURE_TEMPLATE_ID: &str = "80";

/// Merchant ids are Purse's public `mer_…` ids: at most 40 characters of `[A-Za-z0-9_-]`.
pub const MERCHANT_ID_CHARS_MAX: usize = 40;
/// EMV limit of tag 59.
pub const MERCHANT_NAME_CHARS_MAX: usize = 25;
/// EMV limit of tag 60.
pub const CITY_CHARS_MAX: usize = 15;
/// EMV limit of the reference label (tag 62, sub-tag 05).
pub const REFERENCE_CHARS_MAX: usize = 25;
/// EMV limit of the amount (tag 54).
pub const AMOUNT_CHARS_MAX: usize = emv::AMOUNT_CHARS_MAX;
/// Expiry is written as unix seconds in at most 12 decimal digits (enough for 30,000 years).
const EXPIRY_DIGITS_MAX: usize = 12;

/// Account template sub-tags.
const SUB_GUID: &str = "00";
const SUB_MERCHANT_ID: &str = "01";
const SUB_KEY_ID: &str = "02";
const SUB_EXPIRY: &str = "03";
/// Signature template sub-tag holding the Z85 signature.
const SUB_SIGNATURE: &str = "01";
/// Additional data (62) sub-tag of the reference label.
const SUB_REFERENCE: &str = "05";

/// Why a merchant code was not generated or not accepted. Each variant has its own `code()`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MerchantCodeError {
    /// Not a valid EMV payload at all; the EMV error's own code is passed through.
    #[error(transparent)]
    Emv(EmvError),
    /// A valid EMV code without a Purse merchant account template (another scheme's code).
    #[error("this is not a Purse merchant code (no merchant account template with GUID {GUID})")]
    NotPurseCode,
    /// A Purse account template but no Purse signature template: nothing proves who made it.
    #[error("this Purse merchant code carries no signature")]
    Unsigned,
    /// Purse templates that do not follow the format (missing or malformed sub-tags, signature
    /// template not last, lower-case CRC...).
    #[error("invalid Purse merchant code: {reason}")]
    Invalid { reason: &'static str },
    /// The code names another key id than the merchant key it is verified with.
    #[error("merchant code was signed by key {code_key_id}, not by {merchant_key_id}")]
    WrongKey {
        code_key_id: KeyId,
        merchant_key_id: KeyId,
    },
    /// The signature does not verify: the code was altered or forged.
    #[error("merchant code signature does not verify: the code was altered or forged")]
    BadSignature,
    /// Past its expiry plus the allowed clock skew.
    #[error("merchant code expired at {expires_at_unix} (now {now_unix})")]
    Expired { expires_at_unix: u64, now_unix: u64 },
    /// `generate` was given a field it cannot put in a code.
    #[error("cannot make a merchant code: {field} {reason}")]
    FieldInvalid {
        field: &'static str,
        reason: &'static str,
    },
    /// The signer (for example a platform keystore) failed.
    #[error("signing the merchant code failed: {0}")]
    Signer(KeyError),
}

impl MerchantCodeError {
    /// Stable machine code of this error (EMV and signer errors keep their own codes).
    pub fn code(&self) -> &'static str {
        match self {
            MerchantCodeError::Emv(inner) => inner.code(),
            MerchantCodeError::NotPurseCode => "not_purse_code",
            MerchantCodeError::Unsigned => "merchant_code_unsigned",
            MerchantCodeError::Invalid { .. } => "merchant_code_invalid",
            MerchantCodeError::WrongKey { .. } => "merchant_code_wrong_key",
            MerchantCodeError::BadSignature => "merchant_code_bad_signature",
            MerchantCodeError::Expired { .. } => "merchant_code_expired",
            MerchantCodeError::FieldInvalid { .. } => "merchant_code_field_invalid",
            MerchantCodeError::Signer(inner) => inner.code(),
        }
    }
}

impl From<EmvError> for MerchantCodeError {
    fn from(err: EmvError) -> Self {
        MerchantCodeError::Emv(err)
    }
}

fn invalid(reason: &'static str) -> MerchantCodeError {
    MerchantCodeError::Invalid { reason }
}

fn field(field: &'static str, reason: &'static str) -> MerchantCodeError {
    MerchantCodeError::FieldInvalid { field, reason }
}

/// Static codes are printed once and reused; dynamic codes are for one payment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CodeKind {
    /// No amount: the payer types it. An expiry is optional (for a temporary sticker).
    Static { expires_at_unix: Option<u64> },
    /// A fixed amount, the merchant's reference for this payment and an expiry.
    Dynamic {
        amount: Amount,
        reference: String,
        expires_at_unix: u64,
    },
}

/// What a merchant puts into a new code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewMerchantCode<'a> {
    /// Purse merchant id (`mer_…`), at most [`MERCHANT_ID_CHARS_MAX`] of `[A-Za-z0-9_-]`.
    pub merchant_id: &'a str,
    /// At most [`MERCHANT_NAME_CHARS_MAX`] characters.
    pub merchant_name: &'a str,
    /// At most [`CITY_CHARS_MAX`] characters.
    pub city: &'a str,
    /// ISO 3166-1 alpha-2, upper case.
    pub country: &'a str,
    /// Merchant category code, 4 digits.
    pub mcc: &'a str,
    /// The code's currency; a dynamic code's amount must be in it.
    pub currency: &'static Currency,
    pub kind: CodeKind,
}

/// A verified Purse merchant code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MerchantCode {
    merchant_id: String,
    key_id: KeyId,
    dynamic: bool,
    merchant_name: String,
    city: String,
    country: String,
    mcc: String,
    currency: &'static Currency,
    amount: Option<Amount>,
    reference: Option<String>,
    expires_at_unix: Option<u64>,
}

impl MerchantCode {
    pub fn merchant_id(&self) -> &str {
        &self.merchant_id
    }
    /// Key id of the merchant key that signed the code.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }
    /// Point of initiation method 12: a code for one payment.
    pub fn is_dynamic(&self) -> bool {
        self.dynamic
    }
    pub fn merchant_name(&self) -> &str {
        &self.merchant_name
    }
    pub fn city(&self) -> &str {
        &self.city
    }
    pub fn country(&self) -> &str {
        &self.country
    }
    pub fn mcc(&self) -> &str {
        &self.mcc
    }
    pub fn currency(&self) -> &'static Currency {
        self.currency
    }
    /// The amount to pay (dynamic codes only).
    pub fn amount(&self) -> Option<Amount> {
        self.amount
    }
    /// The merchant's reference for this payment (dynamic codes only).
    pub fn reference(&self) -> Option<&str> {
        self.reference.as_deref()
    }
    /// End of validity, unix seconds; verification allows [`CLOCK_SKEW_SECS`] beyond it.
    pub fn expires_at_unix(&self) -> Option<u64> {
        self.expires_at_unix
    }
}

/// Makes a signed Purse merchant code: the EMV payload text, CRC included.
pub fn generate(
    signer: &dyn Signer,
    new: &NewMerchantCode<'_>,
) -> Result<String, MerchantCodeError> {
    let public_key = signer.public_key();
    let builder = builder(new, Some(public_key.key_id()))?;
    let unsigned = builder.encode_without_crc()?;
    let signature = signer
        .sign(unsigned.as_bytes())
        .map_err(MerchantCodeError::Signer)?;
    check_own_signature(signer, unsigned.as_bytes(), &signature)
        .map_err(MerchantCodeError::Signer)?;
    let signature_text = z85::encode(&signature.to_bytes());
    let signed = builder
        .unreserved_template(
            SIGNATURE_TEMPLATE_ID,
            GUID,
            &[(SUB_SIGNATURE, signature_text.as_str())],
        )
        .encode_without_crc()?;
    // The builder writes ids in ascending order and every other id is below 80, so the signature
    // template lands last, right after the bytes it signs.
    assert!(
        signed.starts_with(&unsigned),
        "signature template is not last"
    );
    let payload = emv::append_crc(signed);
    // Decode what we made, so a code that our own verifier would refuse never leaves here.
    emv::decode(&payload)?;
    Ok(payload)
}

/// Makes the same payload without a signature: a valid EMV code that any scanner reads, with the
/// Purse account template (merchant id, expiry, no key id) but nothing that proves its origin, so
/// [`verify`] answers `merchant_code_unsigned`. For tests and for printing a code before a key
/// exists; never show one to payers.
pub fn encode_unsigned(new: &NewMerchantCode<'_>) -> Result<String, MerchantCodeError> {
    let payload = emv::append_crc(builder(new, None)?.encode_without_crc()?);
    emv::decode(&payload)?;
    Ok(payload)
}

/// Every object of the code but the signature template, in the layout of docs/formats.md.
fn builder(
    new: &NewMerchantCode<'_>,
    key_id: Option<KeyId>,
) -> Result<PayloadBuilder, MerchantCodeError> {
    check_new(new)?;
    let (poi, expires_at_unix) = match &new.kind {
        CodeKind::Static { expires_at_unix } => (PoiMethod::Static, *expires_at_unix),
        CodeKind::Dynamic {
            expires_at_unix, ..
        } => (PoiMethod::Dynamic, Some(*expires_at_unix)),
    };
    let key_id_text = key_id.map(|id| id.to_string());
    let expiry_text = expires_at_unix.map(|at| at.to_string());
    let mut account = vec![(SUB_MERCHANT_ID, new.merchant_id)];
    if let Some(key_id) = &key_id_text {
        account.push((SUB_KEY_ID, key_id.as_str()));
    }
    if let Some(expiry) = &expiry_text {
        if expiry.len() > EXPIRY_DIGITS_MAX {
            return Err(field("expires_at_unix", "is beyond 12 decimal digits"));
        }
        account.push((SUB_EXPIRY, expiry.as_str()));
    }
    let numeric = format!("{:03}", new.currency.numeric);
    let mut builder = PayloadBuilder::new()
        .poi_method(poi)
        .merchant_account(ACCOUNT_TEMPLATE_ID, GUID, &account)
        .mcc(new.mcc)
        .currency(&numeric)
        .country(new.country)
        .merchant_name(new.merchant_name)
        .merchant_city(new.city);
    if let CodeKind::Dynamic {
        amount, reference, ..
    } = &new.kind
    {
        builder = builder
            .amount(&amount.to_string())
            .additional_data(&[(SUB_REFERENCE, reference.as_str())]);
    }
    Ok(builder)
}

fn check_new(new: &NewMerchantCode<'_>) -> Result<(), MerchantCodeError> {
    if !is_merchant_id(new.merchant_id) {
        return Err(field(
            "merchant_id",
            "must be 1 to 40 characters of A-Z, a-z, 0-9, '_' and '-'",
        ));
    }
    check_text("merchant_name", new.merchant_name, MERCHANT_NAME_CHARS_MAX)?;
    check_text("city", new.city, CITY_CHARS_MAX)?;
    if new.country.len() != 2 || !new.country.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(field(
            "country",
            "must be two upper-case letters (ISO 3166-1)",
        ));
    }
    if new.mcc.len() != 4 || !new.mcc.bytes().all(|b| b.is_ascii_digit()) {
        return Err(field("mcc", "must be 4 digits"));
    }
    if let CodeKind::Dynamic {
        amount, reference, ..
    } = &new.kind
    {
        if amount.currency().numeric != new.currency.numeric {
            return Err(field("amount", "is not in the code's currency"));
        }
        if amount.to_string().len() > AMOUNT_CHARS_MAX {
            return Err(field("amount", "does not fit the 13 characters EMV allows"));
        }
        check_text("reference", reference, REFERENCE_CHARS_MAX)?;
    }
    Ok(())
}

/// 1 to [`MERCHANT_ID_CHARS_MAX`] characters of `[A-Za-z0-9_-]`.
fn is_merchant_id(id: &str) -> bool {
    (1..=MERCHANT_ID_CHARS_MAX).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn check_text(name: &'static str, text: &str, chars_max: usize) -> Result<(), MerchantCodeError> {
    let chars = text.chars().count();
    if chars == 0 || chars > chars_max {
        return Err(field(
            name,
            match chars_max {
                MERCHANT_NAME_CHARS_MAX => "must be 1 to 25 characters",
                _ => "must be 1 to 15 characters",
            },
        ));
    }
    if text.chars().any(char::is_control) {
        return Err(field(name, "must not contain control characters"));
    }
    Ok(())
}

/// A decoded Purse merchant code whose signature and expiry have not been checked yet: read its
/// merchant id and key id to fetch the key, then call [`UnverifiedMerchantCode::verify`].
#[derive(Clone, Debug)]
pub struct UnverifiedMerchantCode {
    payload: Payload,
    merchant_id: String,
    key_id: KeyId,
    /// Byte length of the signed prefix of the payload's source.
    signed_len: usize,
    signature: [u8; 64],
}

impl UnverifiedMerchantCode {
    /// The merchant id the code claims (not yet proven).
    pub fn merchant_id(&self) -> &str {
        &self.merchant_id
    }
    /// The key id the code claims (not yet proven).
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }
    /// The decoded EMV payload.
    pub fn payload(&self) -> &Payload {
        &self.payload
    }

    /// Checks, in this order: the key id matches `merchant_key`, the signature, the Purse field
    /// rules, and the expiry at `now_unix` with [`CLOCK_SKEW_SECS`].
    pub fn verify(
        self,
        merchant_key: &PublicKey,
        now_unix: u64,
    ) -> Result<MerchantCode, MerchantCodeError> {
        let merchant_key_id = merchant_key.key_id();
        if self.key_id != merchant_key_id {
            return Err(MerchantCodeError::WrongKey {
                code_key_id: self.key_id,
                merchant_key_id,
            });
        }
        let signature =
            Signature::from_bytes(&self.signature).map_err(|_| MerchantCodeError::BadSignature)?;
        let signed = &self.payload.source().as_bytes()[..self.signed_len];
        merchant_key
            .verify(signed, &signature)
            .map_err(|_| MerchantCodeError::BadSignature)?;
        let code = self.into_view()?;
        if let Some(expires_at_unix) = code.expires_at_unix {
            if now_unix >= expires_at_unix.saturating_add(CLOCK_SKEW_SECS) {
                return Err(MerchantCodeError::Expired {
                    expires_at_unix,
                    now_unix,
                });
            }
        }
        Ok(code)
    }

    fn into_view(self) -> Result<MerchantCode, MerchantCodeError> {
        let payload = &self.payload;
        let account = purse_account(payload)?;
        let expires_at_unix = match account.get(SUB_EXPIRY).and_then(DataObject::text) {
            Some(text) => Some(parse_expiry(text)?),
            None => None,
        };
        let dynamic = match payload.poi_method() {
            Some("11") => false,
            Some("12") => true,
            _ => return Err(invalid("point of initiation method (01) must be 11 or 12")),
        };
        let numeric: u16 = payload
            .currency()
            .parse()
            .map_err(|_| invalid("currency (53) is not a number"))?;
        let currency =
            Currency::from_numeric(numeric).map_err(|_| invalid("currency (53) is unknown"))?;
        let amount = match payload.amount_text() {
            Some(text) => Some(
                Amount::parse(text, currency)
                    .map_err(|_| invalid("amount (54) is not a valid amount in its currency"))?,
            ),
            None => None,
        };
        let reference = payload
            .additional_data()
            .and_then(|data| data.get(SUB_REFERENCE))
            .and_then(DataObject::text)
            .map(str::to_owned);
        if dynamic {
            if amount.is_none() || reference.is_none() || expires_at_unix.is_none() {
                return Err(invalid(
                    "a dynamic code needs an amount (54), a reference (62/05) and an expiry",
                ));
            }
        } else if amount.is_some() {
            return Err(invalid("a static code has no amount"));
        }
        let text = |id: &str, what: &'static str| {
            payload
                .get(id)
                .and_then(DataObject::text)
                .map(str::to_owned)
                .ok_or_else(|| invalid(what))
        };
        Ok(MerchantCode {
            merchant_name: text("59", "merchant name (59) is missing")?,
            city: text("60", "merchant city (60) is missing")?,
            mcc: text("52", "merchant category code (52) is missing")?,
            country: payload.country().to_owned(),
            merchant_id: self.merchant_id,
            key_id: self.key_id,
            dynamic,
            currency,
            amount,
            reference,
            expires_at_unix,
        })
    }
}

fn parse_expiry(text: &str) -> Result<u64, MerchantCodeError> {
    if text.is_empty()
        || text.len() > EXPIRY_DIGITS_MAX
        || !text.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(invalid(
            "expiry (26/03) must be 1 to 12 digits of unix seconds",
        ));
    }
    text.parse()
        .map_err(|_| invalid("expiry (26/03) is not a number"))
}

/// The Purse merchant account template: the one 26–51 template whose GUID is exactly [`GUID`].
fn purse_account(payload: &Payload) -> Result<&DataObject, MerchantCodeError> {
    let mut accounts = payload
        .objects()
        .iter()
        .filter(|object| (26..=51).contains(&object.id_number()) && object.guid() == Some(GUID));
    let account = accounts.next().ok_or(MerchantCodeError::NotPurseCode)?;
    if accounts.next().is_some() {
        return Err(invalid("more than one Purse merchant account template"));
    }
    Ok(account)
}

/// Decodes a payload and reads the Purse templates without checking the signature. Never panics.
pub fn decode(payload: &str) -> Result<UnverifiedMerchantCode, MerchantCodeError> {
    let payload = emv::decode(payload)?;
    let account = purse_account(&payload)?;
    let (signed_len, signature) = read_signature(&payload)?;
    let merchant_id = account
        .get(SUB_MERCHANT_ID)
        .and_then(DataObject::text)
        .filter(|id| is_merchant_id(id))
        .ok_or_else(|| invalid("merchant id (26/01) is missing or not 1-40 of [A-Za-z0-9_-]"))?
        .to_owned();
    let key_id_text = account
        .get(SUB_KEY_ID)
        .and_then(DataObject::text)
        .ok_or_else(|| invalid("key id (26/02) is missing"))?;
    let key_id = KeyId::from_str(key_id_text)
        .map_err(|_| invalid("key id (26/02) is not 16 lower-case hex digits"))?;
    Ok(UnverifiedMerchantCode {
        merchant_id,
        key_id,
        signed_len,
        signature,
        payload,
    })
}

/// Finds the signature template and returns the signed length (its start) and the signature.
fn read_signature(payload: &Payload) -> Result<(usize, [u8; 64]), MerchantCodeError> {
    let mut signature_templates = payload
        .unreserved_templates()
        .filter(|object| object.guid() == Some(GUID));
    let template = signature_templates
        .next()
        .ok_or(MerchantCodeError::Unsigned)?;
    if signature_templates.next().is_some() {
        return Err(invalid("more than one Purse signature template"));
    }
    // The signature template is the last object before the CRC: nothing unsigned may follow it.
    let objects = payload.objects();
    let before_crc = objects.len().checked_sub(2).and_then(|i| objects.get(i));
    if template.id() != SIGNATURE_TEMPLATE_ID {
        return Err(invalid("the signature template's id must be 80"));
    }
    if before_crc.map(DataObject::id_number) != Some(template.id_number()) {
        return Err(invalid(
            "the signature template must be the last object before the CRC (63)",
        ));
    }
    let signature_text = match template.children() {
        [guid, signature] if guid.id() == SUB_GUID && signature.id() == SUB_SIGNATURE => {
            signature.text().unwrap_or_default()
        }
        _ => {
            return Err(invalid(
                "the signature template holds exactly 00 (GUID) then 01 (signature)",
            ));
        }
    };
    let signature = z85::decode64(signature_text)
        .ok_or_else(|| invalid("signature (80/01) is not 80 Z85 characters"))?;
    // The decoder accepts a lower-case CRC; a Purse code insists on upper case so that no single
    // character outside the signed bytes can change without the code being refused.
    if !payload
        .crc()
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
    {
        return Err(invalid(
            "the CRC (63) of a Purse code is upper-case hexadecimal",
        ));
    }
    Ok((template.span().start, signature))
}

/// Decodes and verifies a merchant code in one call; see [`UnverifiedMerchantCode::verify`].
pub fn verify(
    payload: &str,
    merchant_key: &PublicKey,
    now_unix: u64,
) -> Result<MerchantCode, MerchantCodeError> {
    decode(payload)?.verify(merchant_key, now_unix)
}

/// Z85 (ZeroMQ RFC 32): 4 bytes to 5 characters. It is the densest common ASCII encoding: a
/// 64-byte signature takes 80 characters (base64url needs 86), which with the GUID fits the 99
/// characters an EMV template may hold.
mod z85 {
    const ALPHABET: &[u8; 85] =
        b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

    pub(super) fn encode(bytes: &[u8; 64]) -> String {
        let mut out = String::with_capacity(80);
        for chunk in bytes.chunks_exact(4) {
            let mut n = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
            let mut digits = [0u8; 5];
            for digit in digits.iter_mut().rev() {
                *digit = ALPHABET[(n % 85) as usize];
                n /= 85;
            }
            out.extend(digits.iter().map(|&d| char::from(d)));
        }
        out
    }

    /// Exactly 80 characters to 64 bytes; `None` for anything else, including groups above
    /// 2^32 - 1, so that every signature has exactly one text form.
    pub(super) fn decode64(text: &str) -> Option<[u8; 64]> {
        let text = text.as_bytes();
        if text.len() != 80 {
            return None;
        }
        let mut out = [0u8; 64];
        for (group, bytes) in text.chunks_exact(5).zip(out.chunks_exact_mut(4)) {
            let mut n: u64 = 0;
            for &c in group {
                let v = ALPHABET.iter().position(|&a| a == c)?;
                n = n * 85 + v as u64;
            }
            let n = u32::try_from(n).ok()?;
            bytes.copy_from_slice(&n.to_be_bytes());
        }
        Some(out)
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn rfc_32_example_and_round_trip() {
            // ZeroMQ RFC 32: 86 4F D2 6F B5 59 F7 5B encodes as "HelloWorld".
            let mut bytes = [0u8; 64];
            bytes[..8].copy_from_slice(&[0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B]);
            let text = super::encode(&bytes);
            assert!(text.starts_with("HelloWorld"));
            assert_eq!(text.len(), 80);
            assert_eq!(super::decode64(&text), Some(bytes));
            let max = [0xff; 64];
            assert_eq!(super::decode64(&super::encode(&max)), Some(max));
        }

        #[test]
        fn rejects_non_canonical_input() {
            let ok = super::encode(&[0; 64]);
            assert_eq!(super::decode64(&ok[..75]), None);
            // "%nSc0" is 2^32 - 1; "%nSc1" would be 2^32.
            let over = format!("%nSc1{}", &ok[5..]);
            assert_eq!(super::decode64(&over), None);
            let max = format!("%nSc0{}", &ok[5..]);
            assert!(super::decode64(&max).is_some());
            let bad = format!("\"{}", &ok[1..]);
            assert_eq!(super::decode64(&bad), None);
        }
    }
}
