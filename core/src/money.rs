//! Money: the ISO 4217 currency table and `Amount`, a positive amount of one currency held as
//! `i64` minor units. It never rounds, never uses floats, and never does currency conversion.
//!
//! Text is the wire format (`"12.50"`, always beside a currency code); minor units are the storage
//! format; `rust_decimal::Decimal` is the in-code arithmetic format. Every conversion between them
//! is exact or fails with a typed [`MoneyError`].
//!
//! ```
//! use purse_core::money::{Amount, Currency};
//!
//! let usd = Currency::from_code("USD").unwrap();
//! let amount = Amount::parse("12.50", usd).unwrap();
//! assert_eq!(amount.minor(), 1250);
//! assert_eq!(amount.to_string(), "12.50");
//!
//! let jpy = Currency::from_code("JPY").unwrap();
//! assert_eq!(Amount::parse("1.5", jpy).unwrap_err().code(), "amount_too_precise");
//! ```

use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One ISO 4217 currency from list one (current currencies and funds).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Currency {
    /// Three upper-case ASCII letters, e.g. `"USD"`.
    pub code: &'static str,
    /// The ISO 4217 numeric code, e.g. `840` (EMV tag 53 carries it as three digits).
    pub numeric: u16,
    /// Minor-unit exponent: digits after the decimal point (USD 2, JPY 0, KWD 3, CLF 4).
    pub exponent: u8,
    /// The ISO 4217 English name.
    pub name: &'static str,
}

/// The largest amount, in minor units, that an [`Amount`] may hold: 10^15 (ten trillion dollars).
/// Anything above is a typo or an attack, and the bound keeps every sum of a few million amounts
/// far away from `i64` overflow.
pub const AMOUNT_MINOR_MAX: i64 = 1_000_000_000_000_000;

/// The longest amount text [`Amount::parse`] reads, in bytes. `"1000000000000000"` (16 digits)
/// plus a point and four decimals fits easily; longer input is malformed, whatever it holds.
pub const AMOUNT_TEXT_MAX: usize = 32;

/// Why a currency or an amount was refused. `code()` is stable and machine readable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("unknown currency: expected an active ISO 4217 code such as \"USD\" or numeric 840")]
    CurrencyUnknown,
    #[error(
        "malformed amount: expected ASCII digits with an optional decimal point, such as \"12.50\" (at most {AMOUNT_TEXT_MAX} characters)"
    )]
    AmountMalformed,
    #[error("{currency} amounts have at most {exponent} decimal places; refusing to round")]
    AmountTooPrecise {
        currency: &'static str,
        exponent: u8,
    },
    #[error("amount must be greater than zero")]
    AmountNotPositive,
    #[error("amount is larger than the maximum of {AMOUNT_MINOR_MAX} minor units")]
    AmountTooLarge,
}

impl MoneyError {
    /// The stable machine code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            MoneyError::CurrencyUnknown => "currency_unknown",
            MoneyError::AmountMalformed => "amount_malformed",
            MoneyError::AmountTooPrecise { .. } => "amount_too_precise",
            MoneyError::AmountNotPositive => "amount_not_positive",
            MoneyError::AmountTooLarge => "amount_too_large",
        }
    }
}

impl Currency {
    /// Looks up an upper-case alphabetic code (`"USD"`). Lower case is refused, not guessed: the
    /// wire format and EMV both use upper case, so anything else is a bug upstream.
    pub fn from_code(code: &str) -> Result<&'static Currency, MoneyError> {
        CURRENCIES
            .binary_search_by(|c| c.code.cmp(code))
            .map(|i| &CURRENCIES[i])
            .map_err(|_| MoneyError::CurrencyUnknown)
    }

    /// Looks up a numeric code (`840`). A linear scan of ~160 entries: cheaper than keeping a
    /// second table in sync by hand.
    pub fn from_numeric(numeric: u16) -> Result<&'static Currency, MoneyError> {
        CURRENCIES
            .iter()
            .find(|c| c.numeric == numeric)
            .ok_or(MoneyError::CurrencyUnknown)
    }

    /// Every currency, sorted by alphabetic code.
    pub fn all() -> &'static [Currency] {
        CURRENCIES
    }

    fn too_precise(&self) -> MoneyError {
        MoneyError::AmountTooPrecise {
            currency: self.code,
            exponent: self.exponent,
        }
    }

    /// 10^exponent: minor units per major unit.
    fn scale_minor(&self) -> i64 {
        10_i64.pow(u32::from(self.exponent))
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code)
    }
}

