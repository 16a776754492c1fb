//! What doctor asks each platform, with the tokens lucid is set up with: GitHub
//! (`GET /user` for a token; `GET /app`, its installations and an installation token
//! for an App), Slack (`auth.test`, and the scopes it reports), Discord
//! (`GET /users/@me`), Notion (`GET /v1/users/me` and its databases) and the model
//! provider (its model listing). Each answer becomes one line: what was found, and
//! what to do when it is wrong. Nothing secret is ever in a line.
//!
//! GitHub's App is the settings' one, or else the one `/setup/github` made and sealed
//! in the store ([`StoredApp`]), asked the same way; its line says which.
//!
//! [`PlatformProbe`] owns what it needs, so `lucid serve` asks again now and then in
//! the background and `/readyz` shows the last answers ([`LastChecks`]).

use super::{Check, Outcome};
use crate::config::Provider;
use crate::config::{
    DiscordSettings, GithubAuth, GithubSettings, NotionSettings, Settings, SlackSettings,
};
use crate::github::StoredApp;
use crate::store::crypto::SecretKey;
use crate::store::{Store, StoreError};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use std::sync::RwLock;
use std::time::{Duration, SystemTime};

/// How long doctor waits for each platform's answer.
const PATIENCE: Duration = Duration::from_secs(10);

/// The model lucid's built-in agent uses.
#[derive(Clone)]
struct ModelProbe {
    provider: Provider,
    base_url: String,
    key: SecretString,
    model: String,
}

/// Everything doctor asks the platforms, owned.
#[derive(Clone)]
pub struct PlatformProbe {
    github: Option<GithubSettings>,
    slack: Option<SlackSettings>,
    discord: Option<DiscordSettings>,
    notion: Option<NotionSettings>,
    model: Option<ModelProbe>,
    external_agents: Vec<String>,
    public_url: String,
    /// Where the App `/setup/github` made is looked for when no setting connects
    /// GitHub: the store, with the key it is sealed with.
    kept_app: Option<KeptApp>,
}

/// What opening the App `/setup/github` kept takes, and where GitHub's API is.
#[derive(Clone)]
struct KeptApp {
    store: Store,
    key: SecretKey,
    api_url: String,
}

/// Where the GitHub App doctor asks about came from, as its line says.
#[derive(Clone, Copy)]
enum AppFrom {
    Settings,
    Setup,
}

impl AppFrom {
    fn said(self) -> &'static str {
        match self {
            AppFrom::Settings => "from the settings",
            AppFrom::Setup => "set up through /setup/github",
        }
    }
}

impl PlatformProbe {
    pub fn new(settings: &Settings) -> Self {
        Self {
            github: settings.github.clone(),
            slack: settings.slack.clone(),
            discord: settings.discord.clone(),
            notion: settings.notion.clone(),
            model: settings.llm.as_ref().map(|llm| ModelProbe {
                provider: llm.provider,
                base_url: llm.base_url.clone(),
                key: llm.api_key.clone(),
                model: settings.agent.model.clone(),
            }),
            external_agents: settings
                .agents
                .external
                .iter()
                .map(|a| a.id.clone())
                .collect(),
            public_url: settings.public_url.clone(),
            kept_app: None,
        }
    }

    /// Also asks about the App `/setup/github` kept in `store`, when no setting
    /// connects GitHub (settings win, as in `lucid serve`) and the key to open it is
    /// set.
    pub fn with_store(mut self, settings: &Settings, store: Store) -> Self {
        self.kept_app = match (&settings.github, &settings.secret_key) {
            (None, Some(key)) => Some(KeptApp {
                store,
                key: key.clone(),
                api_url: settings.github_site.api_url.clone(),
            }),
            _ => None,
        };
        self
    }

