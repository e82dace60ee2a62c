//! Device request signatures, server side: parsing the four `Purse-*` headers with strict bounds,
//! the ±5 minute freshness window, and Ed25519 verification of the canonical message defined in
//! `purse_core::api::identity::device_signature_message` (specified in docs/formats.md). It never
//! decides which device is allowed (the store does) and never records nonces (the store does,
//! under a unique constraint).

use purse_core::api::identity::{
    DEVICE_SIGNATURE_WINDOW_MS, HEADER_DEVICE_ID, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP,
    NONCE_CHARS_MAX, NONCE_CHARS_MIN, device_signature_message,
};

use super::error::IdentityError;
use purse_core::keys::{PublicKey, Signature};

/// Device ids are `dev_` + base62/base64url-ish text; anything longer is not ours.
pub const DEVICE_ID_CHARS_MAX: usize = 64;
/// Unix milliseconds fit in 13 digits until the year 2286; 15 leaves room without risking overflow.
const TIMESTAMP_DIGITS_MAX: usize = 15;
/// base64url of 64 bytes without padding.
const SIGNATURE_CHARS: usize = 86;

/// The parsed signature headers of one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureHeaders {
    pub device_id: String,
    pub timestamp_ms: i64,
    pub nonce: String,
    pub signature: [u8; 64],
}

/// Reads and bounds the four headers. `get` returns a header's raw value by name.
pub fn parse_headers<'a>(
    get: impl Fn(&'static str) -> Option<&'a [u8]>,
) -> Result<SignatureHeaders, IdentityError> {
    let header = |name: &'static str| -> Result<&'a str, IdentityError> {
        let raw = get(name).ok_or(IdentityError::SignatureMissing { header: name })?;
        std::str::from_utf8(raw).map_err(|_| IdentityError::SignatureMalformed { header: name })
    };

    let device_id = header(HEADER_DEVICE_ID)?;
    let id_ok = !device_id.is_empty()
        && device_id.len() <= DEVICE_ID_CHARS_MAX
        && device_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !id_ok {
        return Err(IdentityError::SignatureMalformed {
            header: HEADER_DEVICE_ID,
        });
    }

    let timestamp = header(HEADER_TIMESTAMP)?;
    let timestamp_ms = if !timestamp.is_empty()
        && timestamp.len() <= TIMESTAMP_DIGITS_MAX
        && timestamp.bytes().all(|b| b.is_ascii_digit())
        // The message carries the number re-rendered, so only its one spelling is accepted.
        && (timestamp == "0" || !timestamp.starts_with('0'))
    {
        timestamp.parse::<i64>().ok()
    } else {
        None
    }
    .ok_or(IdentityError::SignatureMalformed {
        header: HEADER_TIMESTAMP,
    })?;

    let nonce = header(HEADER_NONCE)?;
    let nonce_ok = (NONCE_CHARS_MIN..=NONCE_CHARS_MAX).contains(&nonce.len())
        && nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !nonce_ok {
        return Err(IdentityError::SignatureMalformed {
            header: HEADER_NONCE,
        });
    }

    let signature_text = header(HEADER_SIGNATURE)?;
    let signature: [u8; 64] = if signature_text.len() == SIGNATURE_CHARS {
        data_encoding::BASE64URL_NOPAD
            .decode(signature_text.as_bytes())
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
    } else {
        None
    }
    .ok_or(IdentityError::SignatureMalformed {
        header: HEADER_SIGNATURE,
    })?;

    Ok(SignatureHeaders {
        device_id: device_id.to_owned(),
        timestamp_ms,
        nonce: nonce.to_owned(),
        signature,
    })
}

/// Refuses a timestamp more than the window away from `now_ms`, in either direction.
pub fn check_fresh(timestamp_ms: i64, now_ms: i64) -> Result<(), IdentityError> {
    if timestamp_ms.abs_diff(now_ms) > DEVICE_SIGNATURE_WINDOW_MS.unsigned_abs() {
        return Err(IdentityError::SignatureStale);
    }
    Ok(())
}

