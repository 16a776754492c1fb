//! Slack's request signing, version `v0`: Slack sends `X-Slack-Request-Timestamp` (Unix
//! seconds) and `X-Slack-Signature` = `v0=` + the hex HMAC-SHA256 of
//! `v0:{timestamp}:{body}` under the app's signing secret. A request older or newer
//! than [`MAX_AGE_SECS`] is refused whatever its signature, so a captured request
//! cannot be replayed later. No secret is ever logged or printed.

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// The header that carries a request's signature.
pub const SIGNATURE_HEADER: &str = "X-Slack-Signature";
/// The header that carries when Slack signed the request, in Unix seconds.
pub const TIMESTAMP_HEADER: &str = "X-Slack-Request-Timestamp";
/// Set when Slack sends an Events API request again (1, 2, 3) because it had no 2xx
/// within 3 seconds.
pub const RETRY_NUM_HEADER: &str = "X-Slack-Retry-Num";
/// Why Slack retried: `http_timeout`, `http_error`, ...
pub const RETRY_REASON_HEADER: &str = "X-Slack-Retry-Reason";

/// How far, in seconds and either way, a request's timestamp may be from lucid's clock.
pub const MAX_AGE_SECS: u64 = 300;

const VERSION: &str = "v0";
const PREFIX: &str = "v0=";

/// Why a request's signature was refused. Every one of them is a 401, and nothing of
/// the request is stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the X-Slack-Request-Timestamp header is missing")]
    MissingTimestamp,
    #[error("the X-Slack-Request-Timestamp header is not a number of seconds")]
    MalformedTimestamp,
    #[error(
        "the X-Slack-Request-Timestamp is {skew_secs} s away from lucid's clock (at most \
         300 s are allowed): a replayed request, or a clock out of sync"
    )]
    Stale { skew_secs: u64 },
    #[error("the X-Slack-Signature header is missing")]
    MissingSignature,
    #[error("the X-Slack-Signature header is malformed: {0}")]
    Malformed(&'static str),
    #[error("the X-Slack-Signature signature does not match the Slack app's signing secret")]
    Mismatch,
}

/// Checks a request from Slack: `timestamp` and `signature` are the
/// `X-Slack-Request-Timestamp` and `X-Slack-Signature` values (`None` when absent),
/// `now_unix` lucid's clock in Unix seconds. The timestamp must be within
/// [`MAX_AGE_SECS`] of `now_unix`, and the signature the `v0` HMAC of the timestamp
/// and `body` under `signing_secret`, compared in constant time.
pub fn verify(
    signing_secret: &SecretString,
    timestamp: Option<&str>,
    body: &[u8],
    signature: Option<&str>,
    now_unix: i64,
) -> Result<(), SignatureError> {
    let timestamp = timestamp.ok_or(SignatureError::MissingTimestamp)?.trim();
    let seconds: i64 = timestamp
        .parse()
        .map_err(|_| SignatureError::MalformedTimestamp)?;
    let signature = signature.ok_or(SignatureError::MissingSignature)?.trim();
    let hex_digest = signature
        .strip_prefix(PREFIX)
        .ok_or(SignatureError::Malformed("it does not start with \"v0=\""))?;
    let digest = hex::decode(hex_digest)
        .map_err(|_| SignatureError::Malformed("the part after \"v0=\" is not hex"))?;
    if digest.len() != 32 {
        return Err(SignatureError::Malformed(
            "the part after \"v0=\" is not 64 hex digits",
        ));
    }
    let skew_secs = now_unix.abs_diff(seconds);
    if skew_secs > MAX_AGE_SECS {
        return Err(SignatureError::Stale { skew_secs });
    }
    // The timestamp as sent, not as re-formatted: it is part of what Slack signed.
    mac(signing_secret.expose_secret(), timestamp, body)
        .verify_slice(&digest)
        .map_err(|_| SignatureError::Mismatch)
}

/// The `X-Slack-Signature` value Slack would send for `body` at `timestamp` under
/// `secret`: for tests, and for anything that replays a request.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let digest = mac(secret, &timestamp.to_string(), body)
        .finalize()
        .into_bytes();
    format!("{PREFIX}{}", hex::encode(digest))
}