    /// One line (or a few) per configured platform and one for the model, each
    /// platform asked with its token. `notion_token`: the verification token Notion
    /// last sent, as lucid kept it.
    pub async fn run(&self, notion_token: Option<String>) -> Vec<Check> {
        let client = match reqwest::Client::builder()
            .timeout(PATIENCE)
            .user_agent(concat!("lucid/", env!("CARGO_PKG_VERSION")))
            .build()
        {
            Ok(client) => client,
            Err(e) => {
                return vec![check(
                    "platforms",
                    Outcome::Fail,
                    format!("no HTTP client: {e}"),
                    None,
                )];
            }
        };
        let mut checks = Vec::new();
        let (github, slack, discord, model) = tokio::join!(
            async {
                match (&self.github, &self.kept_app) {
                    (Some(github), _) => Some(check_github(&client, github).await),
                    (None, Some(kept)) => check_kept_app(&client, kept, &self.public_url).await,
                    (None, None) => None,
                }
            },
            async {
                match &self.slack {
                    Some(slack) => Some(check_slack(&client, slack).await),
                    None => None,
                }
            },
            async {
                match &self.discord {
                    Some(discord) => Some(check_discord(discord, &self.public_url).await),
                    None => None,
                }
            },
            self.check_model(&client),
        );
        let github_on = github.is_some();
        checks.extend(github);
        if let Some(mut slack) = slack {
            if slack.outcome == Outcome::Ok && !github_on {
                slack.outcome = Outcome::Warn;
                slack.detail = format!(
                    "{}; but GitHub is off, so sessions have no repository to work on",
                    slack.detail
                );
                slack.fix = Some(
                    "connect GitHub too: lucid checks out and opens pull requests through it"
                        .to_owned(),
                );
            }
            checks.push(slack);
        }
        checks.extend(discord);
        if let Some(notion) = &self.notion {
            for (outcome, detail, fix) in
                crate::notion::doctor::check(notion, &self.public_url, notion_token).await
            {
                checks.push(Check {
                    part: "notion",
                    outcome,
                    detail,
                    fix,
                });
            }
        }
        checks.push(model);
        checks
    }

    /// The line of the App `/setup/github` kept, without asking GitHub; None when
    /// there is none (or settings connect GitHub).
    pub async fn kept_app_offline(&self) -> Option<Check> {
        let kept = self.kept_app.as_ref()?;
        let app = match StoredApp::load(&kept.store, &kept.key).await {
            Ok(app) => app?,
            Err(e) => return Some(kept_app_unreadable(&e, &self.public_url)),
        };
        Some(check(
            "github",
            Outcome::Ok,
            format!(
                "GitHub App {} ({}), {}; not asked (--offline)",
                app.slug,
                app.id,
                AppFrom::Setup.said()
            ),
            None,
        ))
    }

    /// The model's line: none set (sessions would stay queued), or the provider asked
    /// for its model listing with the key.
    async fn check_model(&self, client: &reqwest::Client) -> Check {
        match &self.model {
            None => no_model(&self.external_agents),
            Some(model) => ask_model(client, model).await,
        }
    }
}

/// The model's line without asking the provider.
pub(super) fn model_offline(settings: &Settings) -> Check {
    let external: Vec<String> = settings
        .agents
        .external
        .iter()
        .map(|a| a.id.clone())
        .collect();
    match &settings.llm {
        None => no_model(&external),
        Some(llm) => check(
            "model",
            Outcome::Ok,
            format!(
                "{} model {} at {}; not asked (--offline)",
                provider_name(llm.provider),
                settings.agent.model,
                llm.base_url
            ),
            None,
        ),
    }
}

fn no_model(external: &[String]) -> Check {
    if external.is_empty() {
        check(
            "model",
            Outcome::Warn,
            "no model is configured, and no external agent: sessions would stay queued, never run",
            Some(
                "set LUCID_LLM_API_KEY and LUCID_LLM_MODEL (or LUCID_AGENTS for an external agent)",
            ),
        )
    } else {
        check(
            "model",
            Outcome::Ok,
            format!(
                "no model for the built-in agent; sessions run with the external agent(s) {}",
                external.join(", ")
            ),
            None,
        )
    }
}

fn provider_name(provider: Provider) -> &'static str {
    match provider {
        Provider::OpenAi => "OpenAI-compatible",
        Provider::Anthropic => "Anthropic",
    }
}

