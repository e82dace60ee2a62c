//! Key material for identity: the server's Ed25519 token-signing key, device public keys, and
//! random secrets (nonces, token ids, refresh tokens). It never prints a secret: `Debug` shows key
//! ids only, and secret bytes are wiped on drop.
//!
//! Device keys go through [`DeviceKey`], a small adapter kept private to identity so that switching
//! to `purse_core::keys::PublicKey` when the core branch lands touches this file only.

use ed25519_dalek::pkcs8::EncodePrivateKey;
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
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

/// Key id of an Ed25519 public key: the first 8 bytes of its SHA-256, as 16 lowercase hex digits
/// (the same definition as `purse_core::keys::KeyId`).
pub fn key_id_hex(public_key: &[u8; 32]) -> String {
    data_encoding::HEXLOWER.encode(&Sha256::digest(public_key)[..8])
}

/// `bytes` random bytes from the OS generator as base64url without padding.
pub fn random_token(bytes: usize) -> String {
    let mut buf = Zeroizing::new(vec![0u8; bytes]);
    OsRng.fill_bytes(&mut buf);
    data_encoding::BASE64URL_NOPAD.encode(&buf)
}

/// A device's Ed25519 public key, as registered by the SDK.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceKey(VerifyingKey);

impl DeviceKey {
    /// Parses base64url (no padding, 43 characters) and refuses points that are not valid keys,
    /// including the small-order points `verify_strict` would reject anyway.
    pub fn parse(text: &str) -> Result<DeviceKey, IdentityError> {
        if text.len() != 43 {
            return Err(IdentityError::DeviceKeyInvalid);
        }
        let bytes = data_encoding::BASE64URL_NOPAD
            .decode(text.as_bytes())
            .map_err(|_| IdentityError::DeviceKeyInvalid)?;
        DeviceKey::from_bytes(&bytes)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<DeviceKey, IdentityError> {
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| IdentityError::DeviceKeyInvalid)?;
        let key = VerifyingKey::from_bytes(&bytes).map_err(|_| IdentityError::DeviceKeyInvalid)?;
        if key.is_weak() {
            return Err(IdentityError::DeviceKeyInvalid);
        }
        Ok(DeviceKey(key))
    }

    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// Canonical text form: base64url without padding.
    pub fn to_text(&self) -> String {
        data_encoding::BASE64URL_NOPAD.encode(self.0.as_bytes())
    }

    pub fn key_id(&self) -> String {
        key_id_hex(self.0.as_bytes())
    }

    /// Strict Ed25519 verification (no malleable or small-order signatures).
    pub fn verify(&self, message: &[u8], signature: &[u8; 64]) -> Result<(), IdentityError> {
        let signature = Signature::from_bytes(signature);
        self.0
            .verify_strict(message, &signature)
            .map_err(|_| IdentityError::SignatureInvalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::Signer;

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
    fn device_key_parses_verifies_and_refuses_bad_keys() {
        let secret = SigningKey::from_bytes(&[3; 32]);
        let text = data_encoding::BASE64URL_NOPAD.encode(secret.verifying_key().as_bytes());
        let key = DeviceKey::parse(&text).unwrap();
        assert_eq!(key.to_text(), text);
        let sig = secret.sign(b"hello").to_bytes();
        key.verify(b"hello", &sig).unwrap();
        assert!(matches!(
            key.verify(b"hellp", &sig),
            Err(IdentityError::SignatureInvalid)
        ));

        // Wrong length, bad alphabet, padding, the identity point (small order).
        let identity = data_encoding::BASE64URL_NOPAD.encode(&{
            let mut b = [0u8; 32];
            b[0] = 1;
            b
        });
        for bad in [
            "",
            "abc",
            &format!("{text}="),
            &text.replace(|_: char| true, "*"),
            &identity,
        ] {
            assert!(
                matches!(DeviceKey::parse(bad), Err(IdentityError::DeviceKeyInvalid)),
                "{bad:?}"
            );
        }
    }
}
