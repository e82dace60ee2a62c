//! Tests for `keys`: Ed25519 keys and signatures, key ids, key file text, the Signer seam and the
//! encrypted backup envelope.

use data_encoding::BASE64URL_NOPAD;
use proptest::prelude::*;
use purse_core::keys::{
    self, BACKUP_PREFIX, KeyError, KeyId, PASSWORD_BYTES_MAX, PASSWORD_CHARS_MIN, PublicKey,
    SECRET_TEXT_PREFIX, SecretKey, Signature, Signer,
};
use sha2::{Digest, Sha256};

use crate::util::{RFC8032_TEST1_PUBLIC_HEX, fixed_key, hex, key_n};

const PASSWORD: &str = "correct horse battery staple";

/// A backup of `fixed_key()` under `PASSWORD`, made once by `keys::backup` and pinned here (and
/// in docs/formats.md) so any change to the envelope format or key derivation is caught.
const FIXED_ENVELOPE: &str = "purse-backup-v1.AQEBAABMAAAAAAIAAAABbcxR2jav3pDVlNmCmaSR_eUgH3Xr9_BUZI87P2H2mlwAwtuVTiqQ7E183YxNkOh8me_WK-bDn2b_OutY9usg_uQ8e8Gq7RmdnX9BYF4mNwk386Exxk0pag";

fn code<T: std::fmt::Debug>(result: Result<T, KeyError>) -> &'static str {
    result.unwrap_err().code()
}

#[test]
fn rfc8032_vectors_sign_and_verify() {
    // RFC 8032 section 7.1, TEST 1 (empty message) and TEST 2 (one byte 0x72).
    let cases = [
        (
            "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            "",
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
        ),
        (
            "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            "72",
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
        ),
    ];
    for (seed, public, message, signature) in cases {
        let secret = SecretKey::from_bytes(&hex(seed).try_into().unwrap());
        assert_eq!(secret.public_key().to_bytes().to_vec(), hex(public));
        let sig = secret.sign(&hex(message)).unwrap();
        assert_eq!(sig.to_bytes().to_vec(), hex(signature));
        let public = PublicKey::from_bytes(&hex(public)).unwrap();
        public.verify(&hex(message), &sig).unwrap();
    }
}

#[test]
fn tampered_message_signature_or_key_fails() {
    let secret = SecretKey::generate();
    let public = secret.public_key();
    let message = b"pay 12.50 USD to mer_123";
    let sig = secret.sign(message).unwrap();
    public.verify(message, &sig).unwrap();

    assert_eq!(
        code(public.verify(b"pay 12.51 USD to mer_123", &sig)),
        "signature_invalid"
    );
    assert_eq!(code(public.verify(b"", &sig)), "signature_invalid");
    for i in 0..64 {
        let mut bytes = sig.to_bytes();
        bytes[i] ^= 0x01;
        let tampered = Signature::from_bytes(&bytes).unwrap();
        assert_eq!(
            code(public.verify(message, &tampered)),
            "signature_invalid",
            "byte {i}"
        );
    }
    let other = SecretKey::generate().public_key();
    assert_eq!(code(other.verify(message, &sig)), "signature_invalid");
}

#[test]
fn verify_is_strict_about_non_canonical_signatures() {
    // S + L (the group order) verifies under lenient rules but is a second encoding of the same
    // signature; verify_strict must refuse it so signatures cannot be made to differ.
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let secret = fixed_key();
    let sig = secret.sign(b"message").unwrap().to_bytes();
    let mut bumped = sig;
    let mut carry = 0u16;
    for i in 0..32 {
        let sum = u16::from(sig[32 + i]) + u16::from(L[i]) + carry;
        bumped[32 + i] = sum as u8;
        carry = sum >> 8;
    }
    assert_eq!(carry, 0);
    let bumped = Signature::from_bytes(&bumped).unwrap();
    assert_eq!(
        code(secret.public_key().verify(b"message", &bumped)),
        "signature_invalid"
    );
}

