//! Encryption of stored credentials: AES-256-GCM under the operator's
//! `LUCID_SECRET_KEY`. Each ciphertext records which key sealed it, so opening it with
//! another key is a clear error rather than garbage.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretBox, SecretString};
use sha2::{Digest, Sha256};
use std::fmt;

pub struct SecretKey(SecretBox<[u8; 32]>);

impl SecretKey {
    /// Accepts 32 bytes as base64 (what `openssl rand -base64 32` prints) or as 64 hex
    /// characters.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.chars().all(|c| c.is_ascii_hexdigit()) {
            (0..32)
                .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16))
                .collect::<Result<Vec<u8>, _>>()
                .ok()
        } else {
            base64::engine::general_purpose::STANDARD.decode(text).ok()
        };
        let bytes: [u8; 32] = bytes.and_then(|b| b.try_into().ok()).ok_or(
            "must be 32 bytes as base64 or 64 hex characters (try `openssl rand -base64 32`)",
        )?;
        Ok(Self(SecretBox::new(Box::new(bytes))))
    }

    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self(SecretBox::new(Box::new(bytes)))
    }

    /// A short public name for the key (a hash prefix), stored beside each ciphertext.
    pub fn id(&self) -> String {
        let digest = Sha256::digest(self.0.expose_secret());
        digest[..6].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// A key for another purpose (signing lucid's cookies and share links), derived so
    /// that no two purposes share key material.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        use hmac::{Hmac, Mac};
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.0.expose_secret())
            .expect("HMAC takes any key length");
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(self.0.expose_secret().into())
    }
}

/// A copy for a part that seals on its own (the GitHub App setup), kept as secret.
impl Clone for SecretKey {
    fn clone(&self) -> Self {
        Self(SecretBox::new(Box::new(*self.0.expose_secret())))
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(id {})", self.id())
    }
}

/// A sealed credential, as the store keeps it.
pub struct Sealed {
    pub key_id: String,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OpenError {
    #[error(
        "credential {name:?} was stored with key {stored} but LUCID_SECRET_KEY is key {current}: set the key it was stored with"
    )]
    WrongKey {
        name: String,
        stored: String,
        current: String,
    },
    #[error("credential {name:?} is damaged and cannot be decrypted")]
    Damaged { name: String },
}

/// Encrypts `value`, bound to `name` so a ciphertext cannot be moved to another name.
pub fn seal(key: &SecretKey, name: &str, value: &SecretString) -> Sealed {
    let mut nonce = [0u8; 12];
    rand::rng().fill_bytes(&mut nonce);
    let payload = Payload {
        msg: value.expose_secret().as_bytes(),
        aad: name.as_bytes(),
    };
    let ciphertext = key
        .cipher()
        .encrypt(Nonce::from_slice(&nonce), payload)
        .expect("AES-GCM encryption of an in-memory buffer cannot fail");
    Sealed {
        key_id: key.id(),
        nonce: nonce.to_vec(),
        ciphertext,
    }
}

pub fn open(key: &SecretKey, name: &str, sealed: &Sealed) -> Result<SecretString, OpenError> {
    if sealed.key_id != key.id() {
        return Err(OpenError::WrongKey {
            name: name.to_owned(),
            stored: sealed.key_id.clone(),
            current: key.id(),
        });
    }
    let damaged = || OpenError::Damaged {
        name: name.to_owned(),
    };
    if sealed.nonce.len() != 12 {
        return Err(damaged());
    }
    let payload = Payload {
        msg: &sealed.ciphertext,
        aad: name.as_bytes(),
    };
    let plain = key
        .cipher()
        .decrypt(Nonce::from_slice(&sealed.nonce), payload)
        .map_err(|_| damaged())?;
    String::from_utf8(plain)
        .map(SecretString::from)
        .map_err(|_| damaged())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_with_the_same_key() {
        let key = SecretKey::generate();
        let sealed = seal(&key, "github", &SecretString::from("ghp_abc"));
        assert!(!sealed.ciphertext.windows(7).any(|w| w == b"ghp_abc"));
        assert_eq!(
            open(&key, "github", &sealed).unwrap().expose_secret(),
            "ghp_abc"
        );
    }

    #[test]
    fn another_key_is_a_clear_error() {
        let sealed = seal(&SecretKey::generate(), "github", &SecretString::from("x"));
        let err = open(&SecretKey::generate(), "github", &sealed).unwrap_err();
        assert!(matches!(err, OpenError::WrongKey { .. }));
        assert!(err.to_string().contains("set the key it was stored with"));
    }

    #[test]
    fn a_ciphertext_moved_to_another_name_does_not_open() {
        let key = SecretKey::generate();
        let sealed = seal(&key, "github", &SecretString::from("x"));
        assert!(matches!(
            open(&key, "slack", &sealed),
            Err(OpenError::Damaged { .. })
        ));
    }

    #[test]
    fn keys_parse_from_base64_or_hex_and_nothing_else() {
        let b64 = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        let hex = "07".repeat(32);
        assert_eq!(
            SecretKey::parse(&b64).unwrap().id(),
            SecretKey::parse(&hex).unwrap().id()
        );
        assert!(SecretKey::parse("short").is_err());
        assert!(
            SecretKey::parse(&base64::engine::general_purpose::STANDARD.encode([1u8; 16])).is_err()
        );
    }

    #[test]
    fn debug_output_shows_the_id_not_the_key() {
        let key = SecretKey::parse(&"07".repeat(32)).unwrap();
        let debug = format!("{key:?}");
        assert!(
            debug.starts_with("SecretKey(id ") && !debug.contains("0707"),
            "{debug}"
        );
    }
}
