//! Tests for `merchant_code` (being written).