/// A currency is serialized as its alphabetic code.
impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code)
    }
}

impl<'de> Deserialize<'de> for &'static Currency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Currency::from_code(&code).map_err(serde::de::Error::custom)
    }
}

/// A positive amount of one currency: `1..=AMOUNT_MINOR_MAX` minor units.
///
/// Invariant: `minor` is always in range; every constructor checks it.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub struct Amount {
    minor: i64,
    currency: &'static Currency,
}

impl Amount {
    /// Parses decimal text such as `"12.50"` (USD), `"1000"` (JPY) or `"1.250"` (KWD).
    ///
    /// Grammar: `digits [ "." digits ]`, ASCII digits only, at most [`AMOUNT_TEXT_MAX`] bytes.
    /// Fewer decimals than the currency's exponent are fine (`"12.5"` is 1250 cents); more are
    /// refused even when they are zeros (`"12.500"` USD), because extra digits on the wire mean
    /// the sender has the wrong currency in mind. A leading `-` on otherwise valid text gives
    /// `amount_not_positive`; signs, exponents, spaces, separators and empty parts are malformed.
    pub fn parse(text: &str, currency: &'static Currency) -> Result<Amount, MoneyError> {
        if text.len() > AMOUNT_TEXT_MAX {
            return Err(MoneyError::AmountMalformed);
        }
        let (negative, body) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (int_part, frac_part) = match body.split_once('.') {
            Some((int, frac)) => (int, Some(frac)),
            None => (body, None),
        };
        let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(int_part) || frac_part.is_some_and(|f| !all_digits(f)) {
            return Err(MoneyError::AmountMalformed);
        }
        let frac_part = frac_part.unwrap_or("");
        if frac_part.len() > usize::from(currency.exponent) {
            return Err(currency.too_precise());
        }
        // At most 32 digits: u128 holds 10^38, so this cannot overflow, but stay checked anyway.
        let mut minor: u128 = 0;
        let padding = usize::from(currency.exponent) - frac_part.len();
        let digits = int_part
            .bytes()
            .chain(frac_part.bytes())
            .chain(std::iter::repeat_n(b'0', padding));
        for digit in digits {
            minor = minor
                .checked_mul(10)
                .and_then(|m| m.checked_add(u128::from(digit - b'0')))
                .ok_or(MoneyError::AmountTooLarge)?;
        }
        if negative || minor == 0 {
            return Err(MoneyError::AmountNotPositive);
        }
        let minor = i64::try_from(minor).map_err(|_| MoneyError::AmountTooLarge)?;
        Amount::from_minor(minor, currency)
    }

    /// Converts a decimal value. Trailing zeros beyond the exponent are accepted here (`1.000`
    /// USD is exactly 100 cents): a `Decimal`'s scale is an artefact of the arithmetic that made
    /// it, unlike digits someone wrote. Any non-zero digit beyond the exponent is refused.
    pub fn from_decimal(value: Decimal, currency: &'static Currency) -> Result<Amount, MoneyError> {
        let minor = value
            .checked_mul(Decimal::from(currency.scale_minor()))
            .ok_or(MoneyError::AmountTooLarge)?;
        if !minor.fract().is_zero() {
            return Err(currency.too_precise());
        }
        if minor <= Decimal::ZERO {
            return Err(MoneyError::AmountNotPositive);
        }
        let minor = i64::try_from(minor).map_err(|_| MoneyError::AmountTooLarge)?;
        Amount::from_minor(minor, currency)
    }

    /// Wraps a count of minor units (cents for USD, yen for JPY).
    pub fn from_minor(minor: i64, currency: &'static Currency) -> Result<Amount, MoneyError> {
        if minor <= 0 {
            return Err(MoneyError::AmountNotPositive);
        }
        if minor > AMOUNT_MINOR_MAX {
            return Err(MoneyError::AmountTooLarge);
        }
        Ok(Amount { minor, currency })
    }

    /// The amount in minor units, always in `1..=AMOUNT_MINOR_MAX`.
    pub fn minor(&self) -> i64 {
        self.minor
    }