/// Verifies the signature of one request under the device's registered key.
pub fn verify(
    key: &PublicKey,
    method: &str,
    path_and_query: &str,
    body: &[u8],
    headers: &SignatureHeaders,
) -> Result<(), IdentityError> {
    let message = device_signature_message(
        method,
        path_and_query,
        body,
        headers.timestamp_ms,
        &headers.nonce,
        &headers.device_id,
    );
    let signature =
        Signature::from_bytes(&headers.signature).map_err(|_| IdentityError::SignatureInvalid)?;
    key.verify(&message, &signature)
        .map_err(|_| IdentityError::SignatureInvalid)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use ed25519_dalek::{Signer, SigningKey};

    use super::*;

    const B64: data_encoding::Encoding = data_encoding::BASE64URL_NOPAD;

    fn headers_for(
        secret: &SigningKey,
        method: &str,
        path: &str,
        body: &[u8],
        ts: i64,
        nonce: &str,
        device: &str,
    ) -> HashMap<&'static str, Vec<u8>> {
        let message = device_signature_message(method, path, body, ts, nonce, device);
        let sig = secret.sign(&message).to_bytes();
        HashMap::from([
            (HEADER_DEVICE_ID, device.as_bytes().to_vec()),
            (HEADER_TIMESTAMP, ts.to_string().into_bytes()),
            (HEADER_NONCE, nonce.as_bytes().to_vec()),
            (HEADER_SIGNATURE, B64.encode(&sig).into_bytes()),
        ])
    }

    fn parse(map: &HashMap<&'static str, Vec<u8>>) -> Result<SignatureHeaders, IdentityError> {
        parse_headers(|name| map.get(name).map(Vec::as_slice))
    }

    const NONCE: &str = "n0nce-n0nce_n0nce";

    #[test]
    fn signed_request_verifies_and_any_change_breaks_it() {
        let secret = SigningKey::from_bytes(&[9; 32]);
        let key = PublicKey::from_bytes(secret.verifying_key().as_bytes()).unwrap();
        let body = br#"{"amount":"1.00"}"#;
        let map = headers_for(
            &secret,
            "POST",
            "/v1/transfers?x=1",
            body,
            1_000,
            NONCE,
            "dev_a",
        );
        let parsed = parse(&map).unwrap();
        verify(&key, "POST", "/v1/transfers?x=1", body, &parsed).unwrap();

        let err = |r: Result<(), IdentityError>| matches!(r, Err(IdentityError::SignatureInvalid));
        assert!(err(verify(&key, "PUT", "/v1/transfers?x=1", body, &parsed)));
        assert!(err(verify(
            &key,
            "POST",
            "/v1/transfers?x=2",
            body,
            &parsed
        )));
        assert!(err(verify(&key, "POST", "/v1/transfers", body, &parsed)));
        assert!(err(verify(
            &key,
            "POST",
            "/v1/transfers?x=1",
            br#"{"amount":"9.00"}"#,
            &parsed
        )));
        let mut other = parsed.clone();
        other.timestamp_ms += 1;
        assert!(err(verify(&key, "POST", "/v1/transfers?x=1", body, &other)));
        let mut other = parsed.clone();
        other.nonce.push('x');
        assert!(err(verify(&key, "POST", "/v1/transfers?x=1", body, &other)));
        let mut other = parsed.clone();
        other.device_id = "dev_b".into();
        assert!(err(verify(&key, "POST", "/v1/transfers?x=1", body, &other)));

        let wrong = SigningKey::from_bytes(&[10; 32]);
        let wrong_key = PublicKey::from_bytes(wrong.verifying_key().as_bytes()).unwrap();
        assert!(err(verify(
            &wrong_key,
            "POST",
            "/v1/transfers?x=1",
            body,
            &parsed
        )));
    }

    #[test]
    fn missing_and_malformed_headers_are_named() {
        let secret = SigningKey::from_bytes(&[9; 32]);
        let good = headers_for(&secret, "POST", "/", b"", 1, NONCE, "dev_a");
        for name in [
            HEADER_DEVICE_ID,
            HEADER_TIMESTAMP,
            HEADER_NONCE,
            HEADER_SIGNATURE,
        ] {
            let mut map = good.clone();
            map.remove(name);
            match parse(&map) {
                Err(IdentityError::SignatureMissing { header }) => assert_eq!(header, name),
                other => panic!("{name}: {other:?}"),
            }
        }
        let cases: [(&str, &[u8]); 15] = [
            (HEADER_DEVICE_ID, b""),
            (HEADER_DEVICE_ID, b"dev a"),
            (HEADER_DEVICE_ID, &[b'd'; 65]),
            (HEADER_DEVICE_ID, b"dev_\xff"),
            (HEADER_TIMESTAMP, b""),
            (HEADER_TIMESTAMP, b"-1"),
            (HEADER_TIMESTAMP, b"+1"),
            (HEADER_TIMESTAMP, b"1.5"),
            (HEADER_TIMESTAMP, b"01"),
            (HEADER_TIMESTAMP, b"9999999999999999"),
            (HEADER_NONCE, b"short"),
            (HEADER_NONCE, b"n0nce n0nce n0nce"),
            (HEADER_NONCE, &[b'n'; 65]),
            (HEADER_SIGNATURE, b"AAAA"),
            (HEADER_SIGNATURE, &[b'*'; 86]),
        ];
        for (name, value) in cases {
            let mut map = good.clone();
            map.insert(name, value.to_vec());
            match parse(&map) {
                Err(IdentityError::SignatureMalformed { header }) => assert_eq!(header, name),
                other => panic!("{name} = {value:?}: {other:?}"),
            }
        }
    }

    /// The test vector of docs/formats.md, section "Device request signature", read from the doc.
    #[test]
    fn doc_test_vector_matches() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/formats.md");
        let doc = std::fs::read_to_string(path).expect("docs/formats.md is readable");
        let section = doc
            .split("## Device request signature")
            .nth(1)
            .expect("the doc has a Device request signature section");
        let vector = section
            .split("### Test vector")
            .nth(1)
            .expect("a test vector");
        let mut blocks = vector
            .split("```text\n")
            .skip(1)
            .map(|b| b.split("```").next().unwrap());
        let fields: HashMap<&str, &str> = blocks
            .next()
            .expect("the key = value block")
            .lines()
            .filter_map(|line| line.split_once(" = "))
            .map(|(k, v)| (k.trim(), v))
            .collect();
        let message_block = blocks.next().expect("the message block");
        let field = |name: &str| *fields.get(name).unwrap_or_else(|| panic!("field {name}"));

        let seed: [u8; 32] = data_encoding::HEXLOWER
            .decode(field("secret_key_seed_hex").as_bytes())
            .unwrap()
            .try_into()
            .unwrap();
        let secret = SigningKey::from_bytes(&seed);
        let key = field("public_key").parse::<PublicKey>().unwrap();
        assert_eq!(key.to_bytes(), secret.verifying_key().to_bytes());

        let body = field("body").as_bytes();
        let timestamp_ms: i64 = field("timestamp").parse().unwrap();
        let message = device_signature_message(
            field("method"),
            field("path_and_query"),
            body,
            timestamp_ms,
            field("nonce"),
            field("device_id"),
        );
        assert_eq!(
            String::from_utf8(message.clone()).unwrap(),
            message_block.trim_end_matches('\n')
        );
        let body_line = std::str::from_utf8(&message)
            .unwrap()
            .lines()
            .nth(3)
            .unwrap();
        assert_eq!(body_line, field("body_sha256"));
        let signature = B64.encode(&secret.sign(&message).to_bytes());
        assert_eq!(signature, field("signature"));

        // And the server's own parsing and verification accept it.
        let map = HashMap::from([
            (HEADER_DEVICE_ID, field("device_id").as_bytes().to_vec()),
            (HEADER_TIMESTAMP, field("timestamp").as_bytes().to_vec()),
            (HEADER_NONCE, field("nonce").as_bytes().to_vec()),
            (HEADER_SIGNATURE, field("signature").as_bytes().to_vec()),
        ]);
        let headers = parse(&map).unwrap();
        verify(
            &key,
            field("method"),
            field("path_and_query"),
            body,
            &headers,
        )
        .unwrap();
    }

    #[test]
    fn freshness_window_is_five_minutes_each_way() {
        let now = 1_700_000_000_000;
        check_fresh(now, now).unwrap();
        check_fresh(now - 300_000, now).unwrap();
        check_fresh(now + 300_000, now).unwrap();
        assert!(matches!(
            check_fresh(now - 300_001, now),
            Err(IdentityError::SignatureStale)
        ));
        assert!(matches!(
            check_fresh(now + 300_001, now),
            Err(IdentityError::SignatureStale)
        ));
        assert!(matches!(
            check_fresh(0, now),
            Err(IdentityError::SignatureStale)
        ));
    }
}