fn check(
    part: &'static str,
    outcome: Outcome,
    detail: impl Into<String>,
    fix: Option<&str>,
) -> Check {
    Check {
        part,
        outcome,
        detail: detail.into(),
        fix: fix.map(str::to_owned),
    }
}

/// What a platform answered: its status, the headers doctor reads, and its JSON.
struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The platform's own words for a refusal (GitHub's `message`, OpenAI's
    /// `error.message`, Slack's `error`).
    fn reason(&self) -> String {
        let said = self.body["message"]
            .as_str()
            .or_else(|| self.body["error"]["message"].as_str())
            .or_else(|| self.body["error"].as_str())
            .unwrap_or("no reason given");
        format!(
            "HTTP {}, {}",
            self.status,
            crate::messages::shorten(said, 200)
        )
    }
}

async fn send(request: reqwest::RequestBuilder) -> Result<Answer, String> {
    let response = request.send().await.map_err(|e| {
        // reqwest's chain names the URL and the cause; the first line is enough.
        let mut text = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            text = format!("{text}: {cause}");
            source = cause.source();
        }
        crate::messages::shorten(&text, 300)
    })?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    Ok(Answer {
        status,
        headers,
        body,
    })
}

fn github_request(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    bearer: &str,
) -> reqwest::RequestBuilder {
    client
        .request(method, url)
        .bearer_auth(bearer)
        .header("accept", "application/vnd.github+json")
        .header("x-github-api-version", "2022-11-28")
}

async fn check_github(client: &reqwest::Client, github: &GithubSettings) -> Check {
    let api = github.api_url.trim_end_matches('/');
    let unreachable = |e: String| {
        check(
            "github",
            Outcome::Fail,
            format!("could not reach GitHub at {api}: {e}"),
            Some("check that this host reaches GitHub over HTTPS (and LUCID_GITHUB_API_URL)"),
        )
    };
    match &github.auth {
        GithubAuth::Token(token) => {
            let asked = github_request(
                client,
                reqwest::Method::GET,
                format!("{api}/user"),
                token.expose_secret(),
            );
            let answer = match send(asked).await {
                Ok(answer) => answer,
                Err(e) => return unreachable(e),
            };
            github_token(github, &answer)
        }
        GithubAuth::App {
            app_id,
            private_key_path,
        } => {
            let pem = std::fs::read(private_key_path).map_err(|e| {
                check(
                    "github",
                    Outcome::Fail,
                    format!(
                        "the GitHub App's private key {}: {e}",
                        private_key_path.display()
                    ),
                    Some(SETTINGS_KEY_FIX),
                )
            });
            let asked = match pem {
                Ok(pem) => github_app(client, api, *app_id, &pem, AppFrom::Settings).await,
                Err(unreadable) => Err(unreadable),
            };
            match asked {
                Ok(check) | Err(check) => check,
            }
        }
    }
}

const SETTINGS_KEY_FIX: &str = "download a private key from the App's settings (Private keys) and set LUCID_GITHUB_PRIVATE_KEY_PATH to it";

/// The App `/setup/github` kept, opened with `LUCID_SECRET_KEY` and asked like one
/// from the settings; None when none was kept.
async fn check_kept_app(
    client: &reqwest::Client,
    kept: &KeptApp,
    public_url: &str,
) -> Option<Check> {
    let app = match StoredApp::load(&kept.store, &kept.key).await {
        Ok(app) => app?,
        Err(e) => return Some(kept_app_unreadable(&e, public_url)),
    };
    let api = kept.api_url.trim_end_matches('/');
    let pem = app.private_key.expose_secret().as_bytes();
    let asked = github_app(client, api, app.id, pem, AppFrom::Setup).await;
    Some(match asked {
        Ok(check) | Err(check) => check,
    })
}

