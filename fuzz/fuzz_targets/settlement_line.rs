//! Fuzz target `settlement_line`: any bytes as one line of a provider's settlement report, through
//! `purse_server::settlement::csv::Line::parse`. It must never panic, and an accepted line obeys
//! the report's rules (sign fits the type, `net = gross - fee`, amounts within the limit) and
//! prints back to a line that parses to the same value.
//! Run it as fuzz/README.md says.
#![no_main]

use libfuzzer_sys::fuzz_target;
use purse_core::money::AMOUNT_MINOR_MAX;
use purse_server::settlement::csv::{Day, Line, LineType};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(line) = Line::parse(&text) {
        match line.line_type {
            LineType::Capture => assert!(line.gross_minor > 0),
            LineType::Refund | LineType::Chargeback => assert!(line.gross_minor < 0),
        }
        assert!(line.fee_minor >= 0);
        assert_eq!(line.gross_minor - line.fee_minor, line.net_minor);
        for amount in [line.gross_minor, line.fee_minor, line.net_minor] {
            assert!(amount.unsigned_abs() <= AMOUNT_MINOR_MAX.unsigned_abs());
        }
        let printed = line.to_csv();
        assert_eq!(Line::parse(&printed), Ok(line.clone()), "{printed}");
    }
    if let Some(day) = Day::parse(&text) {
        assert_eq!(day.to_string(), text);
    }
});
