//! Settings, loaded once at start from the environment and an optional TOML file into
//! typed values. Nothing else in lucid reads the environment.

mod agent;
mod agents;
pub mod catalog;
mod limits;
mod linking;
mod platforms;
mod reader;
mod sandbox;

pub use agent::{LlmSettings, Provider};
pub use agents::{
    AgentsSettings, BUILT_IN, ExternalAgent, ModelProvider, PermissionPolicy, ProviderKey,
};
pub use linking::LinkingSettings;
pub use platforms::{
    DiscordSettings, GithubAuth, GithubSettings, GithubSite, NotionSettings, NotionStatuses,
    SlackSettings, notion_id,
};

use crate::store::crypto::SecretKey;
use reader::Reader;
use secrecy::{ExposeSecret, SecretString};
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;

#[derive(Debug)]
pub struct Settings {
    pub listen: SocketAddr,
    pub database_url: DatabaseUrl,
    pub log_format: LogFormat,
    pub log_filter: String,
    pub api_token: Option<SecretString>,
    pub secret_key: Option<SecretKey>,
    /// A password for lucid's pages only, beside the API token.
    pub ui_password: Option<SecretString>,
    /// Whether the links lucid posts open their session's page without signing in.
    pub share_links: bool,
    pub docker_host: String,
    /// Where people reach this lucid, for links in threads.
    pub public_url: String,
    /// Sessions one lucid runs at a time.
    pub max_sessions: usize,
    /// How long a running session's claim lasts unrenewed.
    pub lease: std::time::Duration,
    /// Whether a session out of budget with changes opens a draft change request.
    pub draft_on_budget: bool,
    /// How long one request to a platform's API may take ([`crate::outbound`]).
    pub platform_timeout: std::time::Duration,
    /// Sessions per person and per place (0: no limit).
    pub limits: crate::core::Limits,
    /// Linked forge accounts for people on chat platforms.
    pub linking: LinkingSettings,
    /// The HTTP server's guards: body size, slow clients, the API's request rate.
    pub http: crate::http::HttpLimits,
    pub sandbox: crate::sandbox::SandboxSettings,
    /// The model sessions use; `None` until its key is set.
    pub llm: Option<LlmSettings>,
    pub agent: crate::agent::engine::AgentSettings,
    /// External agents, the default agent, and the providers' keys for them.
    pub agents: AgentsSettings,
    pub github: Option<GithubSettings>,
    /// Where GitHub is, for the settings above or an App `lucid setup github` stored.
    pub github_site: GithubSite,
    pub slack: Option<SlackSettings>,
    pub discord: Option<DiscordSettings>,
    pub notion: Option<NotionSettings>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Every problem found in the settings, so that one failed start names them all.
#[derive(Debug, thiserror::Error)]
pub struct InvalidSettings {
    pub problems: Vec<String>,
}

impl fmt::Display for InvalidSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.problems.len();
        let noun = if count == 1 { "problem" } else { "problems" };
        writeln!(f, "invalid settings ({count} {noun}):")?;
        for problem in &self.problems {
            writeln!(f, "  - {problem}")?;
        }
        write!(f, "Every setting is listed in the README.")
    }
}

impl Settings {
    /// Loads settings from `env` (the process environment, passed in so tests can give
    /// their own) and the TOML file at `config_path`, if any. The environment wins.
    pub fn load(
        env: &BTreeMap<String, String>,
        config_path: Option<&Path>,
    ) -> Result<Settings, InvalidSettings> {
        let path = config_path.map(Path::to_path_buf).or_else(|| {
            env.get("LUCID_CONFIG")
                .filter(|p| !p.is_empty())
                .map(Into::into)
        });
        let file_text = match &path {
            Some(path) => match std::fs::read_to_string(path) {
                Ok(text) => Some(text),
                Err(e) => {
                    return Err(InvalidSettings {
                        problems: vec![format!(
                            "{}: cannot read settings file: {e}",
                            path.display()
                        )],
                    });
                }
            },
            None => None,
        };
        let file = path.as_deref().zip(file_text.as_deref());
        let mut reader = Reader::new(env, file);
        let settings = read_all(&mut reader);
        let problems = reader.finish();
        match settings {
            Some(settings) if problems.is_empty() => Ok(settings),
            _ => Err(InvalidSettings { problems }),
        }
    }
}

