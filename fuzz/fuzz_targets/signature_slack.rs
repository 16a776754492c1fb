//! Slack's `v0=<hex>` signature over `v0:<timestamp>:<body>`, the timestamp's age
//! checked against lucid's clock. The input is the `X-Slack-Request-Timestamp` line,
//! the `X-Slack-Signature` line (each absent when not UTF-8), then the body; lucid's
//! clock is Slack's documented example's. Any headers are answered without a panic,
//! a stale timestamp is never accepted, and what Slack would sign within five minutes
//! is.
#![no_main]
use libfuzzer_sys::fuzz_target;
use lucid::slack::inbound::{MAX_AGE_SECS, sign, verify};
use secrecy::SecretString;

/// Slack's documented example (api.slack.com/authentication/verifying-requests-from-slack).
const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const NOW: i64 = 1_531_420_618;

fuzz_target!(|data: &[u8]| {
    let secret = SecretString::from(SECRET);
    let ([timestamp, signature], body) = lucid_fuzz::lines::<2>(data);
    match verify(&secret, timestamp, body, signature, NOW) {
        Ok(()) => {
            let sent: i64 = timestamp.unwrap().trim().parse().unwrap();
            assert!(
                sent.abs_diff(NOW) <= MAX_AGE_SECS,
                "a stale request was accepted"
            );
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
    // What Slack signs now (give or take its clock) is accepted; past five minutes not.
    let skew = (body.len() as i64 % 701) - 350;
    let at = NOW + skew;
    let signed = sign(SECRET, at, body);
    let ok = verify(&secret, Some(&at.to_string()), body, Some(&signed), NOW);
    assert_eq!(ok.is_ok(), skew.unsigned_abs() <= MAX_AGE_SECS, "{ok:?}");
    // Or any other clock.
    if let Some(seconds) = timestamp.and_then(|t| t.trim().parse::<i64>().ok()) {
        let signed = sign(SECRET, seconds, body);
        assert!(
            verify(
                &secret,
                Some(&seconds.to_string()),
                body,
                Some(&signed),
                seconds
            )
            .is_ok()
        );
    }
});
