//! Tests for `purse` CLI: paycode (being written).