/// Reads every setting before deciding, so all problems are found in one pass.
fn read_all(r: &mut Reader) -> Option<Settings> {
    let listen = r.parsed("LUCID_LISTEN", |s| {
        s.parse::<SocketAddr>()
            .map_err(|_| format!("{s:?} is not an address like 127.0.0.1:8080"))
    });
    let database_url = r.parsed("DATABASE_URL", DatabaseUrl::parse);
    let log_format = r.parsed("LUCID_LOG_FORMAT", |s| match s {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        other => Err(format!("{other:?} is not a log format (text or json)")),
    });
    let log_filter = r.parsed("LUCID_LOG", |s| {
        tracing_subscriber::EnvFilter::try_new(s)
            .map(|_| s.to_owned())
            .map_err(|e| format!("{s:?} is not a log filter: {e}"))
    });
    let api_token = r.parsed("LUCID_API_TOKEN", |s| {
        if s.len() < 16 {
            Err("too short: use at least 16 characters".to_owned())
        } else {
            Ok(SecretString::from(s))
        }
    });
    let secret_key = r.parsed("LUCID_SECRET_KEY", SecretKey::parse);
    let ui_password = r.parsed("LUCID_UI_PASSWORD", |s| {
        if s.len() < 12 {
            Err("too short: use at least 12 characters".to_owned())
        } else {
            Ok(SecretString::from(s))
        }
    });
    let share_links = r.parsed("LUCID_SHARE_LINKS", |s| match s {
        "on" => Ok(true),
        "off" => Ok(false),
        other => Err(format!("{other:?} is neither on nor off")),
    });
    let docker_host = r.parsed("DOCKER_HOST", |s| {
        if s.starts_with("unix://") || s.starts_with("tcp://") || s.starts_with("http://") {
            Ok(s.to_owned())
        } else {
            Err(format!("{s:?} must start with unix://, tcp:// or http://"))
        }
    });
    let public_url = r
        .text("LUCID_PUBLIC_URL")
        .map(|s| s.trim_end_matches('/').to_owned());
    let max_sessions = r.parsed("LUCID_MAX_SESSIONS", |s| {
        s.parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("{s:?} is not a positive whole number"))
    });
    let lease = r.parsed("LUCID_LEASE", |s| {
        humantime::parse_duration(s)
            .ok()
            .filter(|d| *d >= std::time::Duration::from_secs(3))
            .ok_or_else(|| format!("{s:?} is not a duration of 3s or more, such as 30s"))
    });
    let platform_timeout = r.parsed("LUCID_PLATFORM_TIMEOUT", |s| {
        humantime::parse_duration(s)
            .ok()
            .filter(|d| *d >= std::time::Duration::from_secs(1))
            .ok_or_else(|| format!("{s:?} is not a duration of 1s or more, such as 60s"))
    });
    let draft_on_budget = r.parsed("LUCID_DRAFT_ON_BUDGET", |s| match s {
        "on" => Ok(true),
        "off" => Ok(false),
        other => Err(format!("{other:?} is neither on nor off")),
    });
    let limits = limits::sessions(r);
    let linking = linking::read(r, secret_key.is_some());
    let http = limits::http(r);
    let sandbox = sandbox::read(r);
    let (llm, agent) = agent::read(r);
    let agents = agents::read(r, llm.as_ref().ok().and_then(Option::as_ref));
    let github_site = platforms::github_site(r);
    let github = platforms::github(r, github_site.as_ref());
    let slack = platforms::slack(r);
    let discord = platforms::discord(r);
    let notion = platforms::notion(r);
    Some(Settings {
        listen: listen?,
        database_url: database_url?,
        log_format: log_format?,
        log_filter: log_filter?,
        api_token,
        secret_key,
        ui_password,
        share_links: share_links?,
        docker_host: docker_host?,
        public_url: public_url.unwrap_or_else(|| {
            format!(
                "http://{}",
                listen.unwrap_or_else(|| "127.0.0.1:8080".parse().unwrap())
            )
        }),
        max_sessions: max_sessions?,
        lease: lease?,
        draft_on_budget: draft_on_budget?,
        platform_timeout: platform_timeout?,
        limits: limits?,
        linking: linking?,
        http: http?,
        sandbox: sandbox?,
        llm: llm.ok()?,
        agent: agent?,
        agents: agents?,
        github: github.ok()?,
        github_site: github_site?,
        slack: slack.ok()?,
        discord: discord.ok()?,
        notion: notion.ok()?,
    })
}

/// The store's URL. It may hold a password, so it never prints whole.
#[derive(Clone)]
pub struct DatabaseUrl(SecretString);

impl DatabaseUrl {
    pub fn parse(s: &str) -> Result<Self, String> {
        let known = ["sqlite:", "postgres://", "postgresql://"];
        if known.iter().any(|prefix| s.starts_with(prefix)) {
            Ok(Self(SecretString::from(s)))
        } else {
            Err("must start with sqlite: or postgres://".to_owned())
        }
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    pub fn is_sqlite(&self) -> bool {
        self.expose().starts_with("sqlite:")
    }

    /// The URL with any password replaced, for logs and `lucid doctor`.
    pub fn redacted(&self) -> String {
        match url::Url::parse(self.expose()) {
            Ok(mut url) if url.password().is_some() => {
                let _ = url.set_password(Some("***"));
                url.to_string()
            }
            Ok(_) => self.expose().to_owned(),
            Err(_) => "(unparseable URL)".to_owned(),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({})", self.redacted())
    }
}

#[cfg(test)]
mod tests;
