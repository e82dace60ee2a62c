//! TODO(owner): module `keys` (being written).
