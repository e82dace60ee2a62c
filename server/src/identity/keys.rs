//! Key material for identity: the server's Ed25519 token-signing key, device public keys (as
//! `purse_core::keys::PublicKey`, the one definition shared with the SDK), and random secrets
//! (token ids, refresh tokens). It never prints a secret: `Debug` shows key ids only, and secret
//! bytes are wiped on drop.

use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use purse_core::keys::PublicKey;
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::error::IdentityError;

/// The server's access-token signing key.
pub struct ServerKey {
    signing: SigningKey,
}

impl ServerKey {
    /// A fresh key from the operating system's random generator.
    pub fn generate() -> ServerKey {
        ServerKey {
            signing: SigningKey::generate(&mut OsRng),
        }
    }

    /// A key from its 32-byte seed (as persisted).
    pub fn from_seed(seed: [u8; 32]) -> ServerKey {
        let seed = Zeroizing::new(seed);
        ServerKey {
            signing: SigningKey::from_bytes(&seed),
        }
    }

    /// The 32-byte seed, for persisting. Wiped when dropped.
    pub fn seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.signing.to_bytes())
    }

    pub fn public_key_bytes(&self) -> [u8; 32] {
        self.signing.verifying_key().to_bytes()
    }

    /// The PKCS#8 v1 DER form `jsonwebtoken` wants for EdDSA signing.
    pub(super) fn pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, IdentityError> {
        let doc = self
            .signing
            .to_pkcs8_der()
            .map_err(|_| IdentityError::Internal("encoding the server key as PKCS#8 failed"))?;
        Ok(Zeroizing::new(doc.as_bytes().to_vec()))
    }
}

impl std::fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ServerKey(kid={})", key_id_hex(&self.public_key_bytes()))
    }
}

/// Key id of an Ed25519 public key: `purse_core::keys::KeyId` (first 8 bytes of its SHA-256) as 16
/// lowercase hex digits. Computed from the bytes, so it is defined even for a point core refuses.
pub fn key_id_hex(public_key: &[u8; 32]) -> String {
    data_encoding::HEXLOWER.encode(&Sha256::digest(public_key)[..8])
}

/// `bytes` random bytes from the OS generator as base64url without padding.
pub fn random_token(bytes: usize) -> String {
    let mut buf = Zeroizing::new(vec![0u8; bytes]);
    OsRng.fill_bytes(&mut buf);
    data_encoding::BASE64URL_NOPAD.encode(&buf)
}

/// A device's public key from its text form (base64url, 43 characters), as the SDK sends it.
/// Small-order points are refused (by `purse_core::keys::PublicKey`), so none is ever stored.
pub fn parse_device_key(text: &str) -> Result<PublicKey, IdentityError> {
    text.parse::<PublicKey>()
        .map_err(|_| IdentityError::DeviceKeyInvalid)
}

/// A device's public key from its stored 32 bytes.
pub fn device_key_from_bytes(bytes: &[u8]) -> Result<PublicKey, IdentityError> {
    PublicKey::from_bytes(bytes).map_err(|_| IdentityError::DeviceKeyInvalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_key_round_trips_through_its_seed() {
        let key = ServerKey::generate();
        let again = ServerKey::from_seed(*key.seed());
        assert_eq!(key.public_key_bytes(), again.public_key_bytes());
        assert_ne!(
            ServerKey::generate().public_key_bytes(),
            key.public_key_bytes()
        );
        let der = key.pkcs8_der().unwrap();
        // PKCS#8 (v1 is 48 bytes, v2 adds the public key) carries the seed as its private key.
        assert!(der.len() >= 48);
        assert!(der.windows(32).any(|w| w == &key.seed()[..]));
    }

    #[test]
    fn debug_shows_kid_not_seed() {
        let key = ServerKey::from_seed([1; 32]);
        let text = format!("{key:?}");
        assert_eq!(
            text,
            format!("ServerKey(kid={})", key_id_hex(&key.public_key_bytes()))
        );
        assert_eq!(key_id_hex(&key.public_key_bytes()).len(), 16);
    }

    #[test]
    fn random_tokens_differ_and_have_the_asked_entropy() {
        let a = random_token(32);
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token(32));
    }

    #[test]
    fn device_keys_parse_and_refuse_bad_keys() {
        let secret = SigningKey::from_bytes(&[3; 32]);
        let text = data_encoding::BASE64URL_NOPAD.encode(secret.verifying_key().as_bytes());
        let key = parse_device_key(&text).unwrap();
        assert_eq!(key.to_string(), text);
        assert_eq!(key.key_id().to_string(), key_id_hex(&key.to_bytes()));
        assert_eq!(device_key_from_bytes(&key.to_bytes()).unwrap(), key);

        // Wrong length, bad alphabet, padding, the identity point (small order).
        let identity = data_encoding::BASE64URL_NOPAD.encode(&{
            let mut b = [0u8; 32];
            b[0] = 1;
            b
        });
        let bad_alphabet = "*".repeat(43);
        for bad in ["", "abc", &format!("{text}="), &bad_alphabet, &identity] {
            assert!(
                matches!(parse_device_key(bad), Err(IdentityError::DeviceKeyInvalid)),
                "{bad:?}"
            );
        }
        assert!(matches!(
            device_key_from_bytes(&[1; 31]),
            Err(IdentityError::DeviceKeyInvalid)
        ));
    }
}
