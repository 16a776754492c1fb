//! The settings of each platform. A platform is off until one of its settings is set;
//! from then on it must be complete, and every missing piece is named.

use super::reader::Reader;
use secrecy::SecretString;
use std::path::PathBuf;

#[derive(Clone, Debug)]
pub struct GithubSettings {
    pub webhook_secrets: Vec<SecretString>,
    pub auth: GithubAuth,
    pub bot_login: String,
    pub api_url: String,
    pub trigger_label: String,
    pub edit_interval: std::time::Duration,
}

/// Where GitHub is and how lucid is asked there: read whether or not GitHub is
/// connected by settings, since an App that `lucid setup github` made and sealed in the
/// store connects it too.
#[derive(Clone, Debug)]
pub struct GithubSite {
    pub api_url: String,
    /// GitHub's web address, where the App is made from lucid's manifest.
    pub web_url: String,
    pub trigger_label: String,
    pub edit_interval: std::time::Duration,
}

#[derive(Clone, Debug)]
pub enum GithubAuth {
    Token(SecretString),
    App {
        app_id: u64,
        private_key_path: PathBuf,
    },
}

#[derive(Clone, Debug)]
pub struct SlackSettings {
    pub signing_secret: SecretString,
    pub bot_token: SecretString,
    /// The workspaces (team ids) lucid answers; never empty.
    pub teams: Vec<String>,
    /// When not empty, the only channels where sessions may start.
    pub channels: Vec<String>,
    /// When not empty, the only users who may start or stop sessions.
    pub users: Vec<String>,
    /// Each channel's default repository; channel `*` is every channel's.
    pub channel_repos: Vec<(String, crate::core::RepoRef)>,
    pub api_url: String,
    pub edit_interval: std::time::Duration,
}

impl SlackSettings {
    /// The repository a channel works on when a message names none.
    pub fn channel_repo(&self, channel: &str) -> Option<&crate::core::RepoRef> {
        repo_for(&self.channel_repos, channel)
    }
}

#[derive(Clone, Debug)]
pub struct DiscordSettings {
    pub application_id: String,
    /// The application's Ed25519 public key, 64 hex characters.
    pub public_key: String,
    pub bot_token: SecretString,
    /// The servers (guild ids) lucid answers, and where `/lucid` is registered; never
    /// empty.
    pub guilds: Vec<String>,
    /// When not empty, the only channels where sessions may start.
    pub channels: Vec<String>,
    /// When not empty, only people with one of these roles may start or stop sessions.
    pub roles: Vec<String>,
    /// When not empty, the only users who may start or stop sessions.
    pub users: Vec<String>,
    /// Each channel's default repository; channel `*` is every channel's.
    pub channel_repos: Vec<(String, crate::core::RepoRef)>,
    /// Where Discord's API is reached (`https://discord.com`); another address
    /// receives the requests meant for discord.com (a relay, or a test's stand-in).
    pub api_url: String,
    /// A certificate authority trusted for that address, besides the usual ones.
    pub ca_file: Option<std::path::PathBuf>,
    /// Mentions come through the gateway; off: only `/lucid` and the Stop button.
    pub gateway: bool,
    /// The privileged MESSAGE_CONTENT intent was granted: every message in a session's
    /// thread reaches its running agent, mention or not.
    pub message_content: bool,
    pub edit_interval: std::time::Duration,
}

impl DiscordSettings {
    /// The repository a channel works on when a request names none.
    pub fn channel_repo(&self, channel: &str) -> Option<&crate::core::RepoRef> {
        repo_for(&self.channel_repos, channel)
    }
}

#[derive(Clone, Debug)]
pub struct NotionSettings {
    pub token: SecretString,
    /// The verification token Notion's webhook subscription sent, which signs its
    /// events; None: events are refused (polling still works).
    pub webhook_secret: Option<SecretString>,
    /// The task databases, by id (32 hex digits, no dashes); never empty.
    pub databases: Vec<String>,
    /// Each database's default repository; database `*` is every database's.
    pub database_repos: Vec<(String, crate::core::RepoRef)>,
    /// The page property holding the repository (select, rich text or URL).
    pub repo_property: String,
    /// The page property naming the agent a task runs with (a select, or text); a
    /// page without it gets the default agent.
    pub agent_property: String,
    pub status_property: String,
    pub statuses: NotionStatuses,
    /// The URL property the pull request's address is written to.
    pub pr_property: String,
    /// How often each database is read for tasks; None: never (webhooks only).
    pub poll_interval: Option<std::time::Duration>,
    /// Least time between two comments of a session's key moments.
    pub comment_interval: std::time::Duration,
    /// Where Notion's API is reached (`https://api.notion.com/v1`).
    pub api_url: String,
}