/// The App `/setup/github` kept cannot be opened: sealed with another key (the
/// error names the setting and both key ids, never a key), damaged, or the store
/// did not answer.
fn kept_app_unreadable(e: &StoreError, public_url: &str) -> Check {
    let setup = format!("{}/setup/github", public_url.trim_end_matches('/'));
    match e {
        StoreError::Credential(_) => check(
            "github",
            Outcome::Fail,
            format!("the GitHub App set up through /setup/github cannot be opened: {e}"),
            Some(&format!(
                "set LUCID_SECRET_KEY to the key it was sealed with; without that key, make the App again at {setup}"
            )),
        ),
        _ => check(
            "github",
            Outcome::Fail,
            format!("could not read the GitHub App set up through /setup/github: {e}"),
            Some("check DATABASE_URL and that the database answers"),
        ),
    }
}

/// The answer to `GET /user` with the personal access token.
fn github_token(github: &GithubSettings, answer: &Answer) -> Check {
    let hooks = github.webhook_secrets.len();
    if answer.status == 401 {
        return check(
            "github",
            Outcome::Fail,
            format!("GitHub refused the token (GET /user: {})", answer.reason()),
            Some(
                "the token is wrong, expired or revoked: make a new one (fine-grained: Contents, Issues and Pull requests read and write) and set LUCID_GITHUB_TOKEN",
            ),
        );
    }
    if answer.status != 200 {
        return check(
            "github",
            Outcome::Fail,
            format!(
                "GitHub did not say who the token is (GET /user: {})",
                answer.reason()
            ),
            Some("check LUCID_GITHUB_TOKEN and LUCID_GITHUB_API_URL"),
        );
    }
    let login = answer.body["login"].as_str().unwrap_or("?");
    // Classic tokens list their scopes; fine-grained ones do not.
    if let Some(scopes) = answer.header("x-oauth-scopes") {
        let has = |s: &str| scopes.split(',').any(|x| x.trim() == s);
        if !has("repo") && !has("public_repo") {
            return check(
                "github",
                Outcome::Fail,
                format!("the token of @{login} works but lacks the repo scope (it has: {scopes})"),
                Some(
                    "give the token the repo scope (or use a fine-grained one with Contents, Issues and Pull requests read and write)",
                ),
            );
        }
    }
    if !login.eq_ignore_ascii_case(&github.bot_login) {
        return check(
            "github",
            Outcome::Warn,
            format!(
                "the token works and is @{login}'s, but LUCID_GITHUB_BOT_LOGIN is {}",
                github.bot_login
            ),
            Some(&format!(
                "set LUCID_GITHUB_BOT_LOGIN={login}: lucid knows its own comments and its mentions by it"
            )),
        );
    }
    check(
        "github",
        Outcome::Ok,
        format!("the token works: signed in as @{login}; {hooks} webhook secret(s)"),
        None,
    )
}