#[test]
fn public_key_bytes_and_text() {
    let public = fixed_key().public_key();
    let text = public.to_string();
    assert_eq!(text, "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo");
    assert_eq!(text.len(), PublicKey::TEXT_LEN);
    assert_eq!(text.parse::<PublicKey>().unwrap(), public);
    assert_eq!(PublicKey::from_bytes(&public.to_bytes()).unwrap(), public);

    for bad in [
        "",
        "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHUR", // 42 chars
        "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo=", // padded
        "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo", // standard alphabet
        "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURp", // non-canonical trailing bits
        " 11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHUR",
    ] {
        assert_eq!(code(bad.parse::<PublicKey>()), "key_invalid", "{bad:?}");
    }
    assert_eq!(code(PublicKey::from_bytes(&[1; 31])), "key_invalid");
    assert_eq!(code(PublicKey::from_bytes(&[1; 33])), "key_invalid");
}

#[test]
fn public_key_refuses_small_order_and_off_curve_points() {
    let mut identity = [0u8; 32];
    identity[0] = 1;
    assert_eq!(code(PublicKey::from_bytes(&identity)), "key_invalid");
    assert_eq!(code(PublicKey::from_bytes(&[0; 32])), "key_invalid");

    // Some y coordinates have no point on the curve; each must be refused like any bad key.
    let mut off_curve = 0;
    for y in 2u8..=60 {
        let mut bytes = [0u8; 32];
        bytes[0] = y;
        if ed25519_dalek::VerifyingKey::from_bytes(&bytes).is_err() {
            off_curve += 1;
            assert_eq!(
                code(PublicKey::from_bytes(&bytes)),
                "key_invalid",
                "y = {y}"
            );
        }
    }
    assert!(
        off_curve > 0,
        "expected some off-curve encodings among y = 2..=60"
    );
}

#[test]
fn key_id_is_first_8_bytes_of_sha256() {
    let public = fixed_key().public_key();
    let digest = Sha256::digest(hex(RFC8032_TEST1_PUBLIC_HEX));
    assert_eq!(public.key_id().to_bytes(), digest[..8]);
    assert_eq!(public.key_id().to_string(), "21fe31dfa154a261");
    assert_eq!(fixed_key().key_id(), public.key_id());
    assert_eq!(Signer::key_id(&fixed_key()), public.key_id());

    let id: KeyId = "21fe31dfa154a261".parse().unwrap();
    assert_eq!(id, public.key_id());
    assert_eq!(KeyId::from_bytes(id.to_bytes()), id);
    for bad in [
        "21FE31DFA154A261",
        "21fe31dfa154a26",
        "21fe31dfa154a2610",
        "21fe31dfa154a26g",
        "",
    ] {
        assert_eq!(code(bad.parse::<KeyId>()), "key_id_invalid", "{bad:?}");
    }
    assert_ne!(key_n(1).key_id(), key_n(2).key_id());
}

#[test]
fn signature_bytes_and_text() {
    let sig = fixed_key().sign(b"").unwrap();
    let text = sig.to_string();
    assert_eq!(text.len(), Signature::TEXT_LEN);
    assert_eq!(text.parse::<Signature>().unwrap(), sig);
    assert_eq!(code(Signature::from_bytes(&[0; 63])), "signature_invalid");
    assert_eq!(code(Signature::from_bytes(&[0; 65])), "signature_invalid");
    assert_eq!(code(text[1..].parse::<Signature>()), "signature_invalid");
}

#[test]
fn public_types_travel_as_json_strings() {
    let secret = fixed_key();
    let value = serde_json::json!({
        "public_key": secret.public_key(),
        "key_id": secret.key_id(),
        "signature": secret.sign(b"x").unwrap(),
    });
    assert_eq!(
        value["public_key"],
        "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
    );
    assert_eq!(value["key_id"], "21fe31dfa154a261");
    let back: PublicKey = serde_json::from_value(value["public_key"].clone()).unwrap();
    assert_eq!(back, secret.public_key());
    assert!(serde_json::from_str::<KeyId>("\"21FE31DFA154A261\"").is_err());
}

