//! Tests for `purse` CLI: util (being written).
