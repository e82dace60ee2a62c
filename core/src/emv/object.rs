//! `DataObject`: one id-length-value object of an EMV payload, primitive or template. It knows its
//! id, its value and (when decoded) where it sits in the source text; it never checks payload-level
//! rules (mandatory fields, CRC), which belong to the decoder and the builder.

use std::ops::Range;

use super::EmvError;

/// Every two-digit id, so `id()` can hand out a `&'static str` without storing one per object.
const ID_TEXT: &str = "00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899";

/// Longest value a two-digit length can state.
pub const VALUE_CHARS_MAX: usize = 99;

/// The text of id `n` (0..=99), e.g. `"07"`.
pub(crate) fn id_str(n: u8) -> &'static str {
    let start = usize::from(n) * 2;
    ID_TEXT.get(start..start + 2).unwrap_or("??")
}

/// Parses a two-digit id such as `"26"`.
pub(crate) fn parse_id(id: &str) -> Option<u8> {
    match id.as_bytes() {
        [tens @ b'0'..=b'9', ones @ b'0'..=b'9'] => Some((tens - b'0') * 10 + (ones - b'0')),
        _ => None,
    }
}

/// Ids whose value is itself a list of objects: merchant account information 26–51, additional
/// data 62, merchant information language template 64 and unreserved templates 80–99.
pub fn is_template_id(id: u8) -> bool {
    matches!(id, 26..=51 | 62 | 64 | 80..=99)
}

/// The value of a data object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// Text, the only kind of value below the top level.
    Primitive(String),
    /// The objects of a template (26–51, 62, 64, 80–99); always primitives themselves.
    Template(Vec<DataObject>),
    /// A template id whose value is not TLV, kept exactly as written (real codes do this, e.g.
    /// TrueMoney's tag 81), rather than rejecting the whole payload.
    Raw(String),
}

/// One EMV data object: a two-digit id and a value of at most 99 characters.
///
/// Equality compares id and value only, not the span, so a built object equals its decoded twin.
#[derive(Debug, Clone)]
pub struct DataObject {
    id: u8,
    value: Value,
    span: Range<usize>,
}

impl PartialEq for DataObject {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id && self.value == other.value
    }
}

impl Eq for DataObject {}

impl DataObject {
    /// A primitive object. The id must be two digits and the value 1–99 characters.
    pub fn primitive(id: &str, value: impl Into<String>) -> Result<DataObject, EmvError> {
        let id = parse_id(id).ok_or_else(|| EmvError::InvalidId {
            id: id.chars().take(8).collect(),
            detail: "ids are two digits, 00 to 99",
        })?;
        let value = value.into();
        check_value_chars(id, value.chars().count())?;
        Ok(DataObject {
            id,
            value: Value::Primitive(value),
            span: 0..0,
        })
    }

    /// A template object (26–51, 62, 64, 80–99) holding primitive objects with distinct ids; its
    /// encoded value must fit in 99 characters.
    pub fn template(id: &str, children: Vec<DataObject>) -> Result<DataObject, EmvError> {
        let num = match parse_id(id) {
            Some(num) if is_template_id(num) => num,
            _ => {
                return Err(EmvError::InvalidId {
                    id: id.chars().take(8).collect(),
                    detail: "templates are ids 26-51, 62, 64 and 80-99",
                });
            }
        };
        if children
            .iter()
            .any(|child| !matches!(child.value, Value::Primitive(_)))
        {
            // A decoder (ours included) reads template children as text, so a nested template
            // would not come back as it went in.
            return Err(EmvError::InvalidField {
                id: id_str(num),
                detail: "template children must be primitive objects",
            });
        }
        check_duplicates(&children, Some(id_str(num)))?;
        let chars: usize = children.iter().map(DataObject::encoded_chars).sum();
        check_value_chars(num, chars)?;
        Ok(DataObject {
            id: num,
            value: Value::Template(children),
            span: 0..0,
        })
    }