#[test]
fn secret_key_text_round_trips() {
    let secret = fixed_key();
    let text = secret.to_text();
    assert_eq!(
        *text,
        format!("{SECRET_TEXT_PREFIX}nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
    );
    assert_eq!(text.len(), 67);
    assert_eq!(
        SecretKey::from_text(&text).unwrap().key_id(),
        secret.key_id()
    );
    assert_eq!(
        SecretKey::from_text(&format!("{}\n", *text))
            .unwrap()
            .key_id(),
        secret.key_id()
    );

    let fresh = SecretKey::generate();
    let again = SecretKey::from_text(&fresh.to_text()).unwrap();
    assert_eq!(again.public_key(), fresh.public_key());
    assert_ne!(fresh.key_id(), secret.key_id());

    for bad in [
        String::new(),
        "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A".to_string(),
        "purse-ed25519-secret-v2:nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A".to_string(),
        format!("{SECRET_TEXT_PREFIX}nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2"),
        format!("{SECRET_TEXT_PREFIX}nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A="),
        format!("{SECRET_TEXT_PREFIX}nWGxne+9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"),
        format!("{SECRET_TEXT_PREFIX} nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"),
        format!("{}\nsecond line", *text),
    ] {
        assert_eq!(
            code(SecretKey::from_text(&bad)),
            "secret_key_invalid",
            "{bad:?}"
        );
    }
}

#[test]
fn secret_key_debug_never_shows_the_secret() {
    let secret = fixed_key();
    let debug = format!("{secret:?} {secret:#?}");
    assert!(debug.contains("21fe31dfa154a261"), "{debug}");
    let text = secret.to_text();
    let seed_b64 = text.strip_prefix(SECRET_TEXT_PREFIX).unwrap();
    for leak in [seed_b64, "9d61b19d", "nWGxne", "157, 97, 177"] {
        assert!(!debug.contains(leak), "Debug leaks {leak}: {debug}");
    }
}

/// A stand-in for a platform keystore: signs through the trait only, or refuses.
struct Keystore {
    inner: SecretKey,
    locked: bool,
}

impl Signer for Keystore {
    fn public_key(&self) -> PublicKey {
        self.inner.public_key()
    }

    fn sign(&self, message: &[u8]) -> Result<Signature, KeyError> {
        if self.locked {
            return Err(KeyError::SignerFailed {
                reason: "keystore locked".into(),
            });
        }
        self.inner.sign(message)
    }
}

#[test]
fn signer_trait_objects_sign_or_fail_typed() {
    let signers: Vec<Box<dyn Signer>> = vec![
        Box::new(key_n(7)),
        Box::new(Keystore {
            inner: key_n(8),
            locked: false,
        }),
    ];
    for signer in &signers {
        let sig = signer.sign(b"hello").unwrap();
        signer.public_key().verify(b"hello", &sig).unwrap();
        assert_eq!(signer.key_id(), signer.public_key().key_id());
    }
    let locked = Keystore {
        inner: key_n(9),
        locked: true,
    };
    let err = locked.sign(b"hello").unwrap_err();
    assert_eq!(err.code(), "signer_failed");
    assert!(err.to_string().contains("keystore locked"));
}

#[test]
fn backup_round_trips() {
    let secret = fixed_key();
    let envelope = keys::backup(&secret, PASSWORD).unwrap();
    assert!(envelope.starts_with(BACKUP_PREFIX), "{envelope}");
    assert_eq!(envelope.len(), 154);
    assert!(
        envelope
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    );
    let restored = keys::restore(&envelope, PASSWORD).unwrap();
    assert_eq!(restored.public_key(), secret.public_key());
    assert_eq!(*restored.to_text(), *secret.to_text());
    // Whitespace around a pasted envelope is ignored.
    let pasted = format!("  {envelope}\n");
    assert_eq!(
        keys::restore(&pasted, PASSWORD).unwrap().key_id(),
        secret.key_id()
    );
    // Fresh salt and nonce every time: two backups of one key never match.
    assert_ne!(keys::backup(&secret, PASSWORD).unwrap(), envelope);
}

#[test]
fn pinned_envelope_still_restores() {
    let restored = keys::restore(FIXED_ENVELOPE, PASSWORD).unwrap();
    assert_eq!(restored.key_id(), fixed_key().key_id());
    assert_eq!(
        code(keys::restore(
            FIXED_ENVELOPE,
            "correct horse battery stapler"
        )),
        "backup_wrong_password"
    );
}

/// The "Test vector" block of the "Key backup envelope" section of docs/formats.md, as pairs.
fn documented_vector() -> Vec<(&'static str, &'static str)> {
    const DOC: &str = include_str!("../../../docs/formats.md");
    let section = DOC
        .split("\n## Key backup envelope")
        .nth(1)
        .expect("section in formats.md");
    let block = section
        .split("### Test vector")
        .nth(1)
        .expect("test vector heading");
    let block = block
        .split("```text\n")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    block
        .lines()
        .map(|line| {
            let (name, value) = line.split_once("  ").expect("name  value");
            (name.trim(), value.trim())
        })
        .collect()
}

#[test]
fn documented_vector_decrypts_by_hand_and_through_the_library() {
    use chacha20poly1305::aead::{Aead, KeyInit, Payload};

    let vector = documented_vector();
    let get = |name: &str| vector.iter().find(|(n, _)| *n == name).unwrap().1;
    let envelope = get("envelope");
    let password = get("password");
    assert_eq!(envelope, FIXED_ENVELOPE);
    assert_eq!(password, PASSWORD);
    assert_eq!(get("public key"), fixed_key().public_key().to_string());
    assert_eq!(get("key id"), fixed_key().key_id().to_string());
    assert_eq!(get("key file"), *fixed_key().to_text());
    assert_eq!(get("seed"), crate::util::RFC8032_TEST1_SEED_HEX);

    // By hand, from the specification: split the body, derive, decrypt with the header as AD.
    let body = BASE64URL_NOPAD
        .decode(
            envelope
                .strip_prefix("purse-backup-v1.")
                .unwrap()
                .as_bytes(),
        )
        .unwrap();
    assert_eq!(body.len(), 103);
    let (header, salt, nonce, ciphertext) =
        (&body[..15], &body[15..31], &body[31..55], &body[55..]);
    assert_eq!(header, hex(get("header")));
    assert_eq!(salt, hex(get("salt")));
    assert_eq!(nonce, hex(get("nonce")));
    assert_eq!(ciphertext, hex(get("ciphertext")));
    let word = |i: usize| u32::from_be_bytes(header[i..i + 4].try_into().unwrap());
    assert_eq!((header[0], header[1], header[2]), (1, 1, 1));
    assert_eq!((word(3), word(7), word(11)), (19_456, 2, 1));
    let params = argon2::Params::new(word(3), word(7), word(11), Some(32)).unwrap();
    let mut key = [0u8; 32];
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password_into(password.as_bytes(), salt, &mut key)
        .unwrap();
    assert_eq!(key.to_vec(), hex(get("argon2id key")));
    let seed = chacha20poly1305::XChaCha20Poly1305::new(&key.into())
        .decrypt(
            nonce.into(),
            Payload {
                msg: ciphertext,
                aad: header,
            },
        )
        .unwrap();
    assert_eq!(seed, hex(get("seed")));

    // And through the library.
    assert_eq!(
        keys::restore(envelope, password).unwrap().key_id(),
        fixed_key().key_id()
    );
}

#[test]
fn wrong_password_is_its_own_error() {
    let envelope = keys::backup(&key_n(3), PASSWORD).unwrap();
    for wrong in [
        "correct horse battery stapl",
        "Correct horse battery staple",
        "",
        "x",
    ] {
        assert_eq!(
            code(keys::restore(&envelope, wrong)),
            "backup_wrong_password",
            "{wrong:?}"
        );
    }
}

#[test]
fn passwords_are_nfc_normalized_and_counted_in_characters() {
    let composed = "caf\u{e9} au lait, s'il vous pla\u{ee}t";
    let decomposed = "cafe\u{301} au lait, s'il vous plai\u{302}t";
    assert_ne!(composed, decomposed);
    let envelope = keys::backup(&key_n(4), composed).unwrap();
    assert_eq!(
        keys::restore(&envelope, decomposed).unwrap().key_id(),
        key_n(4).key_id()
    );

    let short = "a".repeat(PASSWORD_CHARS_MIN - 1);
    assert_eq!(code(keys::backup(&key_n(4), &short)), "password_too_short");
    // Twelve characters of three bytes each: long enough, because characters count, not bytes.
    let twelve_kana = "あ".repeat(PASSWORD_CHARS_MIN);
    let envelope = keys::backup(&key_n(4), &twelve_kana).unwrap();
    assert_eq!(
        keys::restore(&envelope, &twelve_kana).unwrap().key_id(),
        key_n(4).key_id()
    );

    let long = "a".repeat(PASSWORD_BYTES_MAX + 1);
    assert_eq!(code(keys::backup(&key_n(4), &long)), "password_too_long");
    assert_eq!(code(keys::restore(&envelope, &long)), "password_too_long");
}

/// Decodes an envelope body, lets `edit` change it, and re-encodes it with the v1 prefix.
fn edited(envelope: &str, edit: impl FnOnce(&mut Vec<u8>)) -> String {
    let mut body = BASE64URL_NOPAD
        .decode(envelope.strip_prefix(BACKUP_PREFIX).unwrap().as_bytes())
        .unwrap();
    edit(&mut body);
    format!("{BACKUP_PREFIX}{}", BASE64URL_NOPAD.encode(&body))
}

#[test]
fn corrupted_envelopes_are_told_apart_from_wrong_passwords() {
    let envelope = keys::backup(&key_n(5), PASSWORD).unwrap();
    let body = envelope.strip_prefix(BACKUP_PREFIX).unwrap();
    let corrupted = [
        String::new(),
        "hello".to_string(),
        body.to_string(),
        format!("purse-backup-{body}"),
        format!("purse-backup-v1{body}"),
        format!("purse-backup-vX.{body}"),
        format!("purse-backup-v.{body}"),
        format!("PURSE-BACKUP-V1.{body}"),
        format!("{BACKUP_PREFIX}{}", &body[..body.len() - 1]), // truncated: bad base64 length
        format!("{BACKUP_PREFIX}{}", &body[..body.len() - 4]), // truncated: 3 bytes short
        format!("{BACKUP_PREFIX}{body}AAAA"),                  // 3 bytes too many
        format!(
            "{BACKUP_PREFIX}{}",
            body.replace(|c: char| c.is_ascii_digit(), "+")
        ),
        format!("{BACKUP_PREFIX}{body}="),
        format!("{envelope}{}", "A".repeat(1024)),
        edited(&envelope, |b| b[0] = 2), // header version disagrees with the prefix
        edited(&envelope, |b| b[1] = 2), // unknown KDF
        edited(&envelope, |b| b[2] = 0), // unknown AEAD
        edited(&envelope, |b| b.truncate(40)), // well-encoded but short
    ];
    for bad in &corrupted {
        let err = keys::restore(bad, PASSWORD).unwrap_err();
        assert_eq!(err.code(), "backup_corrupted", "{bad:?}: {err}");
    }
}

#[test]
fn hostile_parameters_are_refused_before_any_work() {
    let envelope = keys::backup(&key_n(6), PASSWORD).unwrap();
    let set = |at: usize, value: u32| {
        edited(&envelope, |b| {
            b[at..at + 4].copy_from_slice(&value.to_be_bytes())
        })
    };
    // 10 GiB of memory, a million passes, 255 lanes, and costs below the OWASP floor. Running
    // any of these would exhaust memory or hang the test, so passing proves they never run.
    for (at, value) in [
        (3, 10 * 1024 * 1024),
        (3, u32::MAX),
        (3, 8),
        (3, 7_167),
        (3, 17_919), // with t_cost 2: below 35840 KiB-passes
        (7, 1_000_000),
        (7, 0),
        (7, 1), // with m_cost 19456: below 35840 KiB-passes
        (11, 255),
        (11, 0),
    ] {
        let err = keys::restore(&set(at, value), PASSWORD).unwrap_err();
        assert_eq!(
            err.code(),
            "backup_corrupted",
            "offset {at} value {value}: {err}"
        );
    }
    // In-range changes are caught by the AEAD because the header is associated data.
    assert_eq!(
        code(keys::restore(&set(3, 19_457), PASSWORD)),
        "backup_wrong_password"
    );
    assert_eq!(
        code(keys::restore(&set(7, 3), PASSWORD)),
        "backup_wrong_password"
    );
}

/// Writes a v1 envelope from the specification alone, with chosen argon2id parameters.
fn seal_by_hand(seed: &[u8; 32], password: &str, m_cost: u32, t_cost: u32, p_cost: u32) -> String {
    use chacha20poly1305::aead::{Aead, KeyInit, Payload};

    let mut header = vec![1u8, 1, 1];
    for word in [m_cost, t_cost, p_cost] {
        header.extend_from_slice(&word.to_be_bytes());
    }
    let (salt, nonce) = ([7u8; 16], [9u8; 24]);
    let params = argon2::Params::new(m_cost, t_cost, p_cost, Some(32)).unwrap();
    let mut key = [0u8; 32];
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password_into(password.as_bytes(), &salt, &mut key)
        .unwrap();
    let sealed = chacha20poly1305::XChaCha20Poly1305::new(&key.into())
        .encrypt(
            (&nonce).into(),
            Payload {
                msg: seed,
                aad: &header,
            },
        )
        .unwrap();
    let body = [&header[..], &salt, &nonce, &sealed].concat();
    format!("{BACKUP_PREFIX}{}", BASE64URL_NOPAD.encode(&body))
}

#[test]
fn every_owasp_configuration_restores() {
    // OWASP's five equivalent argon2id settings (m KiB, t), all accepted from the header.
    for (m_cost, t_cost) in [
        (47_104, 1),
        (19_456, 2),
        (12_288, 3),
        (9_216, 4),
        (7_168, 5),
    ] {
        let envelope = seal_by_hand(&[42; 32], PASSWORD, m_cost, t_cost, 1);
        let restored = keys::restore(&envelope, PASSWORD).unwrap();
        assert_eq!(restored.key_id(), SecretKey::from_bytes(&[42; 32]).key_id());
    }
    let two_lanes = seal_by_hand(&[42; 32], PASSWORD, 19_456, 2, 2);
    assert!(keys::restore(&two_lanes, PASSWORD).is_ok());
    // One step below the floor is refused even though it is otherwise well formed.
    let weak = seal_by_hand(&[42; 32], PASSWORD, 7_167, 5, 1);
    assert_eq!(code(keys::restore(&weak, PASSWORD)), "backup_corrupted");
}

#[test]
fn tampered_salt_nonce_or_ciphertext_fails_authentication() {
    let envelope = keys::backup(&key_n(7), PASSWORD).unwrap();
    // One offset in each of salt (15..31), nonce (31..55) and ciphertext+tag (55..103).
    for at in [15, 30, 31, 54, 55, 86, 102] {
        let tampered = edited(&envelope, |b| b[at] ^= 0x80);
        assert_eq!(
            code(keys::restore(&tampered, PASSWORD)),
            "backup_wrong_password",
            "byte {at}"
        );
    }
}

#[test]
fn unknown_versions_are_unsupported_not_corrupted() {
    let envelope = keys::backup(&key_n(8), PASSWORD).unwrap();
    let body = envelope.strip_prefix(BACKUP_PREFIX).unwrap();
    for version in ["0", "2", "10", "999"] {
        let other = format!("purse-backup-v{version}.{body}");
        assert_eq!(
            code(keys::restore(&other, PASSWORD)),
            "backup_unsupported_version",
            "{other}"
        );
    }
    assert_eq!(
        code(keys::restore("purse-backup-v2.anything at all", PASSWORD)),
        "backup_unsupported_version"
    );
}

proptest! {
    #[test]
    fn text_parsers_never_panic(text in "\\PC{0,200}") {
        let _ = text.parse::<PublicKey>();
        let _ = text.parse::<KeyId>();
        let _ = text.parse::<Signature>();
        let _ = SecretKey::from_text(&text);
        let _ = keys::restore(&text, PASSWORD);
        let prefixed = format!("{BACKUP_PREFIX}{text}");
        let _ = keys::restore(&prefixed, PASSWORD);
    }

    #[test]
    fn byte_parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
        let _ = PublicKey::from_bytes(&bytes);
        let _ = Signature::from_bytes(&bytes);
        let envelope = format!("{BACKUP_PREFIX}{}", BASE64URL_NOPAD.encode(&bytes));
        // Wrong lengths never reach the key derivation; the right length is covered above.
        if bytes.len() != 103 {
            prop_assert_eq!(keys::restore(&envelope, PASSWORD).unwrap_err().code(), "backup_corrupted");
        }
    }
}
