//! Tests for `paycode` (being written).