    pub(crate) fn decoded(id: u8, value: Value, span: Range<usize>) -> DataObject {
        DataObject { id, value, span }
    }

    /// The two-digit id, e.g. `"59"`.
    pub fn id(&self) -> &'static str {
        id_str(self.id)
    }

    /// The id as a number, 0–99.
    pub fn id_number(&self) -> u8 {
        self.id
    }

    pub fn value(&self) -> &Value {
        &self.value
    }

    /// Byte range of id + length + value in [`super::Payload::source`] (children of a template
    /// included: their spans are in the same source). Empty (`0..0`) for objects built with the
    /// constructors, which have no source.
    pub fn span(&self) -> Range<usize> {
        self.span.clone()
    }

    /// The text of a primitive (or raw) value; `None` for a template.
    pub fn text(&self) -> Option<&str> {
        match &self.value {
            Value::Primitive(text) | Value::Raw(text) => Some(text),
            Value::Template(_) => None,
        }
    }

    /// The objects of a template; empty for a primitive or raw value.
    pub fn children(&self) -> &[DataObject] {
        match &self.value {
            Value::Template(children) => children,
            Value::Primitive(_) | Value::Raw(_) => &[],
        }
    }

    /// A child of a template by its two-digit id.
    pub fn get(&self, id: &str) -> Option<&DataObject> {
        let id = parse_id(id)?;
        self.children().iter().find(|child| child.id == id)
    }

    /// The text of a template's sub-tag 00, the globally unique identifier of merchant account
    /// and unreserved templates (e.g. `"br.gov.bcb.pix"`).
    pub fn guid(&self) -> Option<&str> {
        self.children().iter().find(|child| child.id == 0)?.text()
    }

    /// Characters this object takes when encoded: 4 (id and length) plus its value.
    pub(crate) fn encoded_chars(&self) -> usize {
        4 + self.value_chars()
    }

    fn value_chars(&self) -> usize {
        match &self.value {
            Value::Primitive(text) | Value::Raw(text) => text.chars().count(),
            Value::Template(children) => children.iter().map(DataObject::encoded_chars).sum(),
        }
    }

    /// Appends id, two-digit length and value to `out`.
    pub(crate) fn encode_into(&self, out: &mut String) -> Result<(), EmvError> {
        let chars = self.value_chars();
        if chars > VALUE_CHARS_MAX {
            return Err(EmvError::ValueTooLong {
                id: self.id(),
                chars,
            });
        }
        out.push_str(self.id());
        out.push_str(id_str(chars as u8));
        match &self.value {
            Value::Primitive(text) | Value::Raw(text) => out.push_str(text),
            Value::Template(children) => {
                check_duplicates(children, Some(self.id()))?;
                for child in children {
                    child.encode_into(out)?;
                }
            }
        }
        Ok(())
    }
}

fn check_value_chars(id: u8, chars: usize) -> Result<(), EmvError> {
    match chars {
        0 => Err(EmvError::ValueEmpty { id: id_str(id) }),
        1..=VALUE_CHARS_MAX => Ok(()),
        _ => Err(EmvError::ValueTooLong {
            id: id_str(id),
            chars,
        }),
    }
}

/// `DuplicateTag` for the first id that appears twice in `objects`.
pub(crate) fn check_duplicates(
    objects: &[DataObject],
    within: Option<&'static str>,
) -> Result<(), EmvError> {
    let mut seen: u128 = 0;
    for object in objects {
        let bit = 1u128 << object.id;
        if seen & bit != 0 {
            return Err(EmvError::DuplicateTag {
                id: object.id(),
                within,
            });
        }
        seen |= bit;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_text_covers_every_id() {
        for n in 0..100u8 {
            assert_eq!(id_str(n), format!("{n:02}"));
            assert_eq!(parse_id(id_str(n)), Some(n));
        }
        assert_eq!(parse_id("1"), None);
        assert_eq!(parse_id("1a"), None);
        assert_eq!(parse_id("100"), None);
    }
}
