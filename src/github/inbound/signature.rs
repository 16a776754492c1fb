//! `X-Hub-Signature-256`: GitHub signs each delivery's body with HMAC-SHA256 under the
//! webhook's secret and sends `sha256=<hex>`. Several secrets are accepted, so that a
//! secret can rotate without dropping deliveries. No secret is ever logged or printed.

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// The header that carries a delivery's signature.
pub const SIGNATURE_HEADER: &str = "X-Hub-Signature-256";

const PREFIX: &str = "sha256=";

/// Why a delivery's signature was refused. Every one of them is a 401, and nothing of
/// the delivery is stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the X-Hub-Signature-256 header is missing: set a secret on the GitHub webhook")]
    Missing,
    #[error("the X-Hub-Signature-256 header is malformed: {0}")]
    Malformed(&'static str),
    #[error("the X-Hub-Signature-256 signature matches none of the configured webhook secrets")]
    Mismatch,
}

/// Checks that `header` (the `X-Hub-Signature-256` value, `None` when absent) is the
/// HMAC-SHA256 of `body` under one of `secrets`. The comparison is constant-time, and
/// every secret is tried, so timing tells neither the signature nor which secret
/// matched. With no secrets at all nothing is accepted.
pub fn verify(
    secrets: &[SecretString],
    body: &[u8],
    header: Option<&str>,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?.trim();
    let hex_digest = header
        .strip_prefix(PREFIX)
        .ok_or(SignatureError::Malformed(
            "it does not start with \"sha256=\"",
        ))?;
    let signature = hex::decode(hex_digest)
        .map_err(|_| SignatureError::Malformed("the part after \"sha256=\" is not hex"))?;
    if signature.len() != 32 {
        return Err(SignatureError::Malformed(
            "the part after \"sha256=\" is not 64 hex digits",
        ));
    }
    let matched = secrets.iter().fold(false, |matched, secret| {
        let ok = mac(secret.expose_secret(), body)
            .verify_slice(&signature)
            .is_ok();
        matched | ok
    });
    if matched {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// The `X-Hub-Signature-256` value GitHub would send for `body` under `secret`: for
/// tests, and for anything that replays a delivery.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let digest = mac(secret, body).finalize().into_bytes();
    format!("{PREFIX}{}", hex::encode(digest))
}

fn mac(secret: &str, body: &[u8]) -> Hmac<Sha256> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(body);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = br#"{"zen":"Keep it logically awesome.","hook_id":1}"#;

    fn secrets(values: &[&str]) -> Vec<SecretString> {
        values.iter().map(|s| SecretString::from(*s)).collect()
    }

    #[test]
    fn matches_githubs_documented_example() {
        // From GitHub's "Validating webhook deliveries" page.
        assert_eq!(
            sign("It's a Secret to Everybody", b"Hello, World!"),
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
    }

    #[test]
    fn a_valid_signature_is_accepted() {
        let header = sign("s3cret", BODY);
        assert_eq!(verify(&secrets(&["s3cret"]), BODY, Some(&header)), Ok(()));
    }

    #[test]
    fn a_signature_made_with_another_secret_is_refused() {
        let header = sign("wrong", BODY);
        assert_eq!(
            verify(&secrets(&["s3cret"]), BODY, Some(&header)),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn the_second_of_two_secrets_is_accepted_while_a_secret_rotates() {
        let header = sign("new", BODY);
        assert_eq!(
            verify(&secrets(&["old", "new"]), BODY, Some(&header)),
            Ok(())
        );
        let header = sign("old", BODY);
        assert_eq!(
            verify(&secrets(&["old", "new"]), BODY, Some(&header)),
            Ok(())
        );
    }

    #[test]
    fn no_secret_accepts_nothing() {
        let header = sign("", BODY);
        assert_eq!(
            verify(&[], BODY, Some(&header)),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn a_missing_header_is_refused() {
        let err = verify(&secrets(&["s3cret"]), BODY, None).unwrap_err();
        assert_eq!(err, SignatureError::Missing);
        assert!(err.to_string().contains("X-Hub-Signature-256"));
    }

    #[test]
    fn malformed_headers_are_refused_with_the_reason() {
        let valid_hex = sign("s3cret", BODY)[PREFIX.len()..].to_owned();
        for (header, reason) in [
            ("", "start with"),
            (valid_hex.as_str(), "start with"),
            (
                "sha1=0123456789abcdef0123456789abcdef01234567",
                "start with",
            ),
            ("sha256=", "64 hex digits"),
            ("sha256=xyz", "not hex"),
            ("sha256=abcd", "64 hex digits"),
        ] {
            let err = verify(&secrets(&["s3cret"]), BODY, Some(header)).unwrap_err();
            assert!(
                matches!(err, SignatureError::Malformed(_)) && err.to_string().contains(reason),
                "{header:?} gave {err}"
            );
        }
    }

    #[test]
    fn a_tampered_body_is_refused() {
        let header = sign("s3cret", BODY);
        let tampered = br#"{"zen":"Keep it logically awesome.","hook_id":2}"#;
        assert_eq!(
            verify(&secrets(&["s3cret"]), tampered, Some(&header)),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn uppercase_hex_and_surrounding_whitespace_are_accepted() {
        let header = sign("s3cret", BODY);
        let upper = format!(" {PREFIX}{} ", header[PREFIX.len()..].to_uppercase());
        assert_eq!(verify(&secrets(&["s3cret"]), BODY, Some(&upper)), Ok(()));
    }

    #[test]
    fn errors_never_show_the_secret_or_the_signature() {
        let header = sign("wrong", BODY);
        let err = verify(&secrets(&["s3cret"]), BODY, Some(&header)).unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("s3cret") && !shown.contains(&header[PREFIX.len()..]));
    }
}
