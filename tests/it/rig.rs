//! What the end-to-end tests stand on: the fake GitHub, Slack and model on
//! loopback, and the real `lucid serve` binary pointed at them, its log kept.

use crate::fake_discord::FakeDiscord;
use crate::fake_github::FakeGithub;
use crate::fake_llm::{FakeLlm, Reply};
use crate::fake_notion::{DatabaseSpec, FakeNotion, NotionDatabase};
use crate::fake_slack::FakeSlack;
use crate::harness::within;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

pub const TOKEN: &str = "ghp_e2eSecretToken0123456789abcdef";
pub const SECRET: &str = "webhook-secret-for-tests";
pub const LLM_KEY: &str = "sk-e2e-model-key-0123456789";
pub const API_TOKEN: &str = "e2e-api-token-0123456789";
pub const REPO: &str = "acme/calc";
pub const CALC: &str = "def add(a, b):\n    return a - b\n";
pub const TEST: &str =
    "from calc import add\nassert add(2, 2) == 4, 'add is broken'\nprint('ok')\n";

pub const APP_ID: u64 = 777;

pub const SLACK_TOKEN: &str = "xoxb-e2e-slack-token-0123456789";
pub const SLACK_SECRET: &str = "slack-signing-secret-for-tests";
/// The fake Slack's workspace and bot user.
pub const TEAM: &str = "T0001";
pub const BOT_USER: &str = "U0LUCID";
/// A channel whose default repository is acme/calc, and one with none.
pub const CHANNEL: &str = "C0CALC";
pub const BARE_CHANNEL: &str = "C0BARE";
/// People in the workspace: ada may ask lucid for work, eve may not.
pub const ADA: &str = "U0ADA";
pub const EVE: &str = "U0EVE";

/// How lucid signs in to GitHub.
pub enum Auth {
    Token,
    App,
    /// No GitHub credentials in the settings: `lucid setup github` connects an App.
    Unset,
}

pub const DISCORD_TOKEN: &str = "discord-e2e-bot-token-0123456789";
/// The fake Discord's server, its channels (one whose default repository is acme/calc,
/// one with none), the role that may ask, and people: ada holds the role, eve not.
pub const GUILD: &str = "900000000000000001";
pub const DCHANNEL: &str = "900000000000000010";
pub const DBARE: &str = "900000000000000011";
pub const DROLE: &str = "900000000000000020";
pub const DADA: &str = "900000000000000030";
pub const DEVE: &str = "900000000000000031";

pub const NOTION_TOKEN: &str = "ntn_e2eNotionIntegrationSecret0123456789";

pub struct Lucid {
    pub url: String,
    pub github: FakeGithub,
    pub slack: FakeSlack,
    pub discord: FakeDiscord,
    pub notion: FakeNotion,
    /// The task database lucid is set up with, when Notion is connected.
    pub notion_db: NotionDatabase,
    pub llm: FakeLlm,
    pub http: reqwest::Client,
    child: Child,
    /// The environment `lucid serve` runs with, to start it again.
    env: Vec<(String, String)>,
    log: Arc<Mutex<Vec<String>>>,
    dir: tempfile::TempDir,
}

impl Drop for Lucid {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// Stops a `lucid serve` gracefully, or, if it has not stopped well past its own
/// grace, kills it: a test that failed on something stuck ends instead of hanging.
fn stop(child: &mut Child) {
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(40);
    while std::time::Instant::now() < deadline {
        if !matches!(child.try_wait(), Ok(None)) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    eprintln!("lucid serve {} did not stop in 40 s; killed", child.id());
    let _ = child.kill();
    let _ = child.wait();
}

/// A second `lucid serve`, stopped when dropped.
pub struct Replica {
    pub url: String,
    child: Option<Child>,
}

impl Replica {
    /// The process id of this `lucid serve` (0 once it was taken over by `fail_over`).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            stop(child);
        }
    }
}

impl Lucid {
    pub async fn start(replies: Vec<Reply>) -> Lucid {
        Self::start_as(replies, Auth::Token).await
    }