    pub fn currency(&self) -> &'static Currency {
        self.currency
    }

    /// The exact value with scale equal to the currency's exponent (`12.50`, not `12.5`).
    pub fn to_decimal(&self) -> Decimal {
        Decimal::new(self.minor, u32::from(self.currency.exponent))
    }
}

/// Exactly `exponent` decimals and no currency: `"12.50"`, `"1000"` (JPY), `"1.250"` (KWD).
impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_minor(self.minor, self.currency))
    }
}

/// Formats any count of minor units, including zero and negative balances (system accounts carry
/// the other side of every wallet), with exactly `exponent` decimals: `-1250` USD is `"-12.50"`.
pub fn format_minor(minor: i64, currency: &Currency) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    // unsigned_abs: i64::MIN has no positive i64 counterpart.
    let magnitude = minor.unsigned_abs();
    let exponent = usize::from(currency.exponent);
    if exponent == 0 {
        return format!("{sign}{magnitude}");
    }
    let scale = 10_u64.pow(u32::from(currency.exponent));
    let (major, fraction) = (magnitude / scale, magnitude % scale);
    format!("{sign}{major}.{fraction:0exponent$}")
}

/// On the wire an amount is two strings side by side, `{"amount": "12.50", "currency": "USD"}`;
/// never a JSON number, so no client ever routes money through a float. Use
/// `#[serde(flatten)]` to embed the two fields in a larger body.
impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("Amount", 2)?;
        s.serialize_field("amount", &self.to_string())?;
        s.serialize_field("currency", self.currency.code)?;
        s.end()
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Wire<'a> {
            #[serde(borrow)]
            amount: std::borrow::Cow<'a, str>,
            currency: &'static Currency,
        }
        let wire = Wire::deserialize(deserializer)?;
        Amount::parse(&wire.amount, wire.currency).map_err(serde::de::Error::custom)
    }
}

macro_rules! currencies {
    ($(($code:literal, $numeric:literal, $exponent:literal, $name:literal),)*) => {
        &[$(Currency { code: $code, numeric: $numeric, exponent: $exponent, name: $name },)*]
    };
}

