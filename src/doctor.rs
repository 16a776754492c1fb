//! `lucid doctor`: one line per part of the setup, what is wrong, and what to do.

use crate::config::{GithubAuth, Settings};
use crate::sandbox::DockerEngine;
use crate::store::Store;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

pub mod platforms;

pub use platforms::{LastChecks, PlatformProbe};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// Works, but something is worth knowing.
    Warn,
    /// Not configured, and that is allowed.
    Off,
    /// Required and broken.
    Fail,
}

impl Outcome {
    /// The outcome in one word, as `/readyz` shows it.
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Warn => "warn",
            Outcome::Off => "off",
            Outcome::Fail => "fail",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Check {
    pub part: &'static str,
    pub outcome: Outcome,
    pub detail: String,
    /// What to do about it.
    pub fix: Option<String>,
}

#[derive(Debug, Default)]
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.outcome != Outcome::Fail)
    }

    fn add(
        &mut self,
        part: &'static str,
        outcome: Outcome,
        detail: impl Into<String>,
        fix: Option<&str>,
    ) {
        self.checks.push(Check {
            part,
            outcome,
            detail: detail.into(),
            fix: fix.map(str::to_owned),
        });
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for check in &self.checks {
            let mark = match check.outcome {
                Outcome::Ok => "ok  ",
                Outcome::Warn => "warn",
                Outcome::Off => "off ",
                Outcome::Fail => "FAIL",
            };
            write!(f, "{mark}  {:<9} {}", check.part, check.detail)?;
            if let Some(fix) = &check.fix {
                write!(f, " -> {fix}")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

/// Every check; with `offline`, no platform is asked anything (their tokens are only
/// seen to be set).
pub async fn run(env: &BTreeMap<String, String>, config: Option<&Path>, offline: bool) -> Report {
    let mut report = Report::default();
    let settings = match Settings::load(env, config) {
        Ok(settings) => settings,
        Err(invalid) => {
            for problem in invalid.problems {
                report.add(
                    "settings",
                    Outcome::Fail,
                    problem,
                    Some("fix this setting (README lists them all)"),
                );
            }
            return report;
        }
    };
    report.add("settings", Outcome::Ok, "loaded and valid", None);
    check_database(&settings, &mut report).await;
    check_docker(&settings, &mut report).await;
    check_secrets(&settings, &mut report);
    // As `lucid serve` does: without GitHub settings, the App `/setup/github` kept in
    // the store connects GitHub.
    let store = match (&settings.github, &settings.secret_key) {
        (None, Some(_)) => existing_store(&settings).await,
        (None, None) => {
            check_app_without_key(&settings, &mut report).await;
            None
        }
        _ => None,
    };
    let mut probe = PlatformProbe::new(&settings);
    if let Some(store) = &store {
        probe = probe.with_store(&settings, store.clone());
    }
    if offline {
        let kept_app = probe.kept_app_offline().await;
        check_platforms(&settings, kept_app, &mut report);
        for (part, set) in [
            ("discord", settings.discord.is_some()),
            ("notion", settings.notion.is_some()),
        ] {
            if set {
                report.add(part, Outcome::Ok, "set; not asked (--offline)", None);
            }
        }
        report.checks.push(platforms::model_offline(&settings));
    } else {
        let received = match settings.notion {
            Some(_) => received_verification_token(&settings).await,
            None => None,
        };
        report.checks.extend(probe.run(received).await);
    }
    if let Some(store) = store {
        store.close().await;
    }
    for (part, set, fix) in [
        (
            "github",
            settings.github.is_some(),
            "set LUCID_GITHUB_WEBHOOK_SECRETS and LUCID_GITHUB_TOKEN to connect GitHub",
        ),
        (
            "slack",
            settings.slack.is_some(),
            "set LUCID_SLACK_SIGNING_SECRET, LUCID_SLACK_BOT_TOKEN and LUCID_SLACK_TEAMS to connect Slack (`lucid setup slack` prints the app to create)",
        ),
        (
            "discord",
            settings.discord.is_some(),
            "set LUCID_DISCORD_APPLICATION_ID, LUCID_DISCORD_PUBLIC_KEY, LUCID_DISCORD_BOT_TOKEN and LUCID_DISCORD_GUILDS to connect Discord",
        ),
        (
            "notion",
            settings.notion.is_some(),
            "set LUCID_NOTION_TOKEN and LUCID_NOTION_DATABASES to connect Notion",
        ),
    ] {
        if !set && !report.checks.iter().any(|c| c.part == part) {
            report.add(part, Outcome::Off, "not configured", Some(fix));
        }
    }
    report
}

async fn check_database(settings: &Settings, report: &mut Report) {
    let url = &settings.database_url;
    let shown = url.redacted();
    if let Some(path) = sqlite_file(url.expose())
        && !Path::new(&path).exists()
    {
        report.add(
            "database",
            Outcome::Warn,
            format!("{shown}: the file does not exist yet"),
            Some("`lucid serve` creates and migrates it on first start"),
        );
        return;
    }
    let store = match Store::connect(url).await {
        Ok(store) => store,
        Err(e) => {
            report.add(
                "database",
                Outcome::Fail,
                format!("{shown}: {e}"),
                Some("check DATABASE_URL and that the database server is running"),
            );
            return;
        }
    };
    match store.migration_status().await {
        Ok((applied, known)) if applied >= known => report.add(
            "database",
            Outcome::Ok,
            format!("{shown} reachable, {applied} of {known} migrations applied"),
            None,
        ),
        Ok((applied, known)) => report.add(
            "database",
            Outcome::Fail,
            format!("{shown} reachable but only {applied} of {known} migrations applied"),
            Some("start `lucid serve`, which migrates at start-up"),
        ),
        Err(e) => report.add(
            "database",
            Outcome::Fail,
            format!("{shown}: {e}"),
            Some("check DATABASE_URL and the database's permissions"),
        ),
    }
    store.close().await;
}

/// The file a `sqlite:` URL names, unless it is in memory.
fn sqlite_file(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| path.to_owned())
}

async fn check_docker(settings: &Settings, report: &mut Report) {
    let fix = Some("start the Docker engine (e.g. `dockerd &`), or point DOCKER_HOST at one");
    let engine = match DockerEngine::new(&settings.docker_host) {
        Ok(engine) => engine,
        Err(e) => return report.add("docker", Outcome::Fail, e.to_string(), fix),
    };
    match engine.probe().await {
        Ok(info) => report.add(
            "docker",
            Outcome::Ok,
            format!(
                "{} reachable: engine {}, API {}",
                engine.host(),
                info.server_version,
                info.api_version
            ),
            None,
        ),
        Err(e) => return report.add("docker", Outcome::Fail, e.to_string(), fix),
    }
    let image = &settings.sandbox.spec.image;
    match crate::sandbox::image::exists(&engine, image).await {
        Ok(true) => {
            report.add(
                "sandbox",
                Outcome::Ok,
                format!("image {image} is on the engine"),
                None,
            );
            let engine = std::sync::Arc::new(engine);
            check_agents(settings, &engine, report).await;
            check_network(settings, &engine, report).await;
            return;
        }
        Ok(false) => report.add(
            "sandbox",
            Outcome::Fail,
            format!("image {image} is not on the engine"),
            Some("build it with `lucid sandbox build-image`, or set LUCID_SANDBOX_IMAGE"),
        ),
        Err(e) => report.add("sandbox", Outcome::Fail, e.to_string(), None),
    }
    check_network(settings, &engine, report).await;
}

/// Each external agent: its provider has a key, and it starts in a sandbox of the
/// image and answers `initialize` and `session/new` (no model is asked).
async fn check_agents(
    settings: &Settings,
    engine: &std::sync::Arc<DockerEngine>,
    report: &mut Report,
) {
    use crate::sandbox::Sandboxes;
    let agents = &settings.agents;
    if agents.external.is_empty() {
        return;
    }
    let sandboxes = crate::sandbox::DockerSandboxes::new(engine.clone(), settings.sandbox.clone());
    for agent in &agents.external {
        let id = &agent.id;
        let provider = agent.provider.as_str();
        if agents.provider(agent.provider).is_none() {
            report.add(
                "agents",
                Outcome::Fail,
                format!("{id}: no key is set for {provider}"),
                Some(&format!(
                    "set LUCID_{}_API_KEY (used by lucid's model gateway only)",
                    provider.to_ascii_uppercase()
                )),
            );
            continue;
        }
        let sandbox = match sandboxes
            .create(crate::core::SessionId::new(), &settings.sandbox.spec)
            .await
        {
            Ok(sandbox) => sandbox,
            Err(e) => {
                report.add(
                    "agents",
                    Outcome::Fail,
                    format!("{id}: no sandbox: {e}"),
                    None,
                );
                continue;
            }
        };
        // A gateway address that answers nothing: no model is asked.
        let env = crate::agent::acp::gateways::agent_env(
            agent.provider,
            ([127, 0, 0, 1], 9).into(),
            "lucid-doctor",
        );
        let command = agent.command.join(" ");
        let answered = crate::agent::acp::probe::hello(
            &*sandbox,
            &agent.command,
            env,
            std::time::Duration::from_secs(60),
        )
        .await;
        let _ = sandbox.destroy().await;
        match answered {
            Ok(hello) => report.add(
                "agents",
                Outcome::Ok,
                format!(
                    "{id}: `{command}` answered initialize ({} {}) and opened a session",
                    hello.seen.name.as_deref().unwrap_or("unnamed"),
                    hello.seen.version.as_deref().unwrap_or("?")
                ),
                None,
            ),
            Err(why) => report.add(
                "agents",
                Outcome::Fail,
                format!("{id}: `{command}` {why}"),
                Some(&format!(
                    "build the image with `lucid sandbox build-image --agents {id}`, or fix its command in LUCID_AGENTS"
                )),
            ),
        }
    }
}

/// The sandboxes' network: on `registries` (the default), whether lucid's proxy can
/// listen on the network's gateway (lucid must run on the Docker host).
async fn check_network(settings: &Settings, engine: &DockerEngine, report: &mut Report) {
    use crate::sandbox::Network;
    match settings.sandbox.spec.network {
        Network::Off => report.add("network", Outcome::Ok, "off: sandboxes have none", None),
        Network::Bridge => report.add(
            "network",
            Outcome::Warn,
            "bridge: sandboxes reach everything, the host's and the cloud's metadata addresses included",
            Some("set LUCID_SANDBOX_NETWORK=registries for the package registries only"),
        ),
        Network::Registries => match crate::sandbox::docker::registries_ready(engine).await {
            Ok(gateway) => report.add(
                "network",
                Outcome::Ok,
                format!("registries: the proxy can listen on {gateway}, the network's gateway"),
                None,
            ),
            Err(e) => report.add(
                "network",
                Outcome::Fail,
                e.to_string(),
                Some("run lucid on the Docker host, or set LUCID_SANDBOX_NETWORK to off or bridge"),
            ),
        },
    }
}

fn check_secrets(settings: &Settings, report: &mut Report) {
    if settings.api_token.is_some() {
        report.add("api", Outcome::Ok, "LUCID_API_TOKEN is set", None);
    } else {
        report.add(
            "api",
            Outcome::Warn,
            "LUCID_API_TOKEN is not set, so /api/v1 answers 401",
            Some("set LUCID_API_TOKEN to use the API"),
        );
    }
    check_pages(settings, report);
    match &settings.secret_key {
        Some(key) => report.add(
            "secrets",
            Outcome::Ok,
            format!("LUCID_SECRET_KEY is set (key id {})", key.id()),
            None,
        ),
        None => report.add(
            "secrets",
            Outcome::Warn,
            "LUCID_SECRET_KEY is not set, so no credential can be stored",
            Some("set it to the output of `openssl rand -base64 32`"),
        ),
    }
}

/// Who can reach lucid's pages: operators need a password to sign in with, and the
/// links lucid posts need a secret to derive their share tokens from.
fn check_pages(settings: &Settings, report: &mut Report) {
    let access = crate::web::Access::from_settings(settings);
    let shares = match (settings.share_links, access.shares_links()) {
        (false, _) => "share links are off",
        (true, true) => "the links lucid posts open their session read-only",
        (true, false) => "share links are on but have nothing secret to be signed with",
    };
    if access.can_sign_in() {
        let detail = format!("{} signs in; {shares}", page_passwords(settings));
        report.add("pages", Outcome::Ok, detail, None);
    } else {
        report.add(
            "pages",
            Outcome::Warn,
            format!("nobody can sign in to lucid's pages; {shares}"),
            Some("set LUCID_API_TOKEN or LUCID_UI_PASSWORD"),
        );
    }
}

fn page_passwords(settings: &Settings) -> &'static str {
    match (&settings.api_token, &settings.ui_password) {
        (Some(_), Some(_)) => "the API token or the UI password",
        (None, Some(_)) => "the UI password",
        _ => "the API token",
    }
}

fn check_slack(settings: &Settings, github_on: bool, report: &mut Report) {
    let Some(slack) = &settings.slack else {
        report.add(
            "slack",
            Outcome::Off,
            "not configured",
            Some("set LUCID_SLACK_SIGNING_SECRET, LUCID_SLACK_BOT_TOKEN and LUCID_SLACK_TEAMS to connect Slack"),
        );
        return;
    };
    let count = |list: &[String], what: &str| match list.len() {
        0 => format!("every {what}"),
        n => format!("{n} {what}(s)"),
    };
    let detail = format!(
        "complete, not asked (--offline): {} workspace(s), {}, {}, {} channel repository default(s)",
        slack.teams.len(),
        count(&slack.channels, "channel"),
        count(&slack.users, "user"),
        slack.channel_repos.len()
    );
    if !github_on {
        report.add(
            "slack",
            Outcome::Warn,
            format!("{detail}; but GitHub is off, so sessions have no repository to work on"),
            Some("connect GitHub too: lucid checks out and opens pull requests through it"),
        );
    } else {
        report.add("slack", Outcome::Ok, detail, None);
    }
}

/// `kept_app`: the line of the App `/setup/github` kept, when no setting connects
/// GitHub and one was kept.
fn check_platforms(settings: &Settings, kept_app: Option<Check>, report: &mut Report) {
    let github_on = settings.github.is_some() || kept_app.is_some();
    match &settings.github {
        Some(github) => {
            let auth = match &github.auth {
                GithubAuth::Token(_) => "personal access token".to_owned(),
                GithubAuth::App { app_id, .. } => format!("GitHub App {app_id}"),
            };
            let detail = format!(
                "complete, not asked (--offline): {auth} from the settings, {} webhook secret(s), bot @{}",
                github.webhook_secrets.len(),
                github.bot_login
            );
            report.add("github", Outcome::Ok, detail, None);
        }
        None => match kept_app {
            Some(line) => report.checks.push(line),
            None => report.add(
                "github",
                Outcome::Off,
                "not configured",
                Some("set LUCID_GITHUB_WEBHOOK_SECRETS and LUCID_GITHUB_TOKEN to connect GitHub"),
            ),
        },
    }
    check_slack(settings, github_on, report);
}

/// lucid's store, when it exists and answers (otherwise the database's line says
/// why); a SQLite file that is not there yet is not made by doctor.
/// An App `/setup/github` kept is of no use without the key it was sealed with:
/// `lucid serve` leaves GitHub off, which "not configured" would not explain.
async fn check_app_without_key(settings: &Settings, report: &mut Report) {
    let Some(store) = existing_store(settings).await else {
        return;
    };
    if let Ok(true) = store.has_credential(crate::github::APP_CREDENTIAL).await {
        report.add(
            "github",
            Outcome::Fail,
            "a GitHub App set up through /setup/github is kept, but LUCID_SECRET_KEY is not set to open it",
            Some("set LUCID_SECRET_KEY to the key it was sealed with"),
        );
    }
    store.close().await;
}

async fn existing_store(settings: &Settings) -> Option<Store> {
    if sqlite_file(settings.database_url.expose()).is_some_and(|f| !Path::new(&f).exists()) {
        return None;
    }
    Store::connect(&settings.database_url).await.ok()
}

/// The verification token Notion last sent, as `lucid serve` kept it; None when the
/// store cannot be read (its own line says why) or none was sent.
async fn received_verification_token(settings: &Settings) -> Option<String> {
    let store = existing_store(settings).await?;
    let token = store
        .mark(
            &crate::core::Platform::NOTION,
            crate::notion::inbound::route::VERIFICATION_MARK,
        )
        .await
        .ok()
        .flatten();
    store.close().await;
    token
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(
            sqlite_file("sqlite://lucid.db").as_deref(),
            Some("lucid.db")
        );
        assert_eq!(
            sqlite_file("sqlite:///var/lib/lucid.db?mode=rwc").as_deref(),
            Some("/var/lib/lucid.db")
        );
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://x/y"), None);
    }
}
