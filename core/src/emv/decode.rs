//! The EMV decoder: text to [`Payload`], checking, in this order, size bounds, TLV shape (with
//! duplicate ids), layout (00 first, CRC last), the CRC, then mandatory fields and the formats of
//! the money fields. It never panics: every index is checked and lengths are counted in characters
//! (Unicode scalar values), never by slicing at byte offsets that could split one.

use std::ops::Range;

use super::object::{DataObject, Value, id_str, is_template_id};
use super::{EmvError, Payload, crc16};

/// Fewest characters worth parsing: one id and one length. Anything shorter is `too_short`;
/// longer fragments get the more precise TLV or structure error.
pub const PAYLOAD_CHARS_MIN: usize = 4;

/// Most characters accepted. The EMV specification suggests 512, but real multi-scheme codes are
/// longer (an SGQR in the test vectors has 1068), and a QR code holds at most 4296 characters
/// (version 40, alphanumeric): 4096 leaves room for every real code and bounds the work per call.
pub const PAYLOAD_CHARS_MAX: usize = 4096;

/// The header of the CRC object: id 63, length 04.
const CRC_HEADER: &str = "6304";

/// Decodes and checks an EMV merchant-presented payload.
///
/// Checks, first failure wins: 4 to [`PAYLOAD_CHARS_MAX`] characters (`too_short`, `too_long`);
/// TLV objects with 2-digit ids and lengths counted in characters (`tlv_malformed`; a payload cut
/// inside the CRC header is `crc_missing`); distinct ids at the top level and inside each template
/// (`duplicate_tag`); id 00 first (`structure_invalid`) and the CRC last (`crc_missing`,
/// `structure_invalid`, `crc_malformed`); the CRC itself, either hex case (`crc_mismatch`); a
/// merchant account (02–51), currency (53) and country (58) (`missing_field`); payload format of 2
/// digits, currency of 3 digits and a decimal amount (`invalid_field`).
///
/// Lenient where real codes bend the specification: any 2-digit payload format ("02" in DuitNow),
/// no MCC, merchant name or city (PromptPay, VietQR, Pix), amount "0", and template values that are
/// not TLV, which are kept as [`Value::Raw`].
pub fn decode(payload: &str) -> Result<Payload, EmvError> {
    check_size(payload)?;
    // An ASCII payload (most real codes) lets character offsets equal byte offsets.
    let ascii = payload.is_ascii();
    let fields =
        split(payload, 0..payload.len(), ascii).map_err(|fault| top_level_error(payload, fault))?;

    let mut objects = Vec::with_capacity(fields.len());
    for field in fields {
        objects.push(build_object(payload, field, ascii)?);
    }

    let crc = check_layout(&objects)?;
    check_crc(payload, crc)?;
    check_fields(&objects)?;
    Ok(Payload::new(payload.to_owned(), objects))
}

/// Decodes a payload handed over as bytes (from a QR reader); they must be UTF-8.
pub fn decode_bytes(payload: &[u8]) -> Result<Payload, EmvError> {
    if payload.len() > PAYLOAD_CHARS_MAX * 4 {
        return Err(EmvError::TooLong {
            chars_max: PAYLOAD_CHARS_MAX,
        });
    }
    let text = std::str::from_utf8(payload).map_err(|_| EmvError::EncodingInvalid)?;
    decode(text)
}

fn check_size(payload: &str) -> Result<(), EmvError> {
    // A UTF-8 character takes at most 4 bytes: above that many bytes no count is needed.
    if payload.len() > PAYLOAD_CHARS_MAX * 4 || payload.chars().nth(PAYLOAD_CHARS_MAX).is_some() {
        return Err(EmvError::TooLong {
            chars_max: PAYLOAD_CHARS_MAX,
        });
    }
    let chars = payload.chars().count();
    if chars < PAYLOAD_CHARS_MIN {
        return Err(EmvError::TooShort {
            chars,
            min: PAYLOAD_CHARS_MIN,
        });
    }
    Ok(())
}

/// One object found by [`split`], as byte offsets into the source.
#[derive(Debug, Clone, Copy)]
struct Field {
    id: u8,
    start: usize,
    value_start: usize,
    end: usize,
}

