//! Who lucid is on GitHub right now. GitHub's platform and forge read it at each use
//! rather than keeping their own copy, because `lucid setup github` may connect a new
//! App while lucid runs: the webhook is then checked with the App's secret and tokens
//! are minted with its key from the next request on, without a restart.

use super::outbound::client::{GithubClient, GithubError};
use crate::config::GithubSettings;
use secrecy::SecretString;
use std::sync::{Arc, RwLock};

/// One connection to GitHub, replaced whole so that a request never mixes two.
pub struct Identity {
    /// The secrets a delivery may be signed with (several while one rotates).
    pub webhook_secrets: Vec<SecretString>,
    /// The login people mention, and whose comments never trigger.
    pub bot_login: String,
    /// The API client, signed in with the token or as the App.
    pub client: Arc<GithubClient>,
}

/// The current [`Identity`], or none until GitHub is connected.
#[derive(Default)]
pub struct GithubLink {
    current: RwLock<Option<Arc<Identity>>>,
}

impl GithubLink {
    /// Connected as the settings say, for good (settings are read once, at start).
    pub fn from_settings(settings: &GithubSettings) -> Result<Arc<Self>, GithubError> {
        Ok(Self::connected(Identity {
            webhook_secrets: settings.webhook_secrets.clone(),
            bot_login: settings.bot_login.clone(),
            client: Arc::new(GithubClient::new(settings)?),
        }))
    }

    pub fn connected(identity: Identity) -> Arc<Self> {
        let link = Self::awaiting_setup();
        link.replace(identity);
        link
    }

    /// Not connected yet: deliveries are refused and nothing reaches GitHub until
    /// [`GithubLink::replace`].
    pub fn awaiting_setup() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn current(&self) -> Option<Arc<Identity>> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// From now on, every request uses `identity`; requests already running finish
    /// with the one they took.
    pub fn replace(&self, identity: Identity) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(identity));
    }

    /// The current identity, or the error a session or a thread is told.
    pub fn require(&self) -> anyhow::Result<Arc<Identity>> {
        self.current()
            .ok_or_else(|| anyhow::anyhow!(crate::messages::github_not_connected()))
    }
}
