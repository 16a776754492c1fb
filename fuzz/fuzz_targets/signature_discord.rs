//! Discord's Ed25519 signature over `<timestamp><body>` (`X-Signature-Ed25519`,
//! `X-Signature-Timestamp`), checked as `DiscordPlatform::verify` checks it (serenity's
//! `Verifier`). The input is the signature line, the timestamp line (each absent when
//! not UTF-8), then the body. Any headers are answered without a panic, only what the
//! key signed is accepted, and what it signs is.
#![no_main]
use ed25519_dalek::{Signer, SigningKey};
use libfuzzer_sys::fuzz_target;
use serenity::interactions_endpoint::Verifier;
use std::sync::LazyLock;

static KEY: LazyLock<SigningKey> = LazyLock::new(|| SigningKey::from_bytes(&[7; 32]));
static VERIFIER: LazyLock<Verifier> =
    LazyLock::new(|| Verifier::try_new(KEY.verifying_key().to_bytes()).unwrap());

/// `DiscordPlatform::verify`, which needs a whole platform to call.
fn verify(signature: Option<&str>, timestamp: Option<&str>, body: &[u8]) -> bool {
    match (signature, timestamp) {
        (Some(signature), Some(timestamp)) => VERIFIER.verify(signature, timestamp, body).is_ok(),
        _ => false,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fuzz_target!(|data: &[u8]| {
    let ([signature, ts], body) = lucid_fuzz::lines::<2>(data);
    let accepted = verify(signature, ts, body);
    let message = [ts.unwrap_or_default().as_bytes(), body].concat();
    let real = KEY.sign(&message).to_bytes();
    if accepted {
        // Read as serenity reads it: two hex digits a byte (Rust's radix parse also
        // takes a sign, "+f"), so compare the bytes, not the text.
        let given = signature.unwrap();
        let bytes: Vec<u8> = (0..64)
            .map(|i| u8::from_str_radix(&given[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        assert_eq!(bytes, real, "accepted a signature the key did not make");
    }
    let ts = ts.unwrap_or_default();
    assert!(verify(Some(&hex(&real)), Some(ts), body));
    assert!(!verify(Some(&hex(&real)), None, body));
});
