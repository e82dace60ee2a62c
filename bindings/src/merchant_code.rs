//! Signed Purse merchant codes across the FFI: a merchant app signs one (static or dynamic), a
//! consumer app reads who claims to have made it, fetches that merchant's key, and verifies.
//! Layout and rules are `purse_core::merchant_code`'s; it never fetches keys itself.

use std::sync::Arc;

use purse_core::keys::PublicKey;
use purse_core::merchant_code::{self, CodeKind, MerchantCodeError};
use purse_core::money::{Amount, Currency};

use crate::error::{Failure, PurseError, guard};
use crate::keys::{Signer, SignerAdapter};
use crate::money::Money;

/// What a merchant puts in a new code. With `amount` it is a dynamic code for one payment and
/// needs `reference` and `expires_at_unix`; without, a static code (expiry optional).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct NewMerchantCode {
    /// Purse merchant id (`mer_…`).
    pub merchant_id: String,
    /// At most 25 characters.
    pub merchant_name: String,
    /// At most 15 characters.
    pub city: String,
    /// ISO 3166-1 alpha-2, upper case ("PT").
    pub country: String,
    /// Merchant category code, 4 digits ("5814").
    pub mcc: String,
    /// ISO 4217 code of the code's currency ("EUR").
    pub currency: String,
    /// The amount to pay, in `currency` ("4.20"): makes the code dynamic.
    #[uniffi(default = None)]
    pub amount: Option<String>,
    /// The merchant's reference for this payment (dynamic codes), at most 25 characters.
    #[uniffi(default = None)]
    pub reference: Option<String>,
    /// End of validity, unix seconds (required for dynamic codes).
    #[uniffi(default = None)]
    pub expires_at_unix: Option<u64>,
}

/// Who a Purse merchant code claims to come from: look the key up by these, then verify.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct MerchantCodeClaims {
    pub merchant_id: String,
    pub key_id: String,
}

/// A verified Purse merchant code.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct MerchantCode {
    pub merchant_id: String,
    /// Key id of the merchant key that signed it.
    pub key_id: String,
    /// A code for one payment (with amount, reference and expiry).
    pub dynamic: bool,
    pub merchant_name: String,
    pub city: String,
    pub country: String,
    pub mcc: String,
    /// ISO 4217 code.
    pub currency: String,
    /// The amount to pay (dynamic codes).
    pub amount: Option<Money>,
    /// The merchant's reference (dynamic codes).
    pub reference: Option<String>,
    pub expires_at_unix: Option<u64>,
}

/// Signs a merchant code with `signer` and returns the EMV payload text, ready for
/// [`crate::render_qr_svg`]. Any EMV scanner reads it; Purse apps can verify it.
#[uniffi::export]
pub fn sign_merchant_code(
    signer: Arc<dyn Signer>,
    code: NewMerchantCode,
) -> Result<String, PurseError> {
    guard(|| {
        let signer = SignerAdapter::new(signer)?;
        let currency = Currency::from_code(&code.currency)?;
        let kind = match (code.amount, code.reference, code.expires_at_unix) {
            (Some(amount), Some(reference), Some(expires_at_unix)) => CodeKind::Dynamic {
                amount: Amount::parse(&amount, currency)?,
                reference,
                expires_at_unix,
            },
            (Some(_), _, _) => {
                return Err(field_invalid(
                    "amount",
                    "needs a reference and an expiry (a dynamic code)",
                ));
            }
            (None, Some(_), _) => {
                return Err(field_invalid(
                    "reference",
                    "is only for dynamic codes (with an amount)",
                ));
            }
            (None, None, expires_at_unix) => CodeKind::Static { expires_at_unix },
        };
        let new = merchant_code::NewMerchantCode {
            merchant_id: &code.merchant_id,
            merchant_name: &code.merchant_name,
            city: &code.city,
            country: &code.country,
            mcc: &code.mcc,
            currency,
            kind,
        };
        Ok(merchant_code::generate(&signer, &new)?)
    })
}

fn field_invalid(field: &'static str, reason: &'static str) -> Failure {
    Failure::MerchantCode(MerchantCodeError::FieldInvalid { field, reason })
}

/// Reads a Purse merchant code without verifying it, to learn which merchant and key to fetch.
/// Another scheme's code is `Rejected(not_purse_code)`.
#[uniffi::export]
pub fn read_merchant_code(payload: String) -> Result<MerchantCodeClaims, PurseError> {
    guard(|| {
        let code = merchant_code::decode(&payload)?;
        Ok(MerchantCodeClaims {
            merchant_id: code.merchant_id().to_owned(),
            key_id: code.key_id().to_string(),
        })
    })
}

/// Verifies a Purse merchant code against the merchant's public key (base64url) at `now_unix`:
/// key id, signature, Purse field rules, expiry (with 30 s of clock skew). A changed character is
/// `Rejected(merchant_code_bad_signature)` (or `Invalid(crc_mismatch)` when it breaks the CRC).
#[uniffi::export]
pub fn verify_merchant_code(
    payload: String,
    merchant_public_key: String,
    now_unix: u64,
) -> Result<MerchantCode, PurseError> {
    guard(|| {
        let key: PublicKey = merchant_public_key.parse()?;
        let code = merchant_code::verify(&payload, &key, now_unix)?;
        Ok(MerchantCode {
            merchant_id: code.merchant_id().to_owned(),
            key_id: code.key_id().to_string(),
            dynamic: code.is_dynamic(),
            merchant_name: code.merchant_name().to_owned(),
            city: code.city().to_owned(),
            country: code.country().to_owned(),
            mcc: code.mcc().to_owned(),
            currency: code.currency().code.to_owned(),
            amount: code.amount().as_ref().map(Money::from_amount),
            reference: code.reference().map(str::to_owned),
            expires_at_unix: code.expires_at_unix(),
        })
    })
}
