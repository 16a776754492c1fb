//! `sha256=<hex>` signatures: the HMAC-SHA256 of a request's raw body under a secret
//! shared with the platform, as GitHub (`X-Hub-Signature-256`, the webhook's secret)
//! and Notion (`X-Notion-Signature`, the subscription's verification token) send them.
//! Several secrets may be accepted, so that one can rotate without dropping requests.
//! No secret or signature is ever logged or printed.

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

const PREFIX: &str = "sha256=";

/// A platform's signature header: its name, and what to do when it is missing.
#[derive(Clone, Copy, Debug)]
pub struct SignatureHeader {
    pub name: &'static str,
    pub when_missing: &'static str,
}

/// Why a request's signature was refused. Every one of them is a 401, and nothing of
/// the request is stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the {header} header is missing: {hint}")]
    Missing {
        header: &'static str,
        hint: &'static str,
    },
    #[error("the {header} header is malformed: {reason}")]
    Malformed {
        header: &'static str,
        reason: &'static str,
    },
    #[error("the {header} signature matches none of the configured secrets")]
    Mismatch { header: &'static str },
}

impl SignatureHeader {
    /// Checks that `value` (the header's value, `None` when absent) is the
    /// HMAC-SHA256 of `body` under one of `secrets`. The comparison is constant-time,
    /// and every secret is tried, so timing tells neither the signature nor which
    /// secret matched. With no secrets at all nothing is accepted.
    pub fn verify(
        &self,
        secrets: &[SecretString],
        body: &[u8],
        value: Option<&str>,
    ) -> Result<(), SignatureError> {
        let header = self.name;
        let malformed = |reason| SignatureError::Malformed { header, reason };
        let value = value
            .ok_or(SignatureError::Missing {
                header,
                hint: self.when_missing,
            })?
            .trim();
        let hex_digest = value
            .strip_prefix(PREFIX)
            .ok_or(malformed("it does not start with \"sha256=\""))?;
        let signature = hex::decode(hex_digest)
            .map_err(|_| malformed("the part after \"sha256=\" is not hex"))?;
        if signature.len() != 32 {
            return Err(malformed("the part after \"sha256=\" is not 64 hex digits"));
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
            Err(SignatureError::Mismatch { header })
        }
    }
}

/// The header value a platform would send for `body` under `secret`: for tests, and
/// for anything that replays a request.
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
    const HEADER: SignatureHeader = SignatureHeader {
        name: "X-Test-Signature",
        when_missing: "sign the requests",
    };

    fn secrets(values: &[&str]) -> Vec<SecretString> {
        values.iter().map(|s| SecretString::from(*s)).collect()
    }

    fn verify(
        secrets: &[SecretString],
        body: &[u8],
        value: Option<&str>,
    ) -> Result<(), SignatureError> {
        HEADER.verify(secrets, body, value)
    }

    const MISMATCH: SignatureError = SignatureError::Mismatch {
        header: "X-Test-Signature",
    };

    #[test]
    fn a_valid_signature_is_accepted() {
        let header = sign("s3cret", BODY);
        assert_eq!(verify(&secrets(&["s3cret"]), BODY, Some(&header)), Ok(()));
    }

    #[test]
    fn a_signature_made_with_another_secret_is_refused() {
        let header = sign("wrong", BODY);
        let refused = verify(&secrets(&["s3cret"]), BODY, Some(&header));
        assert_eq!(refused, Err(MISMATCH));
        assert!(
            refused
                .unwrap_err()
                .to_string()
                .contains("X-Test-Signature")
        );
    }

    #[test]
    fn the_second_of_two_secrets_is_accepted_while_a_secret_rotates() {
        for secret in ["old", "new"] {
            let header = sign(secret, BODY);
            assert_eq!(
                verify(&secrets(&["old", "new"]), BODY, Some(&header)),
                Ok(())
            );
        }
    }

    #[test]
    fn no_secret_accepts_nothing() {
        let header = sign("", BODY);
        assert_eq!(verify(&[], BODY, Some(&header)), Err(MISMATCH));
    }

    #[test]
    fn a_missing_header_says_which_and_what_to_do() {
        let err = verify(&secrets(&["s3cret"]), BODY, None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the X-Test-Signature header is missing: sign the requests"
        );
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
                matches!(err, SignatureError::Malformed { .. }) && err.to_string().contains(reason),
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
            Err(MISMATCH)
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
