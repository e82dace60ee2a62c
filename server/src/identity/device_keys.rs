//! The device caches: recently read, unrevoked devices, so a signed request does not read the
//! `devices` row (and decompress its key) every time, nor a pay-code charge the device its key id
//! names. Both are [`Recent`] caches, with its change bound: a device revoked through this
//! process is dropped at once ([`Identity::revoke_device`](super::Identity::revoke_device)), so
//! its next request or pay code here is refused; a device revoked by *another* server process on
//! the same database stays usable here for at most [`crate::recent::TTL`] after that revocation.

use purse_core::keys::PublicKey;

use super::store::DeviceRow;
use crate::recent::Recent;

/// The owner and public key of unrevoked devices, by device id.
pub type DeviceKeys = Recent<(String, PublicKey)>;

/// Unrevoked device rows by the key id of their public key (`device_key_ids`), for pay codes,
/// which name their device only by key id. A revocation forgets all of them (it knows the device
/// id, not its key id).
pub type KeyIdDevices = Recent<DeviceRow>;
