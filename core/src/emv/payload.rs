//! `Payload`: a decoded EMV payload (its objects in order and its source text) with a typed view of
//! the fields a wallet needs and a JSON form. It never re-checks the payload: only
//! [`super::decode`] makes one, so every `Payload` has passed the decoder's checks.

use rust_decimal::Decimal;
use serde_json::{Map, Value as Json};

use super::object::{DataObject, Value, parse_id};

/// Longest amount (tag 54) the EMV specification allows.
pub const AMOUNT_CHARS_MAX: usize = 13;

/// A decoded, checked EMV merchant-presented payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    source: String,
    objects: Vec<DataObject>,
}

impl std::fmt::Display for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.source)
    }
}

impl Payload {
    pub(crate) fn new(source: String, objects: Vec<DataObject>) -> Payload {
        Payload { source, objects }
    }

    /// The exact text that was decoded; object spans index into it.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Top-level objects in payload order; the last is always the CRC (63).
    pub fn objects(&self) -> &[DataObject] {
        &self.objects
    }

    /// A top-level object by its two-digit id.
    pub fn get(&self, id: &str) -> Option<&DataObject> {
        self.by_number(parse_id(id)?)
    }

    fn by_number(&self, id: u8) -> Option<&DataObject> {
        self.objects.iter().find(|object| object.id_number() == id)
    }

    fn text(&self, id: u8) -> Option<&str> {
        self.by_number(id)?.text()
    }

    /// The source without the CRC object: every object before it, ready to have a CRC appended.
    pub fn without_crc(&self) -> &str {
        let end = self
            .by_number(63)
            .map_or(self.source.len(), |crc| crc.span().start);
        self.source.get(..end).unwrap_or(&self.source)
    }

    /// Payload format indicator (00), `"01"` in the specification (some schemes write `"02"`).
    pub fn payload_format(&self) -> &str {
        self.text(0).unwrap_or_default()
    }

    /// Point of initiation method (01): `"11"` static (reusable), `"12"` dynamic (one payment).
    pub fn poi_method(&self) -> Option<&str> {
        self.text(1)
    }

    /// Merchant category code (52), ISO 18245.
    pub fn mcc(&self) -> Option<&str> {
        self.text(52)
    }

    /// Transaction currency (53) as its ISO 4217 numeric code, e.g. `"986"`; always present.
    pub fn currency(&self) -> &str {
        self.text(53).unwrap_or_default()
    }

    /// Transaction amount (54) as written, e.g. `"100.50"`.
    pub fn amount_text(&self) -> Option<&str> {
        self.text(54)
    }

    /// Transaction amount (54) as an exact decimal (the decoder has checked its format).
    pub fn amount(&self) -> Option<Decimal> {
        parse_amount(self.amount_text()?)
    }

    /// Country code (58), ISO 3166-1 alpha-2; always present.
    pub fn country(&self) -> &str {
        self.text(58).unwrap_or_default()
    }

    /// Merchant name (59).
    pub fn merchant_name(&self) -> Option<&str> {
        self.text(59)
    }

    /// Merchant city (60).
    pub fn merchant_city(&self) -> Option<&str> {
        self.text(60)
    }

    /// Postal code (61).
    pub fn postal_code(&self) -> Option<&str> {
        self.text(61)
    }

    /// The CRC (63) as written (either case).
    pub fn crc(&self) -> &str {
        self.text(63).unwrap_or_default()
    }

    /// Merchant account information objects (02–51): primitives 02–25 reserved for card networks,
    /// templates 26–51 identified by their GUID (sub-tag 00).
    pub fn merchant_accounts(&self) -> impl Iterator<Item = &DataObject> {
        self.objects
            .iter()
            .filter(|object| (2..=51).contains(&object.id_number()))
    }

    /// The merchant account template (26–51) whose GUID (sub-tag 00) is `guid`, compared ignoring
    /// ASCII case because schemes write reverse domain names in either case.
    pub fn merchant_account(&self, guid: &str) -> Option<&DataObject> {
        find_by_guid(self.merchant_accounts(), guid)
    }

    /// Additional data field template (62): bill number, reference label, terminal label and so on.
    pub fn additional_data(&self) -> Option<&DataObject> {
        self.by_number(62)
    }

    /// Merchant information language template (64): language (00), name (01) and city (02) in a
    /// local language.
    pub fn language_template(&self) -> Option<&DataObject> {
        self.by_number(64)
    }