/// Why a run of text is not a list of TLV objects.
#[derive(Debug)]
enum Fault {
    /// Fewer than 4 bytes left where a header should start.
    ShortHeader { at: usize },
    /// The 4 characters at `at` are not 4 ASCII digits.
    HeaderNotDigits { at: usize },
    /// The value runs past the end of the text.
    ShortValue {
        at: usize,
        id: u8,
        declared: usize,
        available: usize,
    },
    /// An id appears twice.
    Duplicate { id: u8 },
}

/// Splits `source[range]` into TLV objects. `range` must lie on character boundaries.
fn split(source: &str, range: Range<usize>, ascii: bool) -> Result<Vec<Field>, Fault> {
    let bytes = source.as_bytes();
    let mut fields = Vec::new();
    let mut seen: u128 = 0;
    let mut at = range.start;
    while at < range.end {
        let Some(header) = bytes.get(at..at + 4).filter(|_| at + 4 <= range.end) else {
            return Err(Fault::ShortHeader { at });
        };
        let Some([id, len]) = two_digit_pair(header) else {
            return Err(Fault::HeaderNotDigits { at });
        };
        let value_start = at + 4;
        let declared = usize::from(len);
        let Some(end) = advance_chars(source, value_start, range.end, declared, ascii) else {
            let available = source
                .get(value_start..range.end)
                .map_or(0, |rest| rest.chars().count());
            return Err(Fault::ShortValue {
                at,
                id,
                declared,
                available,
            });
        };
        let bit = 1u128 << id;
        if seen & bit != 0 {
            return Err(Fault::Duplicate { id });
        }
        seen |= bit;
        fields.push(Field {
            id,
            start: at,
            value_start,
            end,
        });
        at = end;
    }
    Ok(fields)
}

/// `[id, length]` from 4 ASCII digits.
fn two_digit_pair(header: &[u8]) -> Option<[u8; 2]> {
    let digit = |b: u8| b.is_ascii_digit().then(|| b - b'0');
    match header {
        [a, b, c, d] => Some([digit(*a)? * 10 + digit(*b)?, digit(*c)? * 10 + digit(*d)?]),
        _ => None,
    }
}

/// Byte offset `chars` characters after `start`, if that is not beyond `limit`.
fn advance_chars(
    source: &str,
    start: usize,
    limit: usize,
    chars: usize,
    ascii: bool,
) -> Option<usize> {
    if ascii {
        let end = start.checked_add(chars)?;
        return (end <= limit).then_some(end);
    }
    let rest = source.get(start..limit)?;
    if chars == 0 {
        return Some(start);
    }
    let (offset, last) = rest.char_indices().nth(chars - 1)?;
    Some(start + offset + last.len_utf8())
}

/// Character position of byte offset `at`, for messages people can match against the payload.
fn char_position(source: &str, at: usize) -> usize {
    source.get(..at).map_or(at, |head| head.chars().count())
}

fn top_level_error(source: &str, fault: Fault) -> EmvError {
    match fault {
        Fault::ShortHeader { at } => {
            let tail = source.get(at..).unwrap_or("");
            // A payload cut inside the CRC header ("...63") has lost its CRC; a cut anywhere else,
            // or inside the CRC value ("...6304" + fewer than 4 characters), is broken TLV.
            if !tail.is_empty() && CRC_HEADER.starts_with(tail) {
                EmvError::CrcMissing {
                    detail: "the payload ends inside the CRC header (6304)",
                }
            } else {
                EmvError::TlvMalformed {
                    at_char: char_position(source, at),
                    detail: format!(
                        "{} characters left where a 4-character id and length should start",
                        tail.chars().count()
                    ),
                }
            }
        }
        Fault::HeaderNotDigits { at } => EmvError::TlvMalformed {
            at_char: char_position(source, at),
            detail: "id and length must be 4 digits".to_owned(),
        },
        Fault::ShortValue {
            at,
            id,
            declared,
            available,
        } => EmvError::TlvMalformed {
            at_char: char_position(source, at),
            detail: format!(
                "id {} declares {declared} characters but only {available} follow",
                id_str(id)
            ),
        },
        Fault::Duplicate { id } => EmvError::DuplicateTag {
            id: id_str(id),
            within: None,
        },
    }
}

