//! The `sha256=<hex>` HMAC signatures GitHub (`X-Hub-Signature-256`, with rotating
//! secrets) and Notion (`X-Notion-Signature`) send. The first byte picks the platform
//! (odd: Notion), then the header's value (a line, absent when not UTF-8) and the body.
//! Any header is answered without a panic, what is accepted was signed with one of
//! the secrets, and what lucid signs (as the platform would) is accepted, in upper
//! case and with spaces around too.
#![no_main]
use libfuzzer_sys::fuzz_target;
use lucid::chat::signature::sign;
use secrecy::SecretString;

/// GitHub's documented example secret, and one it rotates to.
const SECRETS: [&str; 2] = ["It's a Secret to Everybody", "rotated secret"];
const NOTION_TOKEN: &str = "secret_tMrlL1qK5vuQAh1b6cZGhFChZTSYJlce98V0pYn7yBl";

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let notion = mode % 2 == 1;
    let ([header], body) = lucid_fuzz::lines::<1>(rest);
    let secrets: Vec<&str> = if notion {
        vec![NOTION_TOKEN]
    } else {
        SECRETS.to_vec()
    };
    let kept: Vec<SecretString> = secrets.iter().map(|s| (*s).into()).collect();
    let check = |header: Option<&str>| {
        if notion {
            lucid::notion::inbound::verify(&kept[0], body, header)
        } else {
            lucid::github::inbound::verify(&kept, body, header)
        }
    };
    match check(header) {
        Ok(()) => {
            let given = header.unwrap().trim().to_ascii_lowercase();
            assert!(
                secrets.iter().any(|s| sign(s, body) == given),
                "accepted a signature none of the secrets made"
            );
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
    for secret in secrets {
        let signed = sign(secret, body);
        assert!(check(Some(&signed)).is_ok());
        let shouted = format!(
            " sha256={} ",
            signed["sha256=".len()..].to_ascii_uppercase()
        );
        assert!(check(Some(&shouted)).is_ok());
    }
    // No secrets at all accepts nothing.
    assert!(lucid::github::inbound::verify(&[], body, header).is_err());
});
