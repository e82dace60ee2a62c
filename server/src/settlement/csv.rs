//! The settlement report file (docs/formats.md, "Settlement report"): a header line, then one
//! line per capture, refund or chargeback, every line carrying its report id and date:
//!
//! ```text
//! report_id,report_date,type,provider_reference,currency,gross,fee,net
//! sbxrpt_20261122,2026-11-22,capture,pi_0k3m...,USD,20.00,0.88,19.12
//! sbxrpt_20261122,2026-11-22,chargeback,pi_9x2c...,USD,-20.00,15.00,-35.00
//! ```
//!
//! Amounts are decimal strings with exactly the currency's decimals; gross is negative for money
//! going back (refunds, chargebacks); `net = gross - fee`. Fields never contain commas or quotes
//! (ids and codes only), so a line splits on `,`. This module parses and prints one line; it
//! never reads a whole file (the importer streams).

use std::fmt;

use purse_core::money::{self, Currency};

/// The first line of every report.
pub const HEADER: &str = "report_id,report_date,type,provider_reference,currency,gross,fee,net";

/// Longest accepted line, in bytes.
pub const LINE_BYTES_MAX: usize = 512;

/// What a line reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LineType {
    Capture,
    Refund,
    Chargeback,
}

impl LineType {
    pub fn as_str(self) -> &'static str {
        match self {
            LineType::Capture => "capture",
            LineType::Refund => "refund",
            LineType::Chargeback => "chargeback",
        }
    }

    fn parse(text: &str) -> Option<LineType> {
        match text {
            "capture" => Some(LineType::Capture),
            "refund" => Some(LineType::Refund),
            "chargeback" => Some(LineType::Chargeback),
            _ => None,
        }
    }
}

/// One line of a report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub report_id: String,
    pub report_date: String,
    pub line_type: LineType,
    pub provider_reference: String,
    pub currency: String,
    pub gross_minor: i64,
    pub fee_minor: i64,
    pub net_minor: i64,
}

/// Why a line was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    #[error("expected 8 fields")]
    Fields,
    #[error("the report id or date is malformed")]
    Report,
    #[error("unknown line type")]
    Type,
    #[error("the provider reference is malformed")]
    Reference,
    #[error("unknown currency")]
    Currency,
    #[error("an amount is malformed")]
    Amount,
    #[error("net is not gross minus fee, or the sign does not fit the line type")]
    Arithmetic,
}

fn token_ok(text: &str) -> bool {
    (1..=100).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Parses a signed decimal with exactly the currency's decimals into minor units.
pub fn parse_minor(text: &str, currency: &Currency) -> Option<i64> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let exponent = usize::from(currency.exponent);
    let (major, fraction) = match digits.split_once('.') {
        Some((major, fraction)) if exponent > 0 && fraction.len() == exponent => (major, fraction),
        None if exponent == 0 => (digits, ""),
        _ => return None,
    };
    if major.is_empty()
        || major.len() > 16
        || !major.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let mut value: i64 = major.parse().ok()?;
    for _ in 0..exponent {
        value = value.checked_mul(10)?;
    }
    if !fraction.is_empty() {
        value = value.checked_add(fraction.parse().ok()?)?;
    }
    if value > money::AMOUNT_MINOR_MAX {
        return None;
    }
    Some(if negative { -value } else { value })
}