/// The names of the status values lucid reads and writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotionStatuses {
    /// A page moved to this one is handed to lucid.
    pub trigger: String,
    pub in_progress: String,
    pub in_review: String,
    pub failed: String,
}

impl NotionSettings {
    /// The repository a database's tasks work on when a page names none.
    pub fn database_repo(&self, database: &str) -> Option<&crate::core::RepoRef> {
        repo_for(&self.database_repos, database)
    }
}

/// A Notion id as lucid keeps it: 32 lowercase hex digits, from an id with or without
/// dashes or a page's or database's URL (the last 32 hex digits of its path).
pub fn notion_id(s: &str) -> Option<String> {
    let s = s.trim();
    let path = s.split(['?', '#']).next().unwrap_or(s);
    let last = path.rsplit('/').next().unwrap_or(path);
    let hex: String = last.chars().filter(|c| *c != '-').collect();
    let id = if hex.len() > 32 {
        hex[hex.len() - 32..].to_owned()
    } else {
        hex
    };
    (id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit())).then(|| id.to_ascii_lowercase())
}

/// `Ok(None)`: the platform is off. `Err(())`: it is on but incomplete; the reader
/// holds the problems.
type Section<T> = Result<Option<T>, ()>;

/// Names the settings that turned a platform on, for the "missing" message.
fn configured_by(r: &Reader, envs: &[&'static str]) -> Option<String> {
    let set = r.set_among(envs);
    (!set.is_empty()).then(|| set.join(", "))
}

pub(super) fn github_site(r: &mut Reader) -> Option<GithubSite> {
    let api_url = r.parsed("LUCID_GITHUB_API_URL", http_url);
    let web_url = r.parsed("LUCID_GITHUB_WEB_URL", http_url);
    let trigger_label = r.text("LUCID_GITHUB_TRIGGER_LABEL");
    let edit_interval = r.parsed("LUCID_GITHUB_EDIT_INTERVAL", duration);
    Some(GithubSite {
        api_url: api_url?,
        web_url: web_url?,
        trigger_label: trigger_label?,
        edit_interval: edit_interval?,
    })
}

pub(super) fn github(r: &mut Reader, site: Option<&GithubSite>) -> Section<GithubSettings> {
    const KEYS: [&str; 5] = [
        "LUCID_GITHUB_WEBHOOK_SECRETS",
        "LUCID_GITHUB_TOKEN",
        "LUCID_GITHUB_APP_ID",
        "LUCID_GITHUB_PRIVATE_KEY_PATH",
        "LUCID_GITHUB_BOT_LOGIN",
    ];
    let Some(set) = configured_by(r, &KEYS) else {
        return Ok(None);
    };
    let why = format!("GitHub is on because {set} is set");
    let secrets = r.list("LUCID_GITHUB_WEBHOOK_SECRETS");
    if secrets.is_empty() {
        r.problem(
            "LUCID_GITHUB_WEBHOOK_SECRETS",
            &format!("missing: {why}, and webhooks cannot be verified without a secret"),
        );
    }
    let auth = github_auth(r, &why);
    let bot_login = r.text("LUCID_GITHUB_BOT_LOGIN");
    match (secrets.is_empty(), auth, bot_login, site) {
        (false, Some(auth), Some(bot_login), Some(site)) => Ok(Some(GithubSettings {
            webhook_secrets: secrets.into_iter().map(SecretString::from).collect(),
            auth,
            bot_login: bot_login.trim_start_matches('@').to_owned(),
            api_url: site.api_url.clone(),
            trigger_label: site.trigger_label.clone(),
            edit_interval: site.edit_interval,
        })),
        _ => Err(()),
    }
}

fn github_auth(r: &mut Reader, why: &str) -> Option<GithubAuth> {
    let token = r.text("LUCID_GITHUB_TOKEN");
    let app_id = r.parsed("LUCID_GITHUB_APP_ID", |s| {
        s.parse::<u64>()
            .map_err(|_| format!("{s:?} is not a GitHub App id (a number)"))
    });
    let key_path = r.parsed("LUCID_GITHUB_PRIVATE_KEY_PATH", |s| {
        let path = PathBuf::from(s);
        if path.is_file() {
            Ok(path)
        } else {
            Err(format!("{s:?} is not a readable file"))
        }
    });
    let app_wanted = r.is_set("LUCID_GITHUB_APP_ID") || r.is_set("LUCID_GITHUB_PRIVATE_KEY_PATH");
    match (token, app_wanted) {
        (Some(_), true) => {
            r.problem(
                "LUCID_GITHUB_TOKEN",
                "set either a token or a GitHub App (app id + private key), not both",
            );
            None
        }
        (Some(token), false) => Some(GithubAuth::Token(SecretString::from(token))),
        (None, true) => {
            if !r.is_set("LUCID_GITHUB_APP_ID") {
                r.problem("LUCID_GITHUB_APP_ID", "missing: a GitHub App needs its id");
            }
            if !r.is_set("LUCID_GITHUB_PRIVATE_KEY_PATH") {
                r.problem(
                    "LUCID_GITHUB_PRIVATE_KEY_PATH",
                    "missing: a GitHub App needs its private key",
                );
            }
            Some(GithubAuth::App {
                app_id: app_id?,
                private_key_path: key_path?,
            })
        }
        (None, false) => {
            r.problem(
                "LUCID_GITHUB_TOKEN",
                &format!("missing: {why}; set a token, or a GitHub App's id and private key"),
            );
            None
        }
    }
}

pub(super) fn slack(r: &mut Reader) -> Section<SlackSettings> {
    const KEYS: [&str; 3] = [
        "LUCID_SLACK_SIGNING_SECRET",
        "LUCID_SLACK_BOT_TOKEN",
        "LUCID_SLACK_TEAMS",
    ];
    let Some(set) = configured_by(r, &KEYS) else {
        return Ok(None);
    };
    let why = format!("Slack is on because {set} is set");
    let signing_secret = r.required("LUCID_SLACK_SIGNING_SECRET", &why);
    let bot_token = r.required("LUCID_SLACK_BOT_TOKEN", &why);
    let mut complete = true;
    if let Some(token) = &bot_token
        && !token.starts_with("xoxb-")
    {
        r.problem("LUCID_SLACK_BOT_TOKEN", "a bot token starts with xoxb-");
        complete = false;
    }
    let teams = r.list("LUCID_SLACK_TEAMS");
    if teams.is_empty() {
        r.problem(
            "LUCID_SLACK_TEAMS",
            &format!("missing: {why}; name the workspaces (team ids, T…) lucid may answer"),
        );
        complete = false;
    }
    let channels = r.list("LUCID_SLACK_CHANNELS");
    let users = r.list("LUCID_SLACK_USERS");
    let channel_repos = channel_repos(r, "LUCID_SLACK_CHANNEL_REPOS");
    let api_url = r.parsed("LUCID_SLACK_API_URL", http_url);
    let edit_interval = r.parsed("LUCID_SLACK_EDIT_INTERVAL", duration);
    match (
        signing_secret,
        bot_token,
        channel_repos,
        api_url,
        edit_interval,
    ) {
        (
            Some(signing_secret),
            Some(bot_token),
            Some(channel_repos),
            Some(api_url),
            Some(edit_interval),
        ) if complete => Ok(Some(SlackSettings {
            signing_secret: signing_secret.into(),
            bot_token: bot_token.into(),
            teams,
            channels,
            users,
            channel_repos,
            api_url,
            edit_interval,
        })),
        _ => Err(()),
    }
}

/// The repository `place` (a channel, a database) works on: its own, else the one
/// given for `*`.
fn repo_for<'a>(
    repos: &'a [(String, crate::core::RepoRef)],
    place: &str,
) -> Option<&'a crate::core::RepoRef> {
    let find = |key: &str| repos.iter().find(|(p, _)| p == key);
    find(place).or_else(|| find("*")).map(|(_, repo)| repo)
}