    pub async fn start_as(replies: Vec<Reply>, auth: Auth) -> Lucid {
        Self::start_with(replies, auth, false, false, &[]).await
    }

    /// lucid with Notion connected too (webhooks signed with the fake's verification
    /// token), and these settings besides.
    pub async fn start_notion_with(replies: Vec<Reply>, extra: &[(&str, &str)]) -> Lucid {
        Self::start_with(replies, Auth::Token, false, true, extra).await
    }

    /// lucid with GitHub's settings unset (for `lucid setup github`), and these
    /// settings besides.
    pub async fn start_unconnected(replies: Vec<Reply>, extra: &[(&str, &str)]) -> Lucid {
        Self::start_with(replies, Auth::Unset, false, false, extra).await
    }

    /// lucid with these settings besides.
    pub async fn start_setting(replies: Vec<Reply>, extra: &[(&str, &str)]) -> Lucid {
        Self::start_with(replies, Auth::Token, false, false, extra).await
    }

    /// lucid with Discord connected too (its gateway included).
    pub async fn start_discord(replies: Vec<Reply>) -> Lucid {
        Self::start_with(replies, Auth::Token, true, false, &[]).await
    }

    /// lucid with Discord and these settings besides.
    pub async fn start_discord_with(replies: Vec<Reply>, extra: &[(&str, &str)]) -> Lucid {
        Self::start_with(replies, Auth::Token, true, false, extra).await
    }

