//! `X-Notion-Signature`: once a subscription is verified, Notion signs each event's
//! body with HMAC-SHA256 under the subscription's verification token and sends
//! `sha256=<hex>`.

use crate::chat::signature::{SignatureError, SignatureHeader};
use secrecy::SecretString;

/// The header that carries an event's signature.
pub const SIGNATURE_HEADER: &str = "X-Notion-Signature";

const SIGNED: SignatureHeader = SignatureHeader {
    name: SIGNATURE_HEADER,
    when_missing: "Notion signs events only once the subscription is verified with the token lucid was sent",
};

/// Checks that `header` (`None` when absent) is the HMAC-SHA256 of `body` under the
/// subscription's verification `token`.
pub fn verify(
    token: &SecretString,
    body: &[u8],
    header: Option<&str>,
) -> Result<(), SignatureError> {
    SIGNED.verify(std::slice::from_ref(token), body, header)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::signature::sign;

    const BODY: &[u8] = br#"{"id":"1782edd6","type":"page.properties_updated"}"#;
    const TOKEN: &str = "secret_tMrlL1qK5vuQAh1b6cZGhFChZTSYJlce98V0pYn7yBl";

    #[test]
    fn an_event_signed_with_the_verification_token_is_accepted_and_no_other() {
        let token = SecretString::from(TOKEN);
        assert_eq!(verify(&token, BODY, Some(&sign(TOKEN, BODY))), Ok(()));
        let refused = verify(&token, BODY, Some(&sign("secret_other", BODY))).unwrap_err();
        assert_eq!(
            refused,
            SignatureError::Mismatch {
                header: SIGNATURE_HEADER
            }
        );
        assert!(!format!("{refused} {refused:?}").contains(TOKEN));
        let missing = verify(&token, BODY, None).unwrap_err();
        assert!(
            missing
                .to_string()
                .contains("X-Notion-Signature header is missing")
        );
    }
}
