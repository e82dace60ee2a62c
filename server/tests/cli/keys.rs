//! Tests for `purse` CLI: keys (being written).
