//! Who may see lucid's pages: operators signed in with the API token or the UI password
//! (a signed cookie, with a form token derived from it against cross-site requests),
//! and anyone holding a session's share token (that one session, read-only).
//!
//! Every key here is derived from the operator's settings, so replicas agree without
//! sharing state: `LUCID_SECRET_KEY` when set, otherwise the passwords themselves.
//! Changing a password signs everyone out; changing the key behind share links (the
//! secret key, or without it the API token) turns the links already posted off.

use crate::config::Settings;
use crate::core::{SessionId, Timestamp};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// How long a sign-in lasts.
pub const SIGN_IN_FOR_SECS: i64 = 7 * 24 * 3600;

pub struct Access {
    /// SHA-256 of each password that signs in (the API token, the UI password).
    passwords: Vec<[u8; 32]>,
    /// Signs the sign-in cookie and its form tokens; `None` with no password set.
    signing: Option<[u8; 32]>,
    /// Derives the share token of each session's posted link; `None` when share links
    /// are off or nothing secret is set to derive them from.
    sharing: Option<[u8; 32]>,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access")
            .field("passwords", &self.passwords.len())
            .field("sharing", &self.sharing.is_some())
            .finish()
    }
}

impl Access {
    pub fn from_settings(settings: &Settings) -> Self {
        Self::new(
            settings.api_token.as_ref(),
            settings.ui_password.as_ref(),
            settings.secret_key.as_ref().map(|k| k.derive("lucid web")),
            settings.share_links,
        )
    }

    pub fn new(
        api_token: Option<&SecretString>,
        ui_password: Option<&SecretString>,
        secret: Option<[u8; 32]>,
        share_links: bool,
    ) -> Self {
        let passwords: Vec<[u8; 32]> = [api_token, ui_password]
            .into_iter()
            .flatten()
            .map(|p| Sha256::digest(p.expose_secret().as_bytes()).into())
            .collect();
        // Without a secret key the passwords are the only secret there is.
        let base = secret.or_else(|| {
            api_token
                .or(ui_password)
                .map(|p| mac(b"lucid web", &[p.expose_secret().as_bytes()]))
        });
        let signing = base.filter(|_| !passwords.is_empty()).map(|base| {
            let mut parts: Vec<&[u8]> = vec![b"sign-in"];
            parts.extend(passwords.iter().map(|p| p.as_slice()));
            mac(&base, &parts)
        });
        let sharing = base
            .filter(|_| share_links)
            .map(|base| mac(&base, &[b"share links"]));
        Self {
            passwords,
            signing,
            sharing,
        }
    }

    /// Whether anyone can sign in at all.
    pub fn can_sign_in(&self) -> bool {
        self.signing.is_some()
    }

    pub fn shares_links(&self) -> bool {
        self.sharing.is_some()
    }

    pub fn is_password(&self, given: &str) -> bool {
        let given: [u8; 32] = Sha256::digest(given.as_bytes()).into();
        // Every password is compared, so the time taken says nothing of which matched.
        self.passwords
            .iter()
            .fold(false, |matched, p| matched | bool::from(p.ct_eq(&given)))
    }

    /// A sign-in cookie's value, valid until `now` plus [`SIGN_IN_FOR_SECS`].
    pub fn sign_in(&self, now: Timestamp) -> Option<String> {
        let key = self.signing?;
        let until = now.as_millis() / 1000 + SIGN_IN_FOR_SECS;
        let signature =
            URL_SAFE_NO_PAD.encode(mac(&key, &[b"until", until.to_string().as_bytes()]));
        Some(format!("{until}.{signature}"))
    }

    pub fn is_signed_in(&self, cookie: &str, now: Timestamp) -> bool {
        let (Some(key), Some((until, signature))) = (self.signing, cookie.split_once('.')) else {
            return false;
        };
        let Ok(until_secs) = until.parse::<i64>() else {
            return false;
        };
        let expected = URL_SAFE_NO_PAD.encode(mac(&key, &[b"until", until.as_bytes()]));
        bool::from(expected.as_bytes().ct_eq(signature.as_bytes()))
            && until_secs > now.as_millis() / 1000
    }

    /// The token a signed-in page's forms carry: a cross-site page can send the cookie
    /// (SameSite aside) but cannot read this.
    pub fn form_token(&self, cookie: &str) -> String {
        let key = self.signing.unwrap_or_default();
        URL_SAFE_NO_PAD.encode(mac(&key, &[b"form", cookie.as_bytes()]))
    }

