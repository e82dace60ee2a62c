//! Any EMV merchant-presented QR payload (Pix, PromptPay, SGQR, QRIS, Purse...) as a typed
//! record plus the core's JSON form. It only reads: checks and leniencies are
//! `purse_core::emv::decode`'s, and it never decides whether a code is trustworthy (see
//! `merchant_code`).

use purse_core::emv::{self, DataObject, Payload};
use purse_core::money::Currency;

use crate::error::{PurseError, guard};

/// A decoded EMV payload. Text fields are exactly as written in the code.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct EmvCode {
    /// Payload format indicator (00), "01" (some schemes write "02").
    pub payload_format: String,
    /// Point of initiation (01): "11" static (reusable), "12" dynamic (one payment).
    pub poi_method: Option<String>,
    /// Merchant category code (52).
    pub mcc: Option<String>,
    /// Transaction currency (53) as written: the ISO 4217 numeric code, e.g. "986".
    pub currency_numeric: String,
    /// The ISO 4217 letter code of `currency_numeric` ("BRL"), if it is a known currency.
    pub currency: Option<String>,
    /// Transaction amount (54) as written ("100.50"), if the code fixes one.
    pub amount: Option<String>,
    /// Country (58), ISO 3166-1 alpha-2.
    pub country: String,
    pub merchant_name: Option<String>,
    pub merchant_city: Option<String>,
    pub postal_code: Option<String>,
    /// Merchant account information (02-51), in payload order.
    pub merchant_accounts: Vec<EmvObject>,
    /// Additional data template (62).
    pub additional_data: Option<EmvObject>,
    /// Merchant information language template (64).
    pub language_template: Option<EmvObject>,
    /// Unreserved templates (80-99), e.g. the Purse signature.
    pub unreserved_templates: Vec<EmvObject>,
    /// The CRC (63) as written.
    pub crc: String,
    /// The whole code as JSON, in the shape `purse qr decode` prints.
    pub json: String,
}

/// One top-level data object.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct EmvObject {
    /// Two-digit id, e.g. "26".
    pub id: String,
    /// The value of a primitive object, or the raw text of a template that is not TLV.
    pub value: Option<String>,
    /// A template's sub-tag 00 (its globally unique identifier), e.g. "br.gov.bcb.pix".
    pub guid: Option<String>,
    /// A template's sub-objects, in order (sub-tag 00 included).
    pub fields: Vec<EmvField>,
}

/// One sub-object of a template.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct EmvField {
    pub id: String,
    pub value: String,
}

/// Decodes any EMV merchant-presented payload: strict on structure and CRC, lenient on the
/// quirks real codes have. Errors are `Invalid` with the core's code (`crc_mismatch`,
/// `tlv_malformed`, ...).
#[uniffi::export]
pub fn decode_emv(payload: String) -> Result<EmvCode, PurseError> {
    guard(|| Ok(EmvCode::from(&emv::decode(&payload)?)))
}

impl From<&Payload> for EmvCode {
    fn from(payload: &Payload) -> EmvCode {
        let text = |value: Option<&str>| value.map(str::to_owned);
        let currency = payload
            .currency()
            .parse::<u16>()
            .ok()
            .and_then(|numeric| Currency::from_numeric(numeric).ok())
            .map(|currency| currency.code.to_owned());
        EmvCode {
            payload_format: payload.payload_format().to_owned(),
            poi_method: text(payload.poi_method()),
            mcc: text(payload.mcc()),
            currency_numeric: payload.currency().to_owned(),
            currency,
            amount: text(payload.amount_text()),
            country: payload.country().to_owned(),
            merchant_name: text(payload.merchant_name()),
            merchant_city: text(payload.merchant_city()),
            postal_code: text(payload.postal_code()),
            merchant_accounts: payload.merchant_accounts().map(EmvObject::from).collect(),
            additional_data: payload.additional_data().map(EmvObject::from),
            language_template: payload.language_template().map(EmvObject::from),
            unreserved_templates: payload
                .unreserved_templates()
                .map(EmvObject::from)
                .collect(),
            crc: payload.crc().to_owned(),
            json: payload.to_json().to_string(),
        }
    }
}

impl From<&DataObject> for EmvObject {
    fn from(object: &DataObject) -> EmvObject {
        EmvObject {
            id: object.id().to_owned(),
            value: object.text().map(str::to_owned),
            guid: object.guid().map(str::to_owned),
            fields: object
                .children()
                .iter()
                .map(|child| EmvField {
                    id: child.id().to_owned(),
                    value: child.text().unwrap_or_default().to_owned(),
                })
                .collect(),
        }
    }
}