/// The App's key signs a JWT GitHub takes (`GET /app`), the App is installed
/// somewhere (`GET /app/installations`), and an installation token can be minted.
async fn github_app(
    client: &reqwest::Client,
    api: &str,
    app_id: u64,
    pem: &[u8],
    from: AppFrom,
) -> Result<Check, Check> {
    let fail = |detail: String, fix: &str| check("github", Outcome::Fail, detail, Some(fix));
    let (key_fix, refused_fix) = match from {
        AppFrom::Settings => (
            SETTINGS_KEY_FIX,
            "check LUCID_GITHUB_APP_ID, and that LUCID_GITHUB_PRIVATE_KEY_PATH holds a key of that App that was not deleted",
        ),
        AppFrom::Setup => (
            "make the App again through lucid's page /setup/github",
            "the App or its key was deleted on GitHub: make the App again through lucid's page /setup/github, or connect GitHub with settings",
        ),
    };
    let jwt = app_jwt(app_id, pem).map_err(|e| {
        fail(
            format!("the private key of the GitHub App {}: {e}", from.said()),
            key_fix,
        )
    })?;
    let unreachable = |e: String| {
        fail(
            format!("could not reach GitHub at {api}: {e}"),
            "check that this host reaches GitHub over HTTPS (and LUCID_GITHUB_API_URL)",
        )
    };
    let get =
        |path: &str| github_request(client, reqwest::Method::GET, format!("{api}{path}"), &jwt);
    let app = send(get("/app")).await.map_err(unreachable)?;
    if app.status != 200 {
        return Err(fail(
            format!(
                "GitHub refused the App's key (GET /app: {}); the App is {}",
                app.reason(),
                from.said()
            ),
            refused_fix,
        ));
    }
    let slug = app.body["slug"].as_str().unwrap_or("?").to_owned();
    let installations = send(get("/app/installations")).await.map_err(unreachable)?;
    let list = installations.body.as_array().cloned().unwrap_or_default();
    if installations.status != 200 {
        return Err(fail(
            format!(
                "GitHub did not list the App's installations ({})",
                installations.reason()
            ),
            "check the App's settings",
        ));
    }
    let Some(first) = list.first() else {
        return Err(fail(
            format!(
                "the GitHub App {slug} ({app_id}), {}, is installed nowhere",
                from.said()
            ),
            "install it on the repositories lucid works on (the App's page, Install App)",
        ));
    };
    let id = first["id"].as_u64().unwrap_or_default();
    let account = first["account"]["login"].as_str().unwrap_or("?");
    let minted = github_request(
        client,
        reqwest::Method::POST,
        format!("{api}/app/installations/{id}/access_tokens"),
        &jwt,
    )
    // The least a token can be: it proves minting works and can do nothing else.
    .json(&serde_json::json!({"permissions": {"metadata": "read"}}));
    let minted = send(minted).await.map_err(unreachable)?;
    if minted.status != 201 {
        return Err(fail(
            format!(
                "the GitHub App {slug} could not mint an installation token for {account} ({})",
                minted.reason()
            ),
            "check that the installation is not suspended (the App's installations page)",
        ));
    }
    Ok(check(
        "github",
        Outcome::Ok,
        format!(
            "GitHub App {slug} ({app_id}), {}, works: installed on {} account(s); an installation token was minted for {account}",
            from.said(),
            list.len()
        ),
        None,
    ))
}

/// A GitHub App JWT: RS256, issued a minute ago (clocks drift), for nine minutes.
fn app_jwt(app_id: u64, pem: &[u8]) -> Result<String, String> {
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem).map_err(|e| e.to_string())?;
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let claims = serde_json::json!({
        "iat": now.saturating_sub(60),
        "exp": now + 540,
        "iss": app_id.to_string(),
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        &key,
    )
    .map_err(|e| e.to_string())
}

