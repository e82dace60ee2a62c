//! TODO(owner): module `money` (being written).
