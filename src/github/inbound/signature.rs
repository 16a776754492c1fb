//! `X-Hub-Signature-256`: GitHub signs each delivery's body with HMAC-SHA256 under the
//! webhook's secret and sends `sha256=<hex>` (checked as every such header is, in
//! [`crate::chat::signature`]). Several secrets are accepted, so that a secret can
//! rotate without dropping deliveries.

use crate::chat::signature::SignatureHeader;
pub use crate::chat::signature::{SignatureError, sign};
use secrecy::SecretString;

/// The header that carries a delivery's signature.
pub const SIGNATURE_HEADER: &str = "X-Hub-Signature-256";

const SIGNED: SignatureHeader = SignatureHeader {
    name: SIGNATURE_HEADER,
    when_missing: "set a secret on the GitHub webhook",
};

/// Checks that `header` (the `X-Hub-Signature-256` value, `None` when absent) is the
/// HMAC-SHA256 of `body` under one of `secrets`.
pub fn verify(
    secrets: &[SecretString],
    body: &[u8],
    header: Option<&str>,
) -> Result<(), SignatureError> {
    SIGNED.verify(secrets, body, header)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_githubs_documented_example() {
        // From GitHub's "Validating webhook deliveries" page.
        let body = b"Hello, World!";
        let header = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert_eq!(sign("It's a Secret to Everybody", body), header);
        let secrets = [SecretString::from("It's a Secret to Everybody")];
        assert_eq!(verify(&secrets, body, Some(header)), Ok(()));
    }

    #[test]
    fn a_missing_header_says_to_set_a_secret_on_the_webhook() {
        let err = verify(&[SecretString::from("s3cret")], b"{}", None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the X-Hub-Signature-256 header is missing: set a secret on the GitHub webhook"
        );
    }
}