/// ISO 4217 list one, sorted by code (lookups binary-search it; a test checks the order).
///
/// Included: every current currency and fund code that has a minor unit, through amendment 179
/// (XCG replaced ANG on 2025-03-31; ZWG replaced ZWL; SLE replaced SLL; XAD added 2025; BGN stays
/// until ISO withdraws it after the 2026 euro changeover).
///
/// Excluded on purpose: codes whose minor unit ISO lists as "N.A.": precious metals (XAU, XAG,
/// XPT, XPD), bond-market units (XBA–XBD), XDR, XSU, XUA, the testing code XTS and XXX. They have
/// no exponent, so no amount of them can be stored in minor units, and no wallet holds them.
/// Withdrawn codes (CUC, HRK, ANG, ZWL, SLL, …) are excluded too: new money must not be created
/// in them.
static CURRENCIES: &[Currency] = currencies![
    ("AED", 784, 2, "UAE Dirham"),
    ("AFN", 971, 2, "Afghani"),
    ("ALL", 8, 2, "Lek"),
    ("AMD", 51, 2, "Armenian Dram"),
    ("AOA", 973, 2, "Kwanza"),
    ("ARS", 32, 2, "Argentine Peso"),
    ("AUD", 36, 2, "Australian Dollar"),
    ("AWG", 533, 2, "Aruban Florin"),
    ("AZN", 944, 2, "Azerbaijan Manat"),
    ("BAM", 977, 2, "Convertible Mark"),
    ("BBD", 52, 2, "Barbados Dollar"),
    ("BDT", 50, 2, "Taka"),
    ("BGN", 975, 2, "Bulgarian Lev"),
    ("BHD", 48, 3, "Bahraini Dinar"),
    ("BIF", 108, 0, "Burundi Franc"),
    ("BMD", 60, 2, "Bermudian Dollar"),
    ("BND", 96, 2, "Brunei Dollar"),
    ("BOB", 68, 2, "Boliviano"),
    ("BOV", 984, 2, "Mvdol"),
    ("BRL", 986, 2, "Brazilian Real"),
    ("BSD", 44, 2, "Bahamian Dollar"),
    ("BTN", 64, 2, "Ngultrum"),
    ("BWP", 72, 2, "Pula"),
    ("BYN", 933, 2, "Belarusian Ruble"),
    ("BZD", 84, 2, "Belize Dollar"),
    ("CAD", 124, 2, "Canadian Dollar"),
    ("CDF", 976, 2, "Congolese Franc"),
    ("CHE", 947, 2, "WIR Euro"),
    ("CHF", 756, 2, "Swiss Franc"),
    ("CHW", 948, 2, "WIR Franc"),
    ("CLF", 990, 4, "Unidad de Fomento"),
    ("CLP", 152, 0, "Chilean Peso"),
    ("CNY", 156, 2, "Yuan Renminbi"),
    ("COP", 170, 2, "Colombian Peso"),
    ("COU", 970, 2, "Unidad de Valor Real"),
    ("CRC", 188, 2, "Costa Rican Colon"),
    ("CUP", 192, 2, "Cuban Peso"),
    ("CVE", 132, 2, "Cabo Verde Escudo"),
    ("CZK", 203, 2, "Czech Koruna"),
    ("DJF", 262, 0, "Djibouti Franc"),
    ("DKK", 208, 2, "Danish Krone"),
    ("DOP", 214, 2, "Dominican Peso"),
    ("DZD", 12, 2, "Algerian Dinar"),
    ("EGP", 818, 2, "Egyptian Pound"),
    ("ERN", 232, 2, "Nakfa"),
    ("ETB", 230, 2, "Ethiopian Birr"),
    ("EUR", 978, 2, "Euro"),
    ("FJD", 242, 2, "Fiji Dollar"),
    ("FKP", 238, 2, "Falkland Islands Pound"),
    ("GBP", 826, 2, "Pound Sterling"),
    ("GEL", 981, 2, "Lari"),
    ("GHS", 936, 2, "Ghana Cedi"),
    ("GIP", 292, 2, "Gibraltar Pound"),
    ("GMD", 270, 2, "Dalasi"),
    ("GNF", 324, 0, "Guinean Franc"),
    ("GTQ", 320, 2, "Quetzal"),
    ("GYD", 328, 2, "Guyana Dollar"),
    ("HKD", 344, 2, "Hong Kong Dollar"),
    ("HNL", 340, 2, "Lempira"),
    ("HTG", 332, 2, "Gourde"),
    ("HUF", 348, 2, "Forint"),
    ("IDR", 360, 2, "Rupiah"),
    ("ILS", 376, 2, "New Israeli Sheqel"),
    ("INR", 356, 2, "Indian Rupee"),
    ("IQD", 368, 3, "Iraqi Dinar"),
    ("IRR", 364, 2, "Iranian Rial"),
    ("ISK", 352, 0, "Iceland Krona"),
    ("JMD", 388, 2, "Jamaican Dollar"),
    ("JOD", 400, 3, "Jordanian Dinar"),
    ("JPY", 392, 0, "Yen"),
    ("KES", 404, 2, "Kenyan Shilling"),
    ("KGS", 417, 2, "Som"),
    ("KHR", 116, 2, "Riel"),
    ("KMF", 174, 0, "Comorian Franc"),
    ("KPW", 408, 2, "North Korean Won"),
    ("KRW", 410, 0, "Won"),
    ("KWD", 414, 3, "Kuwaiti Dinar"),
    ("KYD", 136, 2, "Cayman Islands Dollar"),
    ("KZT", 398, 2, "Tenge"),
    ("LAK", 418, 2, "Lao Kip"),
    ("LBP", 422, 2, "Lebanese Pound"),
    ("LKR", 144, 2, "Sri Lanka Rupee"),
    ("LRD", 430, 2, "Liberian Dollar"),
    ("LSL", 426, 2, "Loti"),
    ("LYD", 434, 3, "Libyan Dinar"),
    ("MAD", 504, 2, "Moroccan Dirham"),
    ("MDL", 498, 2, "Moldovan Leu"),
    ("MGA", 969, 2, "Malagasy Ariary"),
    ("MKD", 807, 2, "Denar"),
    ("MMK", 104, 2, "Kyat"),
    ("MNT", 496, 2, "Tugrik"),
    ("MOP", 446, 2, "Pataca"),
    ("MRU", 929, 2, "Ouguiya"),
    ("MUR", 480, 2, "Mauritius Rupee"),
    ("MVR", 462, 2, "Rufiyaa"),
    ("MWK", 454, 2, "Malawi Kwacha"),
    ("MXN", 484, 2, "Mexican Peso"),
    ("MXV", 979, 2, "Mexican Unidad de Inversion (UDI)"),
    ("MYR", 458, 2, "Malaysian Ringgit"),
    ("MZN", 943, 2, "Mozambique Metical"),
    ("NAD", 516, 2, "Namibia Dollar"),
    ("NGN", 566, 2, "Naira"),
    ("NIO", 558, 2, "Cordoba Oro"),
    ("NOK", 578, 2, "Norwegian Krone"),
    ("NPR", 524, 2, "Nepalese Rupee"),
    ("NZD", 554, 2, "New Zealand Dollar"),
    ("OMR", 512, 3, "Rial Omani"),
    ("PAB", 590, 2, "Balboa"),
    ("PEN", 604, 2, "Sol"),
    ("PGK", 598, 2, "Kina"),
    ("PHP", 608, 2, "Philippine Peso"),
    ("PKR", 586, 2, "Pakistan Rupee"),
    ("PLN", 985, 2, "Zloty"),
    ("PYG", 600, 0, "Guarani"),
    ("QAR", 634, 2, "Qatari Rial"),
    ("RON", 946, 2, "Romanian Leu"),
    ("RSD", 941, 2, "Serbian Dinar"),
    ("RUB", 643, 2, "Russian Ruble"),
    ("RWF", 646, 0, "Rwanda Franc"),
    ("SAR", 682, 2, "Saudi Riyal"),
    ("SBD", 90, 2, "Solomon Islands Dollar"),
    ("SCR", 690, 2, "Seychelles Rupee"),
    ("SDG", 938, 2, "Sudanese Pound"),
    ("SEK", 752, 2, "Swedish Krona"),
    ("SGD", 702, 2, "Singapore Dollar"),
    ("SHP", 654, 2, "Saint Helena Pound"),
    ("SLE", 925, 2, "Leone"),
    ("SOS", 706, 2, "Somali Shilling"),
    ("SRD", 968, 2, "Surinam Dollar"),
    ("SSP", 728, 2, "South Sudanese Pound"),
    ("STN", 930, 2, "Dobra"),
    ("SVC", 222, 2, "El Salvador Colon"),
    ("SYP", 760, 2, "Syrian Pound"),
    ("SZL", 748, 2, "Lilangeni"),
    ("THB", 764, 2, "Baht"),
    ("TJS", 972, 2, "Somoni"),
    ("TMT", 934, 2, "Turkmenistan New Manat"),
    ("TND", 788, 3, "Tunisian Dinar"),
    ("TOP", 776, 2, "Pa'anga"),
    ("TRY", 949, 2, "Turkish Lira"),
    ("TTD", 780, 2, "Trinidad and Tobago Dollar"),
    ("TWD", 901, 2, "New Taiwan Dollar"),
    ("TZS", 834, 2, "Tanzanian Shilling"),
    ("UAH", 980, 2, "Hryvnia"),
    ("UGX", 800, 0, "Uganda Shilling"),
    ("USD", 840, 2, "US Dollar"),
    ("USN", 997, 2, "US Dollar (Next day)"),
    ("UYI", 940, 0, "Uruguay Peso en Unidades Indexadas (UI)"),
    ("UYU", 858, 2, "Peso Uruguayo"),
    ("UYW", 927, 4, "Unidad Previsional"),
    ("UZS", 860, 2, "Uzbekistan Sum"),
    ("VED", 926, 2, "Bolivar Soberano"),
    ("VES", 928, 2, "Bolivar Soberano"),
    ("VND", 704, 0, "Dong"),
    ("VUV", 548, 0, "Vatu"),
    ("WST", 882, 2, "Tala"),
    ("XAD", 396, 2, "Arab Accounting Dinar"),
    ("XAF", 950, 0, "CFA Franc BEAC"),
    ("XCD", 951, 2, "East Caribbean Dollar"),
    ("XCG", 532, 2, "Caribbean Guilder"),
    ("XOF", 952, 0, "CFA Franc BCEAO"),
    ("XPF", 953, 0, "CFP Franc"),
    ("YER", 886, 2, "Yemeni Rial"),
    ("ZAR", 710, 2, "Rand"),
    ("ZMW", 967, 2, "Zambian Kwacha"),
    ("ZWG", 924, 2, "Zimbabwe Gold"),
];