/// `auth.test` with the bot token: whose it is, in which workspace, with which scopes
/// (Slack lists them in the `x-oauth-scopes` header of every answer).
async fn check_slack(client: &reqwest::Client, slack: &SlackSettings) -> Check {
    use crate::slack::manifest::{SCOPES_TO_DO_WITHOUT, WebMethod, missing_scopes};
    let api = slack.api_url.trim_end_matches('/');
    let asked = client
        .post(format!("{api}/{}", WebMethod::AuthTest.name()))
        .bearer_auth(slack.bot_token.expose_secret())
        .header("content-type", "application/x-www-form-urlencoded")
        .body("");
    let answer = match send(asked).await {
        Ok(answer) => answer,
        Err(e) => {
            return check(
                "slack",
                Outcome::Fail,
                format!("could not reach Slack at {api}: {e}"),
                Some("check that this host reaches slack.com over HTTPS (and LUCID_SLACK_API_URL)"),
            );
        }
    };
    if answer.body["ok"] != true {
        let error = answer.body["error"].as_str().unwrap_or("no answer");
        return check(
            "slack",
            Outcome::Fail,
            format!(
                "Slack refused the bot token (auth.test: {error}, HTTP {})",
                answer.status
            ),
            Some(
                "copy the Bot User OAuth Token (OAuth & Permissions, xoxb-…) again into LUCID_SLACK_BOT_TOKEN; a revoked token comes back by installing the app again",
            ),
        );
    }
    let team_id = answer.body["team_id"].as_str().unwrap_or("?");
    let team = answer.body["team"].as_str().unwrap_or("?");
    let user = answer.body["user"].as_str().unwrap_or("?");
    let who = format!("bot @{user} in {team} ({team_id})");
    if !slack.teams.iter().any(|t| t == team_id) {
        return check(
            "slack",
            Outcome::Fail,
            format!("the token works, as {who}, a workspace LUCID_SLACK_TEAMS does not list"),
            Some(&format!(
                "add {team_id} to LUCID_SLACK_TEAMS, or use that workspace's token"
            )),
        );
    }
    let Some(granted) = answer.header("x-oauth-scopes") else {
        return check(
            "slack",
            Outcome::Warn,
            format!("the token works, as {who}, but Slack did not say its scopes"),
            None,
        );
    };
    let missing = missing_scopes(granted);
    let reinstall = "add them to the app (`lucid setup slack` prints its manifest; or OAuth & Permissions, Bot Token Scopes), then reinstall it to the workspace (OAuth & Permissions, Reinstall to Workspace)";
    if missing.iter().any(|s| !SCOPES_TO_DO_WITHOUT.contains(s)) {
        return check(
            "slack",
            Outcome::Fail,
            format!(
                "the token works, as {who}, but lacks the scope(s) {}",
                missing.join(", ")
            ),
            Some(reinstall),
        );
    }
    let setup = format!(
        "{} workspace(s), {} channel restriction(s), {} user restriction(s), {} channel repository default(s)",
        slack.teams.len(),
        slack.channels.len(),
        slack.users.len(),
        slack.channel_repos.len()
    );
    if !missing.is_empty() {
        return check(
            "slack",
            Outcome::Warn,
            format!(
                "the token works, as {who}, without the scope(s) {}: people are named by their user id, or only mentions reach a session; {setup}",
                missing.join(", ")
            ),
            Some(reinstall),
        );
    }
    check(
        "slack",
        Outcome::Ok,
        format!("the token works, as {who}, with every scope lucid needs; {setup}"),
        None,
    )
}

/// Discord: the bot token is asked who it is (`GET /users/@me`), and the invite URL
/// with exactly the permissions lucid needs is given.
async fn check_discord(discord: &DiscordSettings, public_url: &str) -> Check {
    let invite = crate::discord::invite_url(&discord.application_id);
    let me = async {
        let api = crate::discord::outbound::DiscordApi::new(discord)?;
        tokio::time::timeout(PATIENCE, api.me())
            .await
            .map_err(|_| anyhow::anyhow!("Discord did not answer within 10 s"))?
    };
    match me.await {
        Ok(me) => check(
            "discord",
            Outcome::Ok,
            format!(
                "bot {} ({}) in {} server(s); invite it with {invite}; interactions endpoint: {}{}",
                me.name,
                me.id,
                discord.guilds.len(),
                public_url.trim_end_matches('/'),
                crate::discord::INTERACTIONS_PATH,
            ),
            None,
        ),
        Err(e) if crate::discord::outbound::client::refused(&e) => check(
            "discord",
            Outcome::Fail,
            format!("Discord refused the bot token (GET /users/@me): {e:#}"),
            Some(
                "copy the token again from the application's Bot page into LUCID_DISCORD_BOT_TOKEN",
            ),
        ),
        Err(e) => check(
            "discord",
            Outcome::Fail,
            format!("could not reach Discord at {}: {e:#}", discord.api_url),
            Some("check that this host reaches Discord over HTTPS (and LUCID_DISCORD_API_URL)"),
        ),
    }
}