/// Turns a top-level field into an object, parsing templates one level down.
fn build_object(source: &str, field: Field, ascii: bool) -> Result<DataObject, EmvError> {
    let value_text = source.get(field.value_start..field.end).unwrap_or("");
    let span = field.start..field.end;
    if !is_template_id(field.id) {
        return Ok(DataObject::decoded(
            field.id,
            Value::Primitive(value_text.to_owned()),
            span,
        ));
    }
    let value = match split(source, field.value_start..field.end, ascii) {
        Ok(children) => Value::Template(
            children
                .into_iter()
                .map(|child| {
                    let text = source.get(child.value_start..child.end).unwrap_or("");
                    DataObject::decoded(
                        child.id,
                        Value::Primitive(text.to_owned()),
                        child.start..child.end,
                    )
                })
                .collect(),
        ),
        // Two objects with one id inside a template are ambiguous (which account is meant?), so
        // that is refused like a top-level duplicate; any other non-TLV value is kept raw.
        Err(Fault::Duplicate { id }) => {
            return Err(EmvError::DuplicateTag {
                id: id_str(id),
                within: Some(id_str(field.id)),
            });
        }
        Err(_) => Value::Raw(value_text.to_owned()),
    };
    Ok(DataObject::decoded(field.id, value, span))
}

/// Checks that 00 comes first and the CRC (63, 4 hex digits) last; returns the CRC object.
fn check_layout(objects: &[DataObject]) -> Result<&DataObject, EmvError> {
    match objects.first() {
        Some(first) if first.id_number() == 0 => {}
        _ => {
            return Err(EmvError::StructureInvalid {
                detail: "the payload must begin with the payload format indicator (id 00)",
            });
        }
    }
    let crc = match objects.last() {
        Some(last) if last.id_number() == 63 => last,
        _ if objects.iter().any(|object| object.id_number() == 63) => {
            return Err(EmvError::StructureInvalid {
                detail: "the CRC (id 63) must be the last object",
            });
        }
        _ => {
            return Err(EmvError::CrcMissing {
                detail: "the payload has no CRC object (id 63)",
            });
        }
    };
    let stated = crc.text().unwrap_or("");
    if stated.len() != 4 || !stated.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(EmvError::CrcMalformed {
            stated: stated.chars().take(8).collect(),
        });
    }
    Ok(crc)
}

/// The CRC covers every byte up to and including the CRC header "6304"; hex digits of either case
/// are accepted (LankaQR writes lower case).
fn check_crc(source: &str, crc: &DataObject) -> Result<(), EmvError> {
    let stated = crc.text().unwrap_or("");
    let covered = source
        .as_bytes()
        .get(..crc.span().start + CRC_HEADER.len())
        .unwrap_or(&[]);
    let computed = crc16(covered);
    match u16::from_str_radix(stated, 16) {
        Ok(value) if value == computed => Ok(()),
        _ => Err(EmvError::CrcMismatch {
            stated: stated.to_owned(),
            computed,
        }),
    }
}

/// Mandatory fields and the formats of fields a wallet acts on. Lenient where real codes bend the
/// specification: payload format "02" (DuitNow), no MCC (PromptPay), no merchant name or city
/// (PromptPay, VietQR, Pix) are all accepted.
fn check_fields(objects: &[DataObject]) -> Result<(), EmvError> {
    let get = |id: u8| objects.iter().find(|object| object.id_number() == id);
    if !objects
        .iter()
        .any(|object| (2..=51).contains(&object.id_number()))
    {
        return Err(EmvError::MissingField {
            field: "merchant_account_info",
            id: "02-51",
        });
    }
    let format = get(0).and_then(DataObject::text).unwrap_or("");
    if format.len() != 2 || !format.bytes().all(|b| b.is_ascii_digit()) {
        return Err(EmvError::InvalidField {
            id: "00",
            detail: "the payload format indicator is 2 digits",
        });
    }
    let Some(currency) = get(53).and_then(DataObject::text) else {
        return Err(EmvError::MissingField {
            field: "currency",
            id: "53",
        });
    };
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_digit()) {
        return Err(EmvError::InvalidField {
            id: "53",
            detail: "the currency is an ISO 4217 numeric code (3 digits)",
        });
    }
    if get(58).is_none() {
        return Err(EmvError::MissingField {
            field: "country",
            id: "58",
        });
    }
    let amount = get(54).and_then(DataObject::text);
    if amount.is_some_and(|amount| super::payload::parse_amount(amount).is_none()) {
        return Err(EmvError::InvalidField {
            id: "54",
            detail: "the amount is at most 13 characters of digits with an optional '.'",
        });
    }
    Ok(())
}
