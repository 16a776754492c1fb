//! GitHub's App-manifest flow, served by lucid: the setup page hands GitHub lucid's
//! manifest with a one-time `state`; GitHub makes the App and sends the operator back
//! with a code; lucid trades the code for the App's id, private key and webhook secret
//! (`POST /app-manifests/{code}/conversions`), seals them in its store under
//! `LUCID_SECRET_KEY`, and connects GitHub through the App at once.
//!
//! The return from GitHub is a cross-site navigation, so it carries no sign-in cookie
//! (SameSite=Strict): the `state` alone proves the operator started it. It is kept in
//! the store (any replica may get the return), lives an hour like GitHub's code, and is
//! taken once.

use super::link::{GithubLink, Identity};
use super::outbound::client::GithubClient;
use crate::config::{GithubAuth, GithubSite, Settings};
use crate::messages::GithubSetupRefusal;
use crate::store::crypto::SecretKey;
use crate::store::{Store, StoreError};
use base64::Engine;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// The one credential the App is kept in, all its parts sealed together.
pub const APP_CREDENTIAL: &str = "github.app";
/// A setup's `state` is kept under this, followed by its hash.
const STATE_PREFIX: &str = "github.app.setup_state.";
/// As long as GitHub's code lives.
const STATE_LIFETIME_SECS: i64 = 3600;
/// How often a replica looks for an App another replica's setup kept.
const FOLLOW_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// The App GitHub made, as lucid keeps it. `client_id` and `slug` are public; the
/// key and the secret never leave the store unsealed except into the client.
pub struct StoredApp {
    pub id: u64,
    /// The App's login: people mention `@slug`; it comments as `slug[bot]`.
    pub slug: String,
    /// For the device flow (signing people in through the App).
    pub client_id: String,
    pub html_url: String,
    pub private_key: SecretString,
    pub webhook_secret: SecretString,
}

impl std::fmt::Debug for StoredApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredApp")
            .field("id", &self.id)
            .field("slug", &self.slug)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// The sealed record's shape, and the conversion's answer (GitHub's field names).
#[derive(Deserialize)]
struct AppRecord {
    id: u64,
    slug: Option<String>,
    name: Option<String>,
    client_id: Option<String>,
    html_url: Option<String>,
    pem: String,
    webhook_secret: Option<String>,
}

impl StoredApp {
    /// The App `lucid setup github` kept, if any.
    pub async fn load(store: &Store, key: &SecretKey) -> Result<Option<StoredApp>, StoreError> {
        let Some(sealed) = store.credential(key, APP_CREDENTIAL).await? else {
            return Ok(None);
        };
        let record: AppRecord = serde_json::from_str(sealed.expose_secret())
            .map_err(|e| StoreError::Corrupt(format!("the stored GitHub App: {e}")))?;
        Ok(StoredApp::from_record(record).ok())
    }

    async fn save(&self, store: &Store, key: &SecretKey) -> Result<(), StoreError> {
        let record = json!({
            "id": self.id,
            "slug": self.slug,
            "client_id": self.client_id,
            "html_url": self.html_url,
            "pem": self.private_key.expose_secret(),
            "webhook_secret": self.webhook_secret.expose_secret(),
        });
        let sealed = SecretString::from(record.to_string());
        store.put_credential(key, APP_CREDENTIAL, &sealed).await
    }

    fn from_record(record: AppRecord) -> Result<StoredApp, &'static str> {
        let slug = record
            .slug
            .or(record.name)
            .ok_or("GitHub's answer names no App")?;
        let webhook_secret = record
            .webhook_secret
            .filter(|s| !s.is_empty())
            .ok_or("GitHub gave the App no webhook secret")?;
        Ok(StoredApp {
            id: record.id,
            html_url: record.html_url.unwrap_or_default(),
            client_id: record.client_id.unwrap_or_default(),
            slug,
            private_key: SecretString::from(record.pem),
            webhook_secret: SecretString::from(webhook_secret),
        })
    }

    /// Who lucid is on GitHub through this App.
    fn identity(&self, site: &GithubSite) -> Result<Identity, String> {
        let client = GithubClient::for_app(
            &site.api_url,
            self.id,
            self.private_key.expose_secret().as_bytes(),
        )
        .map_err(|e| e.to_string())?;
        Ok(Identity {
            webhook_secrets: vec![self.webhook_secret.clone()],
            bot_login: self.slug.clone(),
            client: Arc::new(client),
        })
    }
}

/// The setting that connects GitHub, when the settings do (they win over a kept App).
pub fn connected_by_settings(settings: &Settings) -> Option<&'static str> {
    settings.github.as_ref().map(|g| match g.auth {
        GithubAuth::Token(_) => "LUCID_GITHUB_TOKEN",
        GithubAuth::App { .. } => "LUCID_GITHUB_APP_ID",
    })
}

