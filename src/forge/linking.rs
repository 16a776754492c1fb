//! Linking a person's forge account to their name on a chat platform: the forge's
//! device flow (RFC 8628) gives a short code the person enters on the forge's site;
//! lucid polls until they approve, decline, or the code expires, and gets a token
//! that acts as them. [`Linker`] is the port; GitHub implements it.

use crate::core::ForgeUser;
use async_trait::async_trait;
use secrecy::SecretString;
use std::time::Duration;

/// What the person holding a linked account's token may do on a repository.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// They may push to it.
    Write,
    /// They may not (they can only read it, or cannot see it at all).
    NoWrite,
    /// The forge refused the token (revoked, expired): the link is dead.
    TokenRefused,
}

/// A device flow begun: what the person is shown, and what lucid polls with.
pub struct DeviceCode {
    /// Only lucid sees this: whoever holds it gets the token once approved.
    pub device_code: SecretString,
    /// What the person enters at `verification_uri`.
    pub user_code: String,
    pub verification_uri: String,
    pub expires_in: Duration,
    /// The least time between two polls.
    pub interval: Duration,
}

/// One poll's answer.
pub enum Poll {
    /// Not entered yet.
    Pending,
    /// Polled too fast: wait at least this long between polls from now on.
    SlowDown(Duration),
    /// The code expired before it was entered.
    Expired,
    /// The person declined.
    Denied,
    /// Approved: a token that acts as the person.
    Token(SecretString),
}

/// The extra wait a `slow_down` asks for when the forge names no new interval
/// (RFC 8628, 3.5).
pub const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);

#[async_trait]
pub trait Linker: Send + Sync + 'static {
    /// The forge's short name (`github`), as repositories name it.
    fn forge(&self) -> &'static str;

    /// The forge's name as people know it (`GitHub`).
    fn title(&self) -> &'static str;

    /// Begins a device flow.
    async fn start(&self) -> anyhow::Result<DeviceCode>;

    /// Asks once whether the person entered the code.
    async fn poll(&self, device_code: &SecretString) -> anyhow::Result<Poll>;

    /// Whose account `token` acts as.
    async fn who(&self, token: &SecretString) -> anyhow::Result<ForgeUser>;
}