/// `C123=acme/app,*=acme/monorepo`; every bad pair is named.
fn channel_repos(r: &mut Reader, env: &str) -> Option<Vec<(String, crate::core::RepoRef)>> {
    let mut pairs = Vec::new();
    let mut ok = true;
    for item in r.list(env) {
        let parsed = item.split_once('=').and_then(|(channel, repo)| {
            let repo = crate::core::RepoRef::parse(repo.trim()).ok()?;
            Some((channel.trim().to_owned(), repo))
        });
        match parsed {
            Some(pair) if !pair.0.is_empty() => pairs.push(pair),
            _ => {
                r.problem(env, &format!("{item:?} is not CHANNEL=owner/repo"));
                ok = false;
            }
        }
    }
    ok.then_some(pairs)
}

fn http_url(s: &str) -> Result<String, String> {
    url::Url::parse(s)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .map(|_| s.trim_end_matches('/').to_owned())
        .ok_or_else(|| format!("{s:?} is not an http(s) URL"))
}

fn duration(s: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(s).map_err(|_| format!("{s:?} is not a duration such as 3s"))
}

pub(super) fn discord(r: &mut Reader) -> Section<DiscordSettings> {
    const KEYS: [&str; 4] = [
        "LUCID_DISCORD_APPLICATION_ID",
        "LUCID_DISCORD_PUBLIC_KEY",
        "LUCID_DISCORD_BOT_TOKEN",
        "LUCID_DISCORD_GUILDS",
    ];
    let Some(set) = configured_by(r, &KEYS) else {
        return Ok(None);
    };
    let why = format!("Discord is on because {set} is set");
    let application_id = r.required("LUCID_DISCORD_APPLICATION_ID", &why);
    let public_key = r.required("LUCID_DISCORD_PUBLIC_KEY", &why);
    let bot_token = r.required("LUCID_DISCORD_BOT_TOKEN", &why);
    let mut complete = true;
    if let Some(key) = &public_key
        && (key.len() != 64 || !key.chars().all(|c| c.is_ascii_hexdigit()))
    {
        r.problem(
            "LUCID_DISCORD_PUBLIC_KEY",
            "must be the 64 hex characters shown in the Developer Portal",
        );
        complete = false;
    }
    let guilds = r.list("LUCID_DISCORD_GUILDS");
    if guilds.is_empty() {
        r.problem(
            "LUCID_DISCORD_GUILDS",
            &format!("missing: {why}; name the servers (guild ids) lucid may answer"),
        );
        complete = false;
    }
    let channels = r.list("LUCID_DISCORD_CHANNELS");
    let roles = r.list("LUCID_DISCORD_ROLES");
    let users = r.list("LUCID_DISCORD_USERS");
    let channel_repos = channel_repos(r, "LUCID_DISCORD_CHANNEL_REPOS");
    let api_url = r.parsed("LUCID_DISCORD_API_URL", https_origin);
    let ca_file = r.text("LUCID_DISCORD_CA_FILE").map(PathBuf::from);
    let gateway = r.parsed("LUCID_DISCORD_GATEWAY", on_off);
    let message_content = r.parsed("LUCID_DISCORD_MESSAGE_CONTENT", on_off);
    let edit_interval = r.parsed("LUCID_DISCORD_EDIT_INTERVAL", duration);
    match (
        application_id,
        public_key,
        bot_token,
        channel_repos,
        api_url,
        gateway,
        message_content,
        edit_interval,
    ) {
        (
            Some(application_id),
            Some(public_key),
            Some(bot_token),
            Some(channel_repos),
            Some(api_url),
            Some(gateway),
            Some(message_content),
            Some(edit_interval),
        ) if complete => Ok(Some(DiscordSettings {
            application_id,
            public_key,
            bot_token: bot_token.into(),
            guilds,
            channels,
            roles,
            users,
            channel_repos,
            api_url,
            ca_file,
            gateway,
            message_content,
            edit_interval,
        })),
        _ => Err(()),
    }
}