    pub fn is_form_token(&self, cookie: &str, given: &str) -> bool {
        self.signing.is_some()
            && bool::from(self.form_token(cookie).as_bytes().ct_eq(given.as_bytes()))
    }

    /// The share token of the link lucid posts for `session`.
    pub fn posted_share(&self, session: SessionId) -> Option<String> {
        let key = self.sharing?;
        Some(URL_SAFE_NO_PAD.encode(mac(&key, &[b"session", session.to_string().as_bytes()])))
    }

    /// The key in a signed-in operator's preview address (share links may be off).
    pub fn preview_key(&self, session: SessionId) -> Option<String> {
        let key = self.signing?;
        Some(URL_SAFE_NO_PAD.encode(mac(&key, &[b"preview", session.to_string().as_bytes()])))
    }

    pub fn is_preview_key(&self, session: SessionId, given: &str) -> bool {
        self.preview_key(session)
            .is_some_and(|key| bool::from(key.as_bytes().ct_eq(given.as_bytes())))
    }

    pub fn is_posted_share(&self, session: SessionId, given: &str) -> bool {
        self.posted_share(session)
            .is_some_and(|token| bool::from(token.as_bytes().ct_eq(given.as_bytes())))
    }
}

/// A new share token, for a link made by hand: random, so it is kept (hashed).
pub fn new_share_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What the store keeps of a share token.
pub fn share_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn mac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    for part in parts {
        // Each part's length first, so that no two lists of parts sign alike.
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    fn access(share: bool) -> Access {
        Access::new(
            Some(&secret("api-token-0123456789")),
            Some(&secret("ui-password-123")),
            None,
            share,
        )
    }

    #[test]
    fn either_password_signs_in_and_nothing_else_does() {
        let a = access(true);
        assert!(a.is_password("api-token-0123456789"));
        assert!(a.is_password("ui-password-123"));
        assert!(!a.is_password("ui-password-12"));
        assert!(!a.is_password(""));
        let none = Access::new(None, None, None, true);
        assert!(!none.can_sign_in() && !none.is_password(""));
        assert!(!none.shares_links(), "nothing secret to derive links from");
        let keyed_only = Access::new(None, None, Some([7; 32]), true);
        assert!(!keyed_only.can_sign_in() && keyed_only.shares_links());
    }

    #[test]
    fn a_sign_in_cookie_holds_until_it_expires_and_cannot_be_forged() {
        let a = access(true);
        let now = Timestamp::from_millis(1_000_000_000_000);
        let cookie = a.sign_in(now).unwrap();
        assert!(a.is_signed_in(&cookie, now));
        let later = Timestamp::from_millis(now.as_millis() + SIGN_IN_FOR_SECS * 1000 + 1000);
        assert!(!a.is_signed_in(&cookie, later));
        let (until, signature) = cookie.split_once('.').unwrap();
        let longer = format!("{}.{signature}", until.parse::<i64>().unwrap() + 1_000_000);
        assert!(
            !a.is_signed_in(&longer, now),
            "a changed expiry breaks the signature"
        );
        let other = Access::new(Some(&secret("another-token-0123456")), None, None, true);
        assert!(
            !other.is_signed_in(&cookie, now),
            "a new password signs everyone out"
        );
    }

    #[test]
    fn form_tokens_belong_to_their_cookie() {
        let a = access(true);
        let now = Timestamp::from_millis(1_000_000_000_000);
        let one = a.sign_in(now).unwrap();
        let two = a
            .sign_in(Timestamp::from_millis(now.as_millis() + 5000))
            .unwrap();
        assert!(a.is_form_token(&one, &a.form_token(&one)));
        assert!(!a.is_form_token(&one, &a.form_token(&two)));
        assert!(!a.is_form_token(&one, ""));
    }

    #[test]
    fn posted_share_tokens_are_per_session_and_can_be_turned_off() {
        let a = access(true);
        let (s1, s2) = (SessionId::new(), SessionId::new());
        let t1 = a.posted_share(s1).unwrap();
        assert!(t1.len() >= 43, "256 bits");
        assert!(a.is_posted_share(s1, &t1));
        assert!(!a.is_posted_share(s2, &t1));
        assert!(access(false).posted_share(s1).is_none());
        assert!(!access(false).is_posted_share(s1, &t1));
        let keyed = Access::new(None, Some(&secret("ui-password-123")), Some([7; 32]), true);
        assert!(
            keyed.posted_share(s1).is_some(),
            "the secret key alone is enough"
        );
        assert_ne!(keyed.posted_share(s1), Some(t1));
    }
}
