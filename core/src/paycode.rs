//! TODO(owner): module `paycode` (being written).
