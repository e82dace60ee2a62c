//! The EMV encoder: objects to TLV text, the CRC appended, and [`PayloadBuilder`] for merchant
//! payloads. It never truncates: a value that does not fit a two-digit length is an error.

use std::fmt::Write as _;

use super::object::{DataObject, check_duplicates};
use super::{EmvError, Payload, crc16, decode};

/// Encodes objects to TLV text WITHOUT a CRC (see [`append_crc`]). Ids must be distinct at each
/// level and the CRC id 63 is refused, since [`append_crc`] adds it.
pub fn encode_objects(objects: &[DataObject]) -> Result<String, EmvError> {
    check_duplicates(objects, None)?;
    if objects.iter().any(|object| object.id_number() == 63) {
        return Err(EmvError::InvalidId {
            id: "63".to_owned(),
            detail: "63 is the CRC, which append_crc adds",
        });
    }
    let mut out = String::with_capacity(objects.iter().map(DataObject::encoded_chars).sum());
    for object in objects {
        object.encode_into(&mut out)?;
    }
    Ok(out)
}

/// Appends the CRC object: `"6304"` and the CRC-16/CCITT-FALSE of everything up to and including
/// it, as 4 upper-case hex digits.
pub fn append_crc(mut without_crc: String) -> String {
    without_crc.push_str("6304");
    let crc = crc16(without_crc.as_bytes());
    // Writing to a String cannot fail.
    let _ = write!(without_crc, "{crc:04X}");
    without_crc
}

/// Point of initiation method (tag 01).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoiMethod {
    /// `"11"`: the same code for every payment (printed at the till).
    Static,
    /// `"12"`: a code for one payment, usually with an amount.
    Dynamic,
}

impl PoiMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            PoiMethod::Static => "11",
            PoiMethod::Dynamic => "12",
        }
    }
}

/// Builds a merchant payload. Setters never fail; the first invalid input is kept and returned by
/// [`PayloadBuilder::build`]. Setting an id twice replaces the earlier value. Objects are written in
/// ascending id order (00 first), and the result is decoded before it is returned, so whatever the
/// builder produces passes [`decode`].
///
/// ```
/// use purse_core::emv::{PayloadBuilder, PoiMethod};
/// let payload = PayloadBuilder::new()
///     .poi_method(PoiMethod::Dynamic)
///     .merchant_account("26", "br.gov.bcb.pix", &[("01", "123e4567-e12b-12d1-a456-426655440000")])
///     .mcc("0000")
///     .currency("986")
///     .amount("100.50")
///     .country("BR")
///     .merchant_name("Fulano de Tal")
///     .merchant_city("BRASILIA")
///     .build()
///     .unwrap();
/// assert_eq!(payload.merchant_name(), Some("Fulano de Tal"));
/// ```
#[derive(Debug, Clone)]
pub struct PayloadBuilder {
    objects: Vec<DataObject>,
    error: Option<EmvError>,
}

impl Default for PayloadBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl PayloadBuilder {
    /// A builder with payload format indicator `"01"`.
    pub fn new() -> PayloadBuilder {
        PayloadBuilder {
            objects: Vec::new(),
            error: None,
        }
        .primitive("00", "01")
    }

    /// Sets any object; replaces an object with the same id.
    pub fn object(mut self, object: DataObject) -> PayloadBuilder {
        match self
            .objects
            .iter_mut()
            .find(|old| old.id_number() == object.id_number())
        {
            Some(old) => *old = object,
            None => self.objects.push(object),
        }
        self
    }

    /// Sets a primitive object by id.
    pub fn primitive(self, id: &str, value: &str) -> PayloadBuilder {
        let object = DataObject::primitive(id, value);
        self.with(object)
    }

    /// Sets a template object from its sub-tags.
    pub fn template(self, id: &str, fields: &[(&str, &str)]) -> PayloadBuilder {
        let object = fields
            .iter()
            .map(|(sub, value)| DataObject::primitive(sub, *value))
            .collect::<Result<Vec<_>, _>>()
            .and_then(|children| DataObject::template(id, children));
        self.with(object)
    }