/// How GitHub is connected when lucid starts, and whether it can be set up here.
pub struct GithubStart {
    /// None: GitHub is off (no settings, and no key to seal an App with).
    pub link: Option<Arc<GithubLink>>,
    pub setup: Option<Arc<AppSetup>>,
}

impl GithubStart {
    /// The settings connect GitHub when they say so; otherwise an App kept by an
    /// earlier setup does; otherwise GitHub waits for the setup (with a secret key).
    pub async fn load(settings: &Settings, store: &Store) -> anyhow::Result<GithubStart> {
        use anyhow::Context as _;
        let by_settings = match &settings.github {
            Some(github) => {
                Some(GithubLink::from_settings(github).context("cannot set up the GitHub client")?)
            }
            None => None,
        };
        let Some(key) = &settings.secret_key else {
            return Ok(GithubStart {
                link: by_settings,
                setup: None,
            });
        };
        let (link, connected_app) = match by_settings {
            Some(link) => (link, None),
            None => Self::kept_or_awaiting(settings, store, key).await?,
        };
        let setup = AppSetup {
            store: store.clone(),
            key: key.clone(),
            link: link.clone(),
            site: settings.github_site.clone(),
            public_url: settings.public_url.clone(),
            by_settings: connected_by_settings(settings),
            http: crate::outbound::reqwest_builder()
                .build()
                .expect("a client with timeouts always builds"),
            connected_app: std::sync::Mutex::new(connected_app),
        };
        Ok(GithubStart {
            link: Some(link),
            setup: Some(Arc::new(setup)),
        })
    }

    /// Connected through the App an earlier setup kept (and its id), or waiting.
    async fn kept_or_awaiting(
        settings: &Settings,
        store: &Store,
        key: &SecretKey,
    ) -> anyhow::Result<(Arc<GithubLink>, Option<u64>)> {
        use anyhow::Context as _;
        let kept = StoredApp::load(store, key)
            .await
            .context("cannot open the GitHub App `lucid setup github` kept")?;
        let Some(app) = kept else {
            tracing::info!("GitHub is not connected: lucid's page /setup/github makes its App");
            return Ok((GithubLink::awaiting_setup(), None));
        };
        let identity = app
            .identity(&settings.github_site)
            .map_err(anyhow::Error::msg)
            .context("the GitHub App `lucid setup github` kept is unusable")?;
        tracing::info!(app_id = app.id, app = %app.slug, "GitHub connected through the App lucid keeps");
        Ok((GithubLink::connected(identity), Some(app.id)))
    }
}

/// The server side of `lucid setup github`.
pub struct AppSetup {
    store: Store,
    key: SecretKey,
    link: Arc<GithubLink>,
    site: GithubSite,
    public_url: String,
    /// The setting that connects GitHub, when settings do: they win over an App made
    /// here.
    by_settings: Option<&'static str>,
    http: reqwest::Client,
    /// The id of the kept App GitHub is connected through, if it is.
    connected_app: std::sync::Mutex<Option<u64>>,
}

/// The form the setup page shows: it posts `manifest` to `action` on GitHub.
pub struct ManifestForm {
    pub action: String,
    /// The manifest, as JSON text.
    pub manifest: String,
    /// GitHub's web origin, the one place the page's form may post to.
    pub github_origin: String,
    pub webhook_url: String,
    pub permissions: Vec<(String, String)>,
    pub events: Vec<&'static str>,
    /// How GitHub is connected now, said.
    pub connected_now: String,
}