    async fn start_with(
        replies: Vec<Reply>,
        auth: Auth,
        with_discord: bool,
        with_notion: bool,
        extra: &[(&str, &str)],
    ) -> Lucid {
        let github = FakeGithub::start("lucid").await;
        github.accept_token(TOKEN);
        github.add_repo(REPO, &[("calc.py", CALC), ("test_calc.py", TEST)]);
        github.set_permission(REPO, "ada", "write");
        github.set_permission(REPO, "rob", "read");
        let slack = FakeSlack::start(SLACK_TOKEN).await;
        // Ada set a display name; Eve and Rob did not (Slack shows their real names).
        slack.add_user(ADA, "ada", "Ada Lovelace", "Ada");
        slack.add_user(EVE, "eve", "Eve Mallory", "");
        slack.add_user("U0ROB", "rob", "Rob Pike", "");
        let discord = FakeDiscord::start(DISCORD_TOKEN).await;
        discord.guild(GUILD, "acme");
        discord.text_channel(GUILD, DCHANNEL, "calc");
        discord.text_channel(GUILD, DBARE, "general");
        discord.person(DADA, "ada");
        discord.person(DEVE, "eve");
        discord.give_role(DADA, DROLE);
        let notion = FakeNotion::start(NOTION_TOKEN).await;
        let notion_db = notion.create_database(DatabaseSpec::default());
        let llm = FakeLlm::start(replies).await;
        let dir = tempfile::tempdir().unwrap();
        let mut env: Vec<(String, String)> = Vec::new();
        let mut set = |k: &str, v: String| env.push((k.to_owned(), v));
        let github_set = !matches!(auth, Auth::Unset);
        match auth {
            Auth::Token => set("LUCID_GITHUB_TOKEN", TOKEN.into()),
            Auth::App => {
                github.enable_app(APP_ID, 4242);
                let key = concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/tests/data/github/test-app-key.pem"
                );
                set("LUCID_GITHUB_APP_ID", APP_ID.to_string());
                set("LUCID_GITHUB_PRIVATE_KEY_PATH", key.into());
            }
            Auth::Unset => {}
        };
        set("PATH", std::env::var("PATH").unwrap());
        set("DOCKER_HOST", crate::harness::docker_host());
        set(
            "DATABASE_URL",
            format!("sqlite://{}/lucid.db", dir.path().display()),
        );
        set("LUCID_LISTEN", "127.0.0.1:0".into());
        set("LUCID_LOG", "info,lucid=debug".into());
        set("LUCID_API_TOKEN", API_TOKEN.into());
        set(
            "LUCID_WORKSPACES_DIR",
            dir.path().join("workspaces").display().to_string(),
        );
        set("LUCID_SANDBOX_POOL_SIZE", "0".into());
        if github_set {
            set(
                "LUCID_GITHUB_WEBHOOK_SECRETS",
                format!("old-secret,{SECRET}"),
            );
        }
        set("LUCID_GITHUB_API_URL", github.origin.clone());
        set("LUCID_GITHUB_WEB_URL", github.origin.clone());
        set("LUCID_GITHUB_EDIT_INTERVAL", "100ms".into());
        set("LUCID_SLACK_SIGNING_SECRET", SLACK_SECRET.into());
        set("LUCID_SLACK_BOT_TOKEN", SLACK_TOKEN.into());
        set("LUCID_SLACK_TEAMS", TEAM.into());
        set("LUCID_SLACK_USERS", format!("{ADA},U0ROB"));
        set("LUCID_SLACK_CHANNEL_REPOS", format!("{CHANNEL}={REPO}"));
        set("LUCID_SLACK_API_URL", slack.api_url.clone());
        set("LUCID_SLACK_EDIT_INTERVAL", "100ms".into());
        set("LUCID_LLM_BASE_URL", llm.base_url.clone());
        set("LUCID_LLM_API_KEY", LLM_KEY.into());
        set("LUCID_LLM_MODEL", "fake-model".into());
        if with_discord {
            let ca = dir.path().join("fake-discord-ca.pem");
            std::fs::write(&ca, discord.ca_pem()).unwrap();
            set(
                "LUCID_DISCORD_APPLICATION_ID",
                discord.bot().application_id.clone(),
            );
            set("LUCID_DISCORD_PUBLIC_KEY", discord.public_key_hex());
            set("LUCID_DISCORD_BOT_TOKEN", DISCORD_TOKEN.into());
            set("LUCID_DISCORD_GUILDS", GUILD.into());
            set("LUCID_DISCORD_ROLES", DROLE.into());
            set("LUCID_DISCORD_CHANNEL_REPOS", format!("{DCHANNEL}={REPO}"));
            set(
                "LUCID_DISCORD_API_URL",
                format!("https://{}", discord.tls_addr),
            );
            set("LUCID_DISCORD_CA_FILE", ca.display().to_string());
            set("LUCID_DISCORD_EDIT_INTERVAL", "100ms".into());
        }
        if with_notion {
            set("LUCID_NOTION_TOKEN", NOTION_TOKEN.into());
            set("LUCID_NOTION_DATABASES", notion_db.database_id.clone());
            set(
                "LUCID_NOTION_WEBHOOK_SECRET",
                notion.verification_token().to_owned(),
            );
            set("LUCID_NOTION_API_URL", notion.api_base.clone());
            set("LUCID_NOTION_COMMENT_INTERVAL", "200ms".into());
        }
        for (key, value) in extra {
            set(key, (*value).to_owned());
        }
        // The application has the privileged intent it is configured to ask for.
        if extra.contains(&("LUCID_DISCORD_MESSAGE_CONTENT", "on")) {
            discord.allow_message_content(true);
        }
        let log = Arc::new(Mutex::new(Vec::new()));
        let (child, url) = spawn(&env, dir.path(), &log).await;
        Lucid {
            url,
            github,
            slack,
            discord,
            notion,
            notion_db,
            llm,
            http: reqwest::Client::new(),
            child,
            env,
            log,
            dir,
        }
    }

    /// The process id of `lucid serve`.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills `lucid serve` at once (no graceful stop), as a crash would.
    pub fn kill(&mut self) {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGKILL) };
        let _ = self.child.wait();
    }

    /// Stops `lucid serve` gracefully (SIGTERM) and answers how long it took to end.
    pub fn terminate(&mut self) -> std::time::Duration {
        let asked = std::time::Instant::now();
        stop(&mut self.child);
        asked.elapsed()
    }

    /// Starts `lucid serve` again on the same store and settings.
    pub async fn restart(&mut self) {
        let (child, url) = spawn(&self.env, self.dir.path(), &self.log).await;
        self.child = child;
        self.url = url;
    }

    /// Stops `lucid serve` (gracefully) and starts it again on the same store with
    /// the setting `key` changed to `value`.
    pub async fn restart_with(&mut self, key: &str, value: &str) {
        self.terminate();
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_owned(), value.to_owned()));
        self.restart().await;
    }

    /// Every file of the SQLite store (the database and its journal), as bytes.
    pub fn store_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        for entry in std::fs::read_dir(self.dir.path()).unwrap().flatten() {
            if entry.file_name().to_string_lossy().starts_with("lucid.db") {
                bytes.extend(std::fs::read(entry.path()).unwrap_or_default());
            }
        }
        bytes
    }

    /// Another `lucid serve` on the same store and settings, already running (a
    /// second replica: it shares the Docker engine and workspaces directory too).
    pub async fn replica(&self) -> Replica {
        let (child, url) = spawn(&self.env, self.dir.path(), &self.log).await;
        Replica {
            child: Some(child),
            url,
        }
    }

    /// From now on this is `replica` (the first lucid was killed).
    pub fn fail_over(&mut self, mut replica: Replica) {
        self.child = replica.child.take().expect("a replica runs until dropped");
        self.url = std::mem::take(&mut replica.url);
    }

    /// The store `lucid serve` keeps (SQLite).
    pub fn database_url(&self) -> String {
        format!("sqlite://{}/lucid.db", self.dir.path().display())
    }

    /// Where Notion sends webhook events.
    pub fn notion_url(&self) -> String {
        format!("{}/webhooks/notion", self.url)
    }

    /// Where Discord sends interactions.
    pub fn interactions_url(&self) -> String {
        format!("{}/webhooks/discord/interactions", self.url)
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Posts a signed delivery as GitHub would.
    pub async fn deliver(&self, event: &str, delivery: &str, payload: &Value) -> (u16, Value) {
        let body = serde_json::to_vec(payload).unwrap();
        let signature = lucid::github::inbound::sign(SECRET, &body);
        self.post(event, delivery, body, &signature).await
    }

    pub async fn post(
        &self,
        event: &str,
        delivery: &str,
        body: Vec<u8>,
        signature: &str,
    ) -> (u16, Value) {
        let response = within(
            "the webhook",
            self.http
                .post(format!("{}/webhooks/github", self.url))
                .header("X-GitHub-Event", event)
                .header("X-GitHub-Delivery", delivery)
                .header("X-Hub-Signature-256", signature)
                .header("content-type", "application/json")
                .body(body)
                .send(),
        )
        .await
        .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Posts a signed Events API request as Slack would (`retry`: X-Slack-Retry-Num).
    pub async fn slack_event(&self, payload: &Value, retry: Option<u32>) -> (u16, Value) {
        let body = serde_json::to_vec(payload).unwrap();
        let mut headers = vec![("content-type", "application/json".to_owned())];
        if let Some(n) = retry {
            headers.push(("X-Slack-Retry-Num", n.to_string()));
            headers.push(("X-Slack-Retry-Reason", "http_timeout".to_owned()));
        }
        self.slack_post("events", body, now_unix(), &headers).await
    }

    /// Posts a signed form (`interactions` or `commands`) as Slack would.
    pub async fn slack_form(&self, path: &str, fields: &[(&str, &str)]) -> (u16, Value) {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish()
            .into_bytes();
        let headers = [(
            "content-type",
            "application/x-www-form-urlencoded".to_owned(),
        )];
        self.slack_post(path, body, now_unix(), &headers).await
    }

    /// Posts `body` to `/webhooks/slack/{path}`, signed for `timestamp`.
    pub async fn slack_post(
        &self,
        path: &str,
        body: Vec<u8>,
        timestamp: i64,
        headers: &[(&str, String)],
    ) -> (u16, Value) {
        let signature = lucid::slack::inbound::sign(SLACK_SECRET, timestamp, &body);
        let mut request = self
            .http
            .post(format!("{}/webhooks/slack/{path}", self.url))
            .header("X-Slack-Request-Timestamp", timestamp.to_string())
            .header("X-Slack-Signature", signature);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let response = within("the Slack webhook", request.body(body).send())
            .await
            .unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// POSTs `body` to the API with the token (and `key` as the Idempotency-Key).
    pub async fn api_post(&self, path: &str, body: &Value, key: Option<&str>) -> (u16, Value) {
        let mut request = self
            .http
            .post(format!("{}/api/v1{path}", self.url))
            .bearer_auth(API_TOKEN)
            .json(body);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let response = within("the API", request.send()).await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn api(&self, path: &str) -> Value {
        self.http
            .get(format!("{}/api/v1{path}", self.url))
            .bearer_auth(API_TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn sessions(&self) -> Vec<Value> {
        self.api("/sessions").await["sessions"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Polls the API (with the test deadline) until `check` accepts the session.
    pub async fn until_session(
        &self,
        id: &str,
        what: &str,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        within(what, async {
            loop {
                let session = self.api(&format!("/sessions/{id}")).await;
                if check(&session) {
                    return session;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        })
        .await
    }

    /// Polls `/readyz` (with the test deadline) until `check` finds what it looks for
    /// in the answer.
    pub async fn until_readyz<T>(&self, what: &str, check: impl Fn(&Value) -> Option<T>) -> T {
        within(what, async {
            loop {
                let answer: Value = self
                    .http
                    .get(format!("{}/readyz", self.url))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                if let Some(found) = check(&answer) {
                    return found;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        })
        .await
    }

    /// Starts a session on `repo` through the API and waits for it to end (completed,
    /// failed or stopped); answers it as it ended and its events.
    pub async fn run_session(&self, repo: &str, task: &str) -> (Value, Vec<Value>) {
        let (status, body) = self
            .api_post("/sessions", &json!({"task": task, "repo": repo}), None)
            .await;
        assert_eq!(status, 201, "{body}");
        let id = body["session"].as_str().unwrap().to_owned();
        let ended = self
            .until_session(&id, "the session to end", |s| {
                ["completed", "failed", "cancelled"].contains(&s["state"].as_str().unwrap_or(""))
            })
            .await;
        let events = self.events(&id).await;
        (ended, events)
    }

    /// The id of the first session, once there is one.
    pub async fn first_session(&self) -> String {
        within("a session", async {
            loop {
                if let Some(s) = self.sessions().await.first() {
                    return s["id"].as_str().unwrap().to_owned();
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        })
        .await
    }

    pub async fn events(&self, id: &str) -> Vec<Value> {
        self.api(&format!("/sessions/{id}/events?limit=1000")).await["events"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

/// An `issue_comment` delivery: `login` comments `body` on issue `issue` of acme/calc.
pub fn comment_payload(issue: u64, title: &str, comment_id: u64, login: &str, body: &str) -> Value {
    let mut payload: Value = serde_json::from_str(include_str!(
        "../data/github/issue_comment.created.payload.json"
    ))
    .unwrap();
    payload["repository"]["full_name"] = json!(REPO);
    payload["repository"]["name"] = json!("calc");
    payload["repository"]["owner"]["login"] = json!("acme");
    payload["issue"]["number"] = json!(issue);
    payload["issue"]["title"] = json!(title);
    payload["issue"]["body"] = json!("add(2, 2) gives 0.");
    payload["comment"]["id"] = json!(comment_id);
    payload["comment"]["body"] = json!(body);
    payload["comment"]["user"]["login"] = json!(login);
    payload["comment"]["user"]["type"] = json!(if login.ends_with("[bot]") {
        "Bot"
    } else {
        "User"
    });
    payload["sender"]["login"] = json!(login);
    payload
}

pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// An `app_mention` (or, with `kind` "message", a plain message) by `user` in
/// `channel`, posted at `ts`, in the thread of `thread_ts` when given.
pub fn slack_message(
    kind: &str,
    channel: &str,
    user: &str,
    ts: &str,
    thread_ts: Option<&str>,
    text: &str,
) -> Value {
    let mut payload: Value = serde_json::from_str(include_str!(
        "../data/slack/event_callback.app_mention.json"
    ))
    .unwrap();
    payload["team_id"] = json!(TEAM);
    payload["authorizations"][0]["team_id"] = json!(TEAM);
    payload["authorizations"][0]["user_id"] = json!(BOT_USER);
    payload["event_id"] = json!(format!("Ev{}", ts.replace('.', "")));
    let event = &mut payload["event"];
    event["type"] = json!(kind);
    event["team"] = json!(TEAM);
    event["channel"] = json!(channel);
    event["user"] = json!(user);
    event["ts"] = json!(ts);
    event["event_ts"] = json!(ts);
    event["text"] = json!(text);
    event.as_object_mut().unwrap().remove("blocks");
    if let Some(thread_ts) = thread_ts {
        event["thread_ts"] = json!(thread_ts);
    }
    payload
}

/// A click on the Stop button of a status message.
pub fn stop_click(channel: &str, user: &str, thread_ts: &str, session: &str) -> String {
    json!({
        "type": "block_actions",
        "user": {"id": user, "username": "someone", "team_id": TEAM},
        "api_app_id": "A0001",
        "container": {"type": "message", "message_ts": "1.5", "channel_id": channel, "is_ephemeral": false, "thread_ts": thread_ts},
        "trigger_id": format!("{}.1.stop{user}", now_unix()),
        "team": {"id": TEAM, "domain": "acme"},
        "channel": {"id": channel, "name": "calc"},
        "message": {"type": "message", "ts": "1.5", "thread_ts": thread_ts, "text": "status"},
        "response_url": "https://hooks.slack.com/actions/T0001/1/x",
        "actions": [{"action_id": "stop", "block_id": "b", "type": "button", "value": session, "action_ts": "1.6"}]
    })
    .to_string()
}

/// The model's side of a session that fixes calc.py: the test fails first, then an
/// edit, the test passes, done.
pub fn fixing_script() -> Vec<Reply> {
    vec![
        Reply::tool_call("c1", "run", r#"{"command": "python3 test_calc.py"}"#)
            .saying("Let me run the test first."),
        Reply::tool_call(
            "c2",
            "edit_file",
            r#"{"path": "calc.py", "old_text": "return a - b", "new_text": "return a + b"}"#,
        ),
        Reply::tool_call("c3", "run", r#"{"command": "python3 test_calc.py"}"#),
        Reply::tool_call(
            "c4",
            "finish",
            r#"{"summary": "Make add() add\n\nIt subtracted."}"#,
        ),
    ]
}

/// Starts `lucid serve` with `env` in `dir`; answers it and the address it listens on.
async fn spawn(
    env: &[(String, String)],
    dir: &std::path::Path,
    log: &Arc<Mutex<Vec<String>>>,
) -> (Child, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lucid"));
    command.env_clear();
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command
        .arg("serve")
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    for stream in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let log = log.clone();
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if let Some(at) = line.find("lucid listening on http://") {
                    let address = line[at + "lucid listening on ".len()..]
                        .split_whitespace()
                        .next()
                        .unwrap()
                        .to_owned();
                    let _ = tx.send(address);
                }
                log.lock().unwrap().push(line);
            }
        });
    }
    let url = tokio::task::spawn_blocking(move || {
        rx.recv_timeout(crate::harness::DEADLINE)
            .expect("lucid did not start listening")
    })
    .await
    .unwrap();
    (child, url)
}

/// Waits until the session's log shows `command` started.
pub async fn within_command(lucid: &Lucid, id: &str, command: &str) {
    within("the command to start", async {
        loop {
            let events = lucid.events(id).await;
            if events
                .iter()
                .any(|e| e["command"].as_str().is_some_and(|c| c.contains(command)))
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await;
}

/// A Notion id as lucid shows it: without dashes, lower case.
pub fn bare(id: &str) -> String {
    id.replace('-', "").to_ascii_lowercase()
}