/// The provider's model listing, asked with the key: OpenAI-compatible APIs answer
/// `GET {base}/models`, Anthropic `GET {base}/v1/models`.
async fn ask_model(client: &reqwest::Client, model: &ModelProbe) -> Check {
    let base = model.base_url.trim_end_matches('/');
    let (url, request) = match model.provider {
        Provider::OpenAi => {
            let url = format!("{base}/models");
            let request = client.get(&url).bearer_auth(model.key.expose_secret());
            (url, request)
        }
        Provider::Anthropic => {
            let url = format!("{base}/v1/models");
            let request = client
                .get(&url)
                .header("x-api-key", model.key.expose_secret())
                .header("anthropic-version", "2023-06-01");
            (url, request)
        }
    };
    let provider = provider_name(model.provider);
    let name = &model.model;
    let answer = match send(request).await {
        Ok(answer) => answer,
        Err(e) => {
            return check(
                "model",
                Outcome::Fail,
                format!("could not reach the {provider} API at {base}: {e}"),
                Some("check LUCID_LLM_BASE_URL, and that this host reaches it"),
            );
        }
    };
    match answer.status {
        200 => {
            let offered = answer.body["data"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|m| m["id"].as_str() == Some(name));
            if offered {
                check(
                    "model",
                    Outcome::Ok,
                    format!("{provider} API at {base} takes the key and offers {name}"),
                    None,
                )
            } else {
                check(
                    "model",
                    Outcome::Warn,
                    format!(
                        "{provider} API at {base} takes the key, but its listing does not name {name}"
                    ),
                    Some("check LUCID_LLM_MODEL against the provider's model names"),
                )
            }
        }
        401 | 403 => check(
            "model",
            Outcome::Fail,
            format!(
                "the {provider} API refused the key (GET {url}: {})",
                answer.reason()
            ),
            Some("set LUCID_LLM_API_KEY to a key the provider takes"),
        ),
        404 | 405 => check(
            "model",
            Outcome::Warn,
            format!(
                "{provider} API at {base} has no model listing ({}), so the key was not checked",
                answer.reason()
            ),
            None,
        ),
        _ => check(
            "model",
            Outcome::Fail,
            format!(
                "the {provider} API at {base} failed (GET {url}: {})",
                answer.reason()
            ),
            Some("check LUCID_LLM_BASE_URL and the provider's status"),
        ),
    }
}

/// The last answers the platforms gave `lucid serve`, for `/readyz`.
#[derive(Default)]
pub struct LastChecks {
    last: RwLock<Option<(SystemTime, Vec<Check>)>>,
    /// Rings when something changed that the platforms should be asked about now.
    recheck: tokio::sync::Notify,
}

impl LastChecks {
    /// Asks the platforms again now rather than at the next round (a GitHub App was
    /// just made through `/setup/github`).
    pub fn ask_again(&self) {
        self.recheck.notify_one();
    }

    pub fn set(&self, checks: Vec<Check>) {
        *self.last.write().unwrap_or_else(|e| e.into_inner()) = Some((SystemTime::now(), checks));
    }

    /// `{"checked_at": unix seconds, "checks": [{"part", "outcome", "detail", "fix"}]}`,
    /// or null before the first answers.
    pub fn to_json(&self) -> Value {
        let last = self.last.read().unwrap_or_else(|e| e.into_inner());
        let Some((at, checks)) = &*last else {
            return Value::Null;
        };
        let at = at
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let checks: Vec<Value> = checks
            .iter()
            .map(|c| {
                serde_json::json!({
                    "part": c.part,
                    "outcome": c.outcome.word(),
                    "detail": c.detail,
                    "fix": c.fix,
                })
            })
            .collect();
        serde_json::json!({ "checked_at": at, "checks": checks })
    }
}

/// How often `lucid serve` asks the platforms again.
pub const RECHECK_EVERY: Duration = Duration::from_secs(10 * 60);

/// Asks the platforms now and every [`RECHECK_EVERY`], keeping the answers in `last`,
/// until `stop`.
pub async fn keep_checking(
    probe: PlatformProbe,
    store: crate::store::Store,
    last: std::sync::Arc<LastChecks>,
    stop: tokio_util::sync::CancellationToken,
) {
    stop.run_until_cancelled(async move {
        loop {
            let notion_token = store
                .mark(
                    &crate::core::Platform::NOTION,
                    crate::notion::inbound::route::VERIFICATION_MARK,
                )
                .await
                .ok()
                .flatten();
            last.set(probe.run(notion_token).await);
            tokio::select! {
                () = tokio::time::sleep(RECHECK_EVERY) => {}
                () = last.recheck.notified() => {}
            }
        }
    })
    .await;
}