/// An `https://host[:port]` origin, nothing after it.
fn https_origin(s: &str) -> Result<String, String> {
    url::Url::parse(s)
        .ok()
        .filter(|u| u.scheme() == "https" && u.host_str().is_some() && u.path() == "/")
        .map(|_| s.trim_end_matches('/').to_owned())
        .ok_or_else(|| format!("{s:?} is not an https://host[:port] origin"))
}

fn on_off(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "1" => Ok(true),
        "off" | "false" | "no" | "0" => Ok(false),
        _ => Err(format!("{s:?} is neither on nor off")),
    }
}

pub(super) fn notion(r: &mut Reader) -> Section<NotionSettings> {
    const KEYS: [&str; 3] = [
        "LUCID_NOTION_TOKEN",
        "LUCID_NOTION_WEBHOOK_SECRET",
        "LUCID_NOTION_DATABASES",
    ];
    let Some(set) = configured_by(r, &KEYS) else {
        return Ok(None);
    };
    let why = format!("Notion is on because {set} is set");
    let token = r.required("LUCID_NOTION_TOKEN", &why);
    let webhook_secret = r
        .text("LUCID_NOTION_WEBHOOK_SECRET")
        .map(SecretString::from);
    let mut complete = true;
    let mut databases = Vec::new();
    for item in r.list("LUCID_NOTION_DATABASES") {
        match notion_id(&item) {
            Some(id) => databases.push(id),
            None => {
                r.problem(
                    "LUCID_NOTION_DATABASES",
                    &format!("{item:?} is neither a database id nor a database's URL"),
                );
                complete = false;
            }
        }
    }
    if databases.is_empty() && complete {
        r.problem(
            "LUCID_NOTION_DATABASES",
            &format!(
                "missing: {why}; name the task databases (ids or URLs) lucid takes tasks from"
            ),
        );
        complete = false;
    }
    let database_repos = channel_repos(r, "LUCID_NOTION_DATABASE_REPOS").map(|pairs| {
        pairs
            .into_iter()
            .map(|(db, repo)| (notion_id(&db).unwrap_or(db), repo))
            .collect::<Vec<_>>()
    });
    let mut name = |env: &str| r.text(env).filter(|n| !n.trim().is_empty());
    let repo_property = name("LUCID_NOTION_REPO_PROPERTY");
    let agent_property = name("LUCID_NOTION_AGENT_PROPERTY");
    let status_property = name("LUCID_NOTION_STATUS_PROPERTY");
    let trigger = name("LUCID_NOTION_TRIGGER_STATUS");
    let in_progress = name("LUCID_NOTION_IN_PROGRESS_STATUS");
    let in_review = name("LUCID_NOTION_IN_REVIEW_STATUS");
    let failed = name("LUCID_NOTION_FAILED_STATUS");
    let pr_property = name("LUCID_NOTION_PR_PROPERTY");
    let poll_interval = r.parsed("LUCID_NOTION_POLL_INTERVAL", duration_or_off);
    let comment_interval = r.parsed("LUCID_NOTION_COMMENT_INTERVAL", duration);
    let api_url = r.parsed("LUCID_NOTION_API_URL", http_url);
    let statuses = match (trigger, in_progress, in_review, failed) {
        (Some(trigger), Some(in_progress), Some(in_review), Some(failed)) => Some(NotionStatuses {
            trigger,
            in_progress,
            in_review,
            failed,
        }),
        _ => None,
    };
    if let Some(statuses) = &statuses {
        let names = [
            &statuses.trigger,
            &statuses.in_progress,
            &statuses.in_review,
            &statuses.failed,
        ];
        if (1..names.len()).any(|i| names[..i].contains(&names[i])) {
            r.problem(
                "LUCID_NOTION_TRIGGER_STATUS",
                "the trigger, in-progress, in-review and failed statuses must be four different values",
            );
            complete = false;
        }
    }
    match (
        token,
        database_repos,
        (repo_property, agent_property),
        status_property,
        statuses,
        pr_property,
        poll_interval,
        comment_interval,
        api_url,
    ) {
        (
            Some(token),
            Some(database_repos),
            (Some(repo_property), Some(agent_property)),
            Some(status_property),
            Some(statuses),
            Some(pr_property),
            Some(poll_interval),
            Some(comment_interval),
            Some(api_url),
        ) if complete => Ok(Some(NotionSettings {
            token: token.into(),
            webhook_secret,
            databases,
            database_repos,
            repo_property,
            agent_property,
            status_property,
            statuses,
            pr_property,
            poll_interval,
            comment_interval,
            api_url,
        })),
        _ => Err(()),
    }
}

/// A duration, or `off` (never).
fn duration_or_off(s: &str) -> Result<Option<std::time::Duration>, String> {
    if on_off(s) == Ok(false) {
        return Ok(None);
    }
    let every =
        duration(s).map_err(|_| format!("{s:?} is neither a duration such as 30s nor off"))?;
    if every < std::time::Duration::from_secs(1) {
        return Err(format!(
            "{s:?} is shorter than a second: Notion allows 3 requests a second"
        ));
    }
    Ok(Some(every))
}