/// A setup finished: the App GitHub made, kept and (unless settings win) connected.
pub struct MadeApp {
    pub slug: String,
    /// Where the operator installs it on repositories.
    pub install_url: String,
    pub by_settings: Option<&'static str>,
}

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("{0:?}")]
    Refused(GithubSetupRefusal),
    /// GitHub could not be asked, or answered what lucid cannot use.
    #[error("{0}")]
    Failed(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AppSetup {
    /// A new form for an App named `name`, made for `org` or the person: a fresh
    /// `state` is kept, and any earlier setup's forgotten.
    pub async fn begin(&self, name: &str, org: Option<&str>) -> Result<ManifestForm, StoreError> {
        let state = new_state();
        let until = crate::core::Timestamp::now().as_millis() / 1000 + STATE_LIFETIME_SECS;
        self.store.remove_credentials_under(STATE_PREFIX).await?;
        self.store
            .put_credential(
                &self.key,
                &state_name(&state),
                &SecretString::from(until.to_string()),
            )
            .await?;
        let manifest = super::app_manifest::manifest(name, &self.public_url);
        let stored = self.link.current().map(|i| i.bot_login.clone());
        Ok(ManifestForm {
            action: super::app_manifest::new_app_url(&self.site.web_url, org, &state),
            github_origin: url::Url::parse(&self.site.web_url)
                .map(|u| u.origin().ascii_serialization())
                .unwrap_or_default(),
            webhook_url: manifest["hook_attributes"]["url"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            permissions: super::app_manifest::permissions()
                .into_iter()
                .map(|(p, a)| (p, a.as_str().unwrap_or_default().to_owned()))
                .collect(),
            events: super::app_manifest::EVENTS.iter().map(|e| e.name).collect(),
            manifest: manifest.to_string(),
            connected_now: crate::messages::github_connected_now(
                self.by_settings,
                stored.as_deref().filter(|_| self.by_settings.is_none()),
            ),
        })
    }

    /// The return from GitHub: the `state` is taken (once), the code traded for the
    /// App, the App sealed in the store and, unless settings win, connected.
    pub async fn finish(&self, code: &str, state: &str) -> Result<MadeApp, SetupError> {
        let refused = |why| Err(SetupError::Refused(why));
        let plausible = |s: &str| {
            (1..=256).contains(&s.len())
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        if !plausible(code) || !plausible(state) {
            return refused(GithubSetupRefusal::NotAReturn);
        }
        let name = state_name(state);
        let Some(until) = self.store.take_credential(&self.key, &name).await? else {
            return refused(GithubSetupRefusal::UnknownState);
        };
        let now = crate::core::Timestamp::now().as_millis() / 1000;
        if until.expose_secret().parse::<i64>().unwrap_or(0) < now {
            return refused(GithubSetupRefusal::UnknownState);
        }
        let app = match self.convert(code).await {
            Ok(app) => app,
            Err(SetupError::Failed(reason)) => {
                // GitHub may still hold the code: a reload tries again.
                self.store.put_credential(&self.key, &name, &until).await?;
                return Err(SetupError::Failed(reason));
            }
            Err(other) => return Err(other),
        };
        let identity = app.identity(&self.site).map_err(SetupError::Failed)?;
        app.save(&self.store, &self.key).await?;
        if self.by_settings.is_none() {
            self.connect(app.id, identity);
        }
        tracing::info!(app_id = app.id, app = %app.slug, connected = self.by_settings.is_none(), "GitHub App made through lucid's setup, kept sealed");
        Ok(MadeApp {
            install_url: format!("{}/installations/new", app.html_url.trim_end_matches('/')),
            slug: app.slug,
            by_settings: self.by_settings,
        })
    }

    fn connect(&self, app_id: u64, identity: Identity) {
        self.link.replace(identity);
        *self.connected_app.lock().unwrap_or_else(|e| e.into_inner()) = Some(app_id);
    }

    /// Until `stop`, connects an App that another replica's setup kept (GitHub sent
    /// the operator back to that one), so every replica uses it without a restart.
    pub async fn follow_the_store(self: Arc<Self>, stop: tokio_util::sync::CancellationToken) {
        if self.by_settings.is_some() {
            return;
        }
        stop.run_until_cancelled(async move {
            loop {
                tokio::time::sleep(FOLLOW_EVERY).await;
                self.pick_up_a_new_app().await;
            }
        })
        .await;
    }

    async fn pick_up_a_new_app(&self) {
        let app = match StoredApp::load(&self.store, &self.key).await {
            Ok(Some(app)) => app,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the GitHub App lucid keeps");
                return;
            }
        };
        let current = *self.connected_app.lock().unwrap_or_else(|e| e.into_inner());
        if current == Some(app.id) {
            return;
        }
        match app.identity(&self.site) {
            Ok(identity) => {
                tracing::info!(app_id = app.id, app = %app.slug, "GitHub connected through the App another replica's setup kept");
                self.connect(app.id, identity);
            }
            Err(e) => tracing::warn!(error = %e, "the GitHub App lucid keeps is unusable"),
        }
    }

    /// `POST /app-manifests/{code}/conversions`: GitHub answers the App with its key
    /// and secret, once per code.
    async fn convert(&self, code: &str) -> Result<StoredApp, SetupError> {
        let url = format!(
            "{}/app-manifests/{code}/conversions",
            self.site.api_url.trim_end_matches('/')
        );
        let answer = self
            .http
            .post(url)
            .header("accept", "application/vnd.github+json")
            .header("x-github-api-version", "2022-11-28")
            .header("user-agent", "lucid")
            .timeout(std::time::Duration::from_secs(30))
            .send()
            .await
            .map_err(|_| SetupError::Failed("GitHub could not be reached".to_owned()))?;
        let status = answer.status().as_u16();
        if status == 404 {
            return Err(SetupError::Refused(GithubSetupRefusal::CodeUnknown));
        }
        if status != 201 {
            return Err(SetupError::Failed(format!("GitHub answered {status}")));
        }
        let record: AppRecord = answer
            .json()
            .await
            .map_err(|_| SetupError::Failed("GitHub's answer made no sense".to_owned()))?;
        StoredApp::from_record(record).map_err(|e| SetupError::Failed(e.to_owned()))
    }
}

fn new_state() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A state is kept by its hash: the store holds nothing that would answer GitHub.
fn state_name(state: &str) -> String {
    format!(
        "{STATE_PREFIX}{}",
        hex::encode(Sha256::digest(state.as_bytes()))
    )
}