    fn with(mut self, object: Result<DataObject, EmvError>) -> PayloadBuilder {
        match object {
            Ok(object) => self.object(object),
            Err(err) => {
                self.error.get_or_insert(err);
                self
            }
        }
    }

    pub fn poi_method(self, method: PoiMethod) -> PayloadBuilder {
        self.primitive("01", method.as_str())
    }

    /// A merchant account template (`id` 26–51) with GUID `guid` (sub-tag 00) and further sub-tags.
    pub fn merchant_account(self, id: &str, guid: &str, fields: &[(&str, &str)]) -> PayloadBuilder {
        let mut all = vec![("00", guid)];
        all.extend_from_slice(fields);
        self.template(id, &all)
    }

    /// Merchant category code (52), 4 digits.
    pub fn mcc(self, mcc: &str) -> PayloadBuilder {
        self.primitive("52", mcc)
    }

    /// Currency (53) as an ISO 4217 numeric code, e.g. `"840"`.
    pub fn currency(self, numeric: &str) -> PayloadBuilder {
        self.primitive("53", numeric)
    }

    /// Amount (54) as a decimal string, e.g. `"12.50"` (money's `Amount` displays this way).
    pub fn amount(self, amount: &str) -> PayloadBuilder {
        self.primitive("54", amount)
    }

    /// Country (58), ISO 3166-1 alpha-2.
    pub fn country(self, country: &str) -> PayloadBuilder {
        self.primitive("58", country)
    }

    pub fn merchant_name(self, name: &str) -> PayloadBuilder {
        self.primitive("59", name)
    }

    pub fn merchant_city(self, city: &str) -> PayloadBuilder {
        self.primitive("60", city)
    }

    pub fn postal_code(self, postal_code: &str) -> PayloadBuilder {
        self.primitive("61", postal_code)
    }

    /// Additional data template (62), e.g. `&[("05", "ref-123")]` for a reference label.
    pub fn additional_data(self, fields: &[(&str, &str)]) -> PayloadBuilder {
        self.template("62", fields)
    }

    /// Merchant information language template (64): language, local name, optional local city.
    pub fn language_template(
        self,
        language: &str,
        name: &str,
        city: Option<&str>,
    ) -> PayloadBuilder {
        let mut fields = vec![("00", language), ("01", name)];
        fields.extend(city.map(|city| ("02", city)));
        self.template("64", &fields)
    }

    /// An unreserved template (`id` 80–99) with GUID `guid` (sub-tag 00) and further sub-tags.
    pub fn unreserved_template(
        self,
        id: &str,
        guid: &str,
        fields: &[(&str, &str)],
    ) -> PayloadBuilder {
        if !matches!(super::object::parse_id(id), Some(80..=99)) {
            return self.with(Err(EmvError::InvalidId {
                id: id.chars().take(8).collect(),
                detail: "unreserved templates are ids 80-99",
            }));
        }
        let mut all = vec![("00", guid)];
        all.extend_from_slice(fields);
        self.template(id, &all)
    }

    /// The objects in the order they are written (ascending id), without the CRC.
    pub fn objects(&self) -> Result<Vec<DataObject>, EmvError> {
        if let Some(err) = &self.error {
            return Err(err.clone());
        }
        let mut objects = self.objects.clone();
        objects.sort_by_key(DataObject::id_number);
        Ok(objects)
    }

    /// The payload text without the CRC, e.g. to sign it before appending a signature template.
    pub fn encode_without_crc(&self) -> Result<String, EmvError> {
        encode_objects(&self.objects()?)
    }

    /// The finished payload, CRC included, decoded back (so it is checked like any scanned code).
    pub fn build(&self) -> Result<Payload, EmvError> {
        decode(&append_crc(self.encode_without_crc()?))
    }
}
