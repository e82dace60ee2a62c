//! Fuzz target `webhook_signature`: any bytes as a `t=…,v1=…` webhook signature header and body,
//! through the one verifier (`purse_server::providers::verify`, which the merchant webhook
//! receiver check `webhooks::signature::verify` also uses). It must never panic, a fuzzed header
//! never verifies, a header the signer wrote for the fuzzed body and time always does within the
//! tolerance and never outside it.
//! Run it as fuzz/README.md says.
#![no_main]

use libfuzzer_sys::fuzz_target;
use purse_server::providers::{self, SignatureError};
use purse_server::webhooks::signature;

const NOW_S: i64 = 1_700_000_000;
const TOLERANCE_S: u64 = 300;

fuzz_target!(|data: &[u8]| {
    let (header, body) = match data.iter().position(|&b| b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let header = String::from_utf8_lossy(header);
    let secrets = ["whsec_fuzz_current".to_owned(), "whsec_fuzz_old".to_owned()];

    // Nobody forges an HMAC by mutation.
    let result = providers::verify(&secrets, Some(&header), body, NOW_S, TOLERANCE_S);
    assert!(
        matches!(
            result,
            Err(SignatureError::Malformed | SignatureError::Stale | SignatureError::Invalid)
        ),
        "fuzzed header {header:?}: {result:?}"
    );
    assert_eq!(
        signature::verify(&secrets, Some(&header), body, NOW_S).is_ok(),
        false
    );

    // A timestamp from the first bytes, signed for real.
    let t = i64::from_le_bytes(
        data.iter()
            .copied()
            .chain(std::iter::repeat(0))
            .take(8)
            .collect::<Vec<u8>>()
            .try_into()
            .expect("8 bytes"),
    );
    let signed = providers::sign(&secrets[1..], t, body);
    let fresh = NOW_S.abs_diff(t) <= TOLERANCE_S;
    let result = providers::verify(&secrets, Some(&signed), body, NOW_S, TOLERANCE_S);
    if fresh {
        assert_eq!(result, Ok(()), "{signed}");
    } else {
        assert_eq!(result, Err(SignatureError::Stale), "{signed}");
    }
    // The merchant webhook signer writes the same header.
    assert_eq!(signature::header(&["whsec_fuzz_old"], t, body), signed);
});