fn mac(secret: &str, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(VERSION.as_bytes());
    mac.update(b":");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const NOW: i64 = 1_531_420_618;
    const BODY: &[u8] = br#"{"token":"x","type":"url_verification","challenge":"c"}"#;

    fn secret() -> SecretString {
        SecretString::from(SECRET)
    }

    fn check(timestamp: Option<&str>, signature: Option<&str>) -> Result<(), SignatureError> {
        verify(&secret(), timestamp, BODY, signature, NOW)
    }

    #[test]
    fn matches_slacks_documented_example() {
        // From Slack's "Verifying requests from Slack" page.
        let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow\
                    &channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA\
                    &user_name=roadrunner&command=%2Fwebhook-collect&text=\
                    &response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F\
                    397700885554%2F96rGlfmibIGlgcZRskXaIFfN\
                    &trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let expected = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
        assert_eq!(sign(SECRET, 1531420618, body.as_bytes()), expected);
        assert_eq!(
            verify(
                &secret(),
                Some("1531420618"),
                body.as_bytes(),
                Some(expected),
                NOW
            ),
            Ok(())
        );
    }

    #[test]
    fn a_valid_signature_is_accepted() {
        let signature = sign(SECRET, NOW, BODY);
        assert_eq!(check(Some(&NOW.to_string()), Some(&signature)), Ok(()));
    }

    #[test]
    fn a_signature_made_with_another_secret_is_refused() {
        let signature = sign("wrong", NOW, BODY);
        assert_eq!(
            check(Some(&NOW.to_string()), Some(&signature)),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn a_tampered_body_or_timestamp_is_refused() {
        let signature = sign(SECRET, NOW, BODY);
        assert_eq!(
            verify(
                &secret(),
                Some(&NOW.to_string()),
                b"{}",
                Some(&signature),
                NOW
            ),
            Err(SignatureError::Mismatch)
        );
        let moved = (NOW - 1).to_string();
        assert_eq!(
            check(Some(&moved), Some(&signature)),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn requests_within_five_minutes_either_way_are_accepted() {
        for at in [NOW - 300, NOW + 300] {
            let signature = sign(SECRET, at, BODY);
            assert_eq!(check(Some(&at.to_string()), Some(&signature)), Ok(()));
        }
    }

    #[test]
    fn stale_and_future_timestamps_are_refused_even_when_signed() {
        for (at, skew_secs) in [(NOW - 301, 301), (NOW + 301, 301), (0, NOW as u64)] {
            let signature = sign(SECRET, at, BODY);
            let err = check(Some(&at.to_string()), Some(&signature)).unwrap_err();
            assert_eq!(err, SignatureError::Stale { skew_secs });
            assert!(err.to_string().contains("replayed"), "{err}");
        }
        // Extreme values neither overflow nor pass.
        let at = i64::MIN;
        let signature = sign(SECRET, at, BODY);
        assert!(matches!(
            verify(
                &secret(),
                Some(&at.to_string()),
                BODY,
                Some(&signature),
                i64::MAX
            ),
            Err(SignatureError::Stale { .. })
        ));
    }

    #[test]
    fn missing_headers_are_refused() {
        let signature = sign(SECRET, NOW, BODY);
        assert_eq!(
            check(None, Some(&signature)),
            Err(SignatureError::MissingTimestamp)
        );
        assert_eq!(
            check(Some(&NOW.to_string()), None),
            Err(SignatureError::MissingSignature)
        );
        assert_eq!(check(None, None), Err(SignatureError::MissingTimestamp));
        assert!(
            SignatureError::MissingSignature
                .to_string()
                .contains(SIGNATURE_HEADER)
        );
        assert!(
            SignatureError::MissingTimestamp
                .to_string()
                .contains(TIMESTAMP_HEADER)
        );
    }

    #[test]
    fn malformed_headers_are_refused_with_the_reason() {
        let now = NOW.to_string();
        let valid_hex = sign(SECRET, NOW, BODY)[PREFIX.len()..].to_owned();
        for timestamp in ["", "soon", "1531420618.5", "0x5b475dca"] {
            let signature = sign(SECRET, NOW, BODY);
            assert_eq!(
                check(Some(timestamp), Some(&signature)),
                Err(SignatureError::MalformedTimestamp),
                "{timestamp:?}"
            );
        }
        for (signature, reason) in [
            ("", "start with"),
            (valid_hex.as_str(), "start with"),
            ("v1=0123", "start with"),
            ("v0=", "64 hex digits"),
            ("v0=xyz", "not hex"),
            ("v0=abcd", "64 hex digits"),
        ] {
            let err = check(Some(&now), Some(signature)).unwrap_err();
            assert!(
                matches!(err, SignatureError::Malformed(_)) && err.to_string().contains(reason),
                "{signature:?} gave {err}"
            );
        }
    }

    #[test]
    fn uppercase_hex_and_surrounding_whitespace_are_accepted() {
        let signature = sign(SECRET, NOW, BODY);
        let upper = format!(" {PREFIX}{} ", signature[PREFIX.len()..].to_uppercase());
        assert_eq!(check(Some(&format!(" {NOW} ")), Some(&upper)), Ok(()));
    }

    #[test]
    fn errors_never_show_the_secret_or_the_signature() {
        let signature = sign("wrong", NOW, BODY);
        let err = check(Some(&NOW.to_string()), Some(&signature)).unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(SECRET) && !shown.contains(&signature[PREFIX.len()..]));
    }
}
