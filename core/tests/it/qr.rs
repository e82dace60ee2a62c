//! Tests for `qr` (being written).
