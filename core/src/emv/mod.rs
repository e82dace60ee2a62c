//! TODO(owner): module `emv` (being written).