    /// Unreserved templates (80–99), for schemes' own data such as signatures.
    pub fn unreserved_templates(&self) -> impl Iterator<Item = &DataObject> {
        self.objects
            .iter()
            .filter(|object| (80..=99).contains(&object.id_number()))
    }

    /// The unreserved template (80–99) whose GUID (sub-tag 00) is `guid`, ignoring ASCII case.
    pub fn unreserved_template(&self, guid: &str) -> Option<&DataObject> {
        find_by_guid(self.unreserved_templates(), guid)
    }

    /// The JSON form used by `purse qr decode` and the test vectors: field names for the
    /// well-known primitives, objects of two-digit ids for templates, `{"_raw": value}` for a
    /// template whose value is not TLV, absent fields omitted. Other ids (tips, 65–79) are reached
    /// through [`Payload::get`], not this form.
    pub fn to_json(&self) -> Json {
        const NAMED: [(&str, u8); 9] = [
            ("payload_format", 0),
            ("poi_method", 1),
            ("mcc", 52),
            ("currency", 53),
            ("amount", 54),
            ("country", 58),
            ("merchant_name", 59),
            ("merchant_city", 60),
            ("postal_code", 61),
        ];
        let mut map = Map::new();
        for (name, id) in NAMED {
            if let Some(object) = self.by_number(id) {
                map.insert(name.to_owned(), value_json(object));
            }
        }
        let group = |objects: &mut dyn Iterator<Item = &DataObject>| -> Option<Json> {
            let map: Map<String, Json> = objects
                .map(|object| (object.id().to_owned(), value_json(object)))
                .collect();
            (!map.is_empty()).then_some(Json::Object(map))
        };
        if let Some(accounts) = group(&mut self.merchant_accounts()) {
            map.insert("merchant_account_info".to_owned(), accounts);
        }
        if let Some(object) = self.additional_data() {
            map.insert("additional_data".to_owned(), value_json(object));
        }
        if let Some(object) = self.language_template() {
            map.insert("language_template".to_owned(), value_json(object));
        }
        if let Some(templates) = group(&mut self.unreserved_templates()) {
            map.insert("unreserved_templates".to_owned(), templates);
        }
        map.insert("crc".to_owned(), Json::String(self.crc().to_owned()));
        Json::Object(map)
    }
}

fn find_by_guid<'a>(
    mut objects: impl Iterator<Item = &'a DataObject>,
    guid: &str,
) -> Option<&'a DataObject> {
    objects.find(|object| {
        object
            .guid()
            .is_some_and(|found| found.eq_ignore_ascii_case(guid))
    })
}

fn value_json(object: &DataObject) -> Json {
    match object.value() {
        Value::Primitive(text) => Json::String(text.clone()),
        Value::Template(children) => Json::Object(
            children
                .iter()
                .map(|child| {
                    (
                        child.id().to_owned(),
                        Json::String(child.text().unwrap_or_default().to_owned()),
                    )
                })
                .collect(),
        ),
        Value::Raw(text) => {
            let mut map = Map::new();
            map.insert("_raw".to_owned(), Json::String(text.clone()));
            Json::Object(map)
        }
    }
}

/// An EMV amount: 1–13 characters of ASCII digits with at most one '.', at least one digit ("0",
/// "100", "23.72", ".5"). Built from its digits, never through a float.
pub(crate) fn parse_amount(text: &str) -> Option<Decimal> {
    if text.is_empty() || text.len() > AMOUNT_CHARS_MAX {
        return None;
    }
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = || whole.bytes().chain(fraction.bytes());
    if digits().next().is_none() || !digits().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // At most 13 digits: the mantissa fits an i64 with room to spare.
    let mantissa = digits().fold(0i64, |acc, b| acc * 10 + i64::from(b - b'0'));
    Decimal::try_new(mantissa, u32::try_from(fraction.len()).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::parse_amount;
    use rust_decimal::Decimal;

    #[test]
    fn amounts_are_exact_decimals() {
        assert_eq!(parse_amount("100.50"), Some(Decimal::new(10050, 2)));
        assert_eq!(parse_amount("0"), Some(Decimal::ZERO));
        assert_eq!(parse_amount(".5"), Some(Decimal::new(5, 1)));
        assert_eq!(
            parse_amount("9999999999999"),
            Some(Decimal::new(9_999_999_999_999, 0))
        );
        for bad in [
            "",
            ".",
            "1.2.3",
            "-1",
            "+1",
            "1e5",
            "12,50",
            "１",
            "99999999999999",
            " 1",
        ] {
            assert_eq!(parse_amount(bad), None, "{bad:?}");
        }
    }
}
