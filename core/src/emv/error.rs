//! `EmvError`: every way an EMV payload can be refused, by the decoder or the encoder, each with a
//! stable `code()`. It never carries more of the input than a CRC or a two-digit id, so an error can
//! be logged without leaking a merchant's account details.

/// Why a payload was rejected (decoding) or could not be produced (encoding).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EmvError {
    /// The input is shorter than one id+length header (4 characters).
    #[error("payload has {chars} characters; at least {min} are needed (one id and length)")]
    TooShort { chars: usize, min: usize },
    /// The input is longer than [`super::PAYLOAD_CHARS_MAX`].
    #[error("payload is longer than {chars_max} characters")]
    TooLong { chars_max: usize },
    /// Bytes that are not UTF-8 (only [`super::decode_bytes`] sees raw bytes).
    #[error("payload is not valid UTF-8 text")]
    EncodingInvalid,
    /// The text does not split into id (2 digits), length (2 digits), value objects.
    #[error("malformed TLV at character {at_char}: {detail}")]
    TlvMalformed { at_char: usize, detail: String },
    /// The same id appears twice at one level (top level, or inside one template).
    #[error("{}", duplicate_message(id, within))]
    DuplicateTag {
        id: &'static str,
        within: Option<&'static str>,
    },
    /// Well-formed TLV that is not laid out as an EMV payload (00 first, CRC last).
    #[error("invalid payload structure: {detail}")]
    StructureInvalid { detail: &'static str },
    /// No CRC object (id 63) at the end of the payload.
    #[error("CRC missing: {detail}")]
    CrcMissing { detail: &'static str },
    /// The CRC object is not 4 hexadecimal digits.
    #[error("CRC {stated:?} is not 4 hexadecimal digits")]
    CrcMalformed { stated: String },
    /// The stated CRC differs from the CRC of the payload.
    #[error("CRC mismatch: payload states {stated}, its content gives {computed:04X}")]
    CrcMismatch { stated: String, computed: u16 },
    /// A field every payload needs is absent.
    #[error("mandatory field {field} (id {id}) is missing")]
    MissingField {
        field: &'static str,
        id: &'static str,
    },
    /// A field is present but its value is not of its format (decoder) or not allowed (encoder).
    #[error("field {id} is invalid: {detail}")]
    InvalidField {
        id: &'static str,
        detail: &'static str,
    },
    /// An id that is not two digits, or that cannot be used where it was given (encoder).
    #[error("id {id:?} cannot be used: {detail}")]
    InvalidId { id: String, detail: &'static str },
    /// A value longer than the 99 characters a two-digit length can state (encoder).
    #[error("value of {id} has {chars} characters; at most 99 fit a two-digit length")]
    ValueTooLong { id: &'static str, chars: usize },
    /// An empty value: EMV lengths run from 01 to 99 (encoder).
    #[error("value of {id} is empty; EMV lengths run from 01 to 99")]
    ValueEmpty { id: &'static str },
}

fn duplicate_message(id: &str, within: &Option<&'static str>) -> String {
    match within {
        Some(template) => format!("id {id} appears twice inside template {template}"),
        None => format!("id {id} appears twice at the top level"),
    }
}

impl EmvError {
    /// Stable snake_case code for APIs, the CLI and the mobile bindings.
    pub fn code(&self) -> &'static str {
        match self {
            EmvError::TooShort { .. } => "too_short",
            EmvError::TooLong { .. } => "too_long",
            EmvError::EncodingInvalid => "encoding_invalid",
            EmvError::TlvMalformed { .. } => "tlv_malformed",
            EmvError::DuplicateTag { .. } => "duplicate_tag",
            EmvError::StructureInvalid { .. } => "structure_invalid",
            EmvError::CrcMissing { .. } => "crc_missing",
            EmvError::CrcMalformed { .. } => "crc_malformed",
            EmvError::CrcMismatch { .. } => "crc_mismatch",
            EmvError::MissingField { .. } => "missing_field",
            EmvError::InvalidField { .. } => "invalid_field",
            EmvError::InvalidId { .. } => "invalid_id",
            EmvError::ValueTooLong { .. } => "value_too_long",
            EmvError::ValueEmpty { .. } => "value_empty",
        }
    }
}