impl Line {
    pub fn parse(text: &str) -> Result<Line, LineError> {
        let text = text.trim_end_matches(['\r', '\n']);
        let fields: Vec<&str> = text.splitn(9, ',').collect();
        let [
            report_id,
            report_date,
            kind,
            reference,
            currency,
            gross,
            fee,
            net,
        ] = fields[..]
        else {
            return Err(LineError::Fields);
        };
        if !token_ok(report_id) || Day::parse(report_date).is_none() {
            return Err(LineError::Report);
        }
        let line_type = LineType::parse(kind).ok_or(LineError::Type)?;
        if !token_ok(reference) {
            return Err(LineError::Reference);
        }
        let unit = Currency::from_code(currency).map_err(|_| LineError::Currency)?;
        let gross_minor = parse_minor(gross, unit).ok_or(LineError::Amount)?;
        let fee_minor = parse_minor(fee, unit).ok_or(LineError::Amount)?;
        let net_minor = parse_minor(net, unit).ok_or(LineError::Amount)?;
        let sign_ok = match line_type {
            LineType::Capture => gross_minor > 0,
            LineType::Refund | LineType::Chargeback => gross_minor < 0,
        };
        if !sign_ok || fee_minor < 0 || gross_minor.checked_sub(fee_minor) != Some(net_minor) {
            return Err(LineError::Arithmetic);
        }
        Ok(Line {
            report_id: report_id.to_owned(),
            report_date: report_date.to_owned(),
            line_type,
            provider_reference: reference.to_owned(),
            currency: unit.code.to_owned(),
            gross_minor,
            fee_minor,
            net_minor,
        })
    }

    /// The line as the file holds it (no line break).
    pub fn to_csv(&self) -> String {
        let unit = Currency::from_code(&self.currency).expect("a line holds a known currency");
        format!(
            "{},{},{},{},{},{},{},{}",
            self.report_id,
            self.report_date,
            self.line_type.as_str(),
            self.provider_reference,
            self.currency,
            money::format_minor(self.gross_minor, unit),
            money::format_minor(self.fee_minor, unit),
            money::format_minor(self.net_minor, unit),
        )
    }
}

/// A UTC day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Day {
    /// Days since 1970-01-01.
    days: i64,
}

const DAY_MS: i64 = 86_400_000;

impl Day {
    /// `YYYY-MM-DD`.
    pub fn parse(text: &str) -> Option<Day> {
        let bytes = text.as_bytes();
        if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
            return None;
        }
        let year: i64 = text[0..4].parse().ok()?;
        let month: i64 = text[5..7].parse().ok()?;
        let day: i64 = text[8..10].parse().ok()?;
        if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
            return None;
        }
        let parsed = Day {
            days: days_from_civil(year, month, day),
        };
        // Refuses 2026-02-31 and the like: it must print back the same.
        (parsed.to_string() == text).then_some(parsed)
    }

    pub fn of_ms(unix_ms: i64) -> Day {
        Day {
            days: unix_ms.div_euclid(DAY_MS),
        }
    }

    pub fn start_ms(self) -> i64 {
        self.days * DAY_MS
    }

    pub fn end_ms(self) -> i64 {
        (self.days + 1) * DAY_MS
    }

    pub fn previous(self) -> Day {
        Day {
            days: self.days - 1,
        }
    }

    /// The sandbox's report id of this day: `sbxrpt_YYYYMMDD`.
    pub fn report_id(self) -> String {
        format!("sbxrpt_{}", self.to_string().replace('-', ""))
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = civil_from_days(self.days);
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

// Howard Hinnant's civil calendar algorithms (public domain).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_lines_round_trip() {
        let day = Day::parse("2026-11-22").expect("a date");
        assert_eq!(day.to_string(), "2026-11-22");
        assert_eq!(Day::of_ms(day.start_ms() + 5), day);
        assert_eq!(day.previous().to_string(), "2026-11-21");
        assert_eq!(Day::parse("1970-01-01").expect("epoch").start_ms(), 0);
        assert!(Day::parse("2026-02-31").is_none());
        let text = "sbxrpt_20261122,2026-11-22,chargeback,pi_abc,USD,-20.00,15.00,-35.00";
        let line = Line::parse(text).expect("a line");
        assert_eq!(line.gross_minor, -2000);
        assert_eq!(line.to_csv(), text);
        assert_eq!(
            Line::parse("r,2026-11-22,capture,pi_abc,USD,20.00,1.00,18.00"),
            Err(LineError::Arithmetic)
        );
        assert_eq!(
            Line::parse("r,2026-11-22,capture,pi_abc,USD,20.0,1.00,19.00"),
            Err(LineError::Amount)
        );
        assert_eq!(
            Line::parse("r,2026-11-22,capture,pi_abc,JPY,2000,100,1900")
                .expect("no decimals")
                .net_minor,
            1900
        );
    }
}
