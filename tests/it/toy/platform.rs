//! ToyChat as a lucid chat platform, written only against lucid's public ports: a
//! thread is `<room>/<first message>`, a 👀 reaction acknowledges a request, the
//! status message is a reply in the thread posted when the worker starts (not as the
//! acknowledgement) and edited in place, and key moments are replies of their own.
//! Unlike GitHub (no replies) and Slack (status message first), it takes replies and
//! posts its status message late, so the follower's other paths run.

use super::chat::MAX_TEXT;
use super::markup::{ToyMarkup, escape};
use anyhow::{Context, bail};
use async_trait::async_trait;
use lucid::chat::{ChatPlatform, Intake, Pacing, Rendered, StatusView};
use lucid::core::digest::Digest;
use lucid::core::{Author, Origin, Platform, RepoRef, ThreadRef};
use lucid::messages::{self, Markup, PlainWords, shorten};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// The platform's name: lucid itself knows it only as a `Platform` it was given.
pub const TOY: Platform = Platform::known("toy");

pub struct ToySettings {
    /// ToyChat's origin (`http://host:port`).
    pub api_url: String,
    /// The bot's token for ToyChat's API.
    pub token: SecretString,
    /// Webhook secrets, any of which a delivery may carry (so they can rotate).
    pub secrets: Vec<SecretString>,
    /// The bot's user id, and the name people mention it by (`@lucid`).
    pub bot_user: String,
    /// The rooms lucid takes work in, each with the repository it works on when a
    /// message names none.
    pub rooms: Vec<(String, Option<RepoRef>)>,
    /// When not empty, the only people who may ask.
    pub users: Vec<String>,
    /// People whose GitHub login the workspace knows (its single sign-on, say): the
    /// forge is asked whether they may work on a repository, as on GitHub itself.
    pub github_logins: Vec<(String, String)>,
    pub edit_interval: Duration,
}

pub struct ToyPlatform {
    pub settings: ToySettings,
    http: reqwest::Client,
}

/// The room and the thread's first message of a ToyChat thread.
pub fn place(thread: &ThreadRef) -> anyhow::Result<(&str, &str)> {
    match thread {
        ThreadRef::Other { platform, place } if *platform == TOY => place
            .split_once('/')
            .with_context(|| format!("a ToyChat thread is room/message, not {place:?}")),
        other => bail!("not a ToyChat thread: {}", other.platform()),
    }
}

pub fn thread_of(room: &str, root: &str) -> ThreadRef {
    ThreadRef::Other {
        platform: TOY,
        place: format!("{room}/{root}"),
    }
}

impl ToyPlatform {
    pub fn new(settings: ToySettings) -> Arc<ToyPlatform> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        Arc::new(ToyPlatform { settings, http })
    }

    /// Calls ToyChat; an answer other than 2xx is an error naming ToyChat's code.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.settings.api_url))
            .bearer_auth(self.settings.token.expose_secret());
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach ToyChat for {method} {path}"))?;
        let status = response.status().as_u16();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        Ok((status, answer))
    }

    async fn post_message(&self, room: &str, root: &str, text: &str) -> anyhow::Result<String> {
        let path = format!("/api/rooms/{room}/messages");
        let body = json!({"text": text, "thread": root});
        match self.call(reqwest::Method::POST, &path, Some(body)).await? {
            (201, answer) => answer["message"]["id"]
                .as_str()
                .map(str::to_owned)
                .context("ToyChat answered a post without the message's id"),
            (status, answer) => bail!("ToyChat refused a message ({status}): {answer}"),
        }
    }

    pub fn room_allowed(&self, room: &str) -> Option<&Option<RepoRef>> {
        self.settings
            .rooms
            .iter()
            .find(|(r, _)| r == room)
            .map(|(_, repo)| repo)
    }
}

#[async_trait]
impl ChatPlatform for ToyPlatform {
    fn platform(&self) -> Platform {
        TOY
    }

    fn title(&self) -> &'static str {
        "ToyChat"
    }

    fn routes(self: Arc<Self>, intake: Intake) -> axum::Router {
        super::inbound::routes(self, intake)
    }

    fn markup(&self) -> &dyn Markup {
        &ToyMarkup
    }

    fn pacing(&self) -> Pacing {
        Pacing {
            edit_interval: self.settings.edit_interval,
            clock_refresh: Duration::from_secs(30),
            status_first: false,
            replies: Some(MAX_TEXT),
            reply_interval: std::time::Duration::ZERO,
        }
    }

    async fn acknowledge(&self, origin: &Origin) -> anyhow::Result<()> {
        let (room, _) = place(&origin.thread)?;
        let Some(message) = &origin.message else {
            return Ok(());
        };
        let path = format!("/api/rooms/{room}/messages/{message}/reactions");
        match self
            .call(reqwest::Method::POST, &path, Some(json!({"emoji": "eyes"})))
            .await?
        {
            (201 | 409, _) => Ok(()),
            (status, answer) => bail!("ToyChat refused a reaction ({status}): {answer}"),
        }
    }

    async fn say(&self, thread: &ThreadRef, rendered: &str) -> anyhow::Result<()> {
        let (room, root) = place(thread)?;
        self.post_message(room, root, rendered).await.map(drop)
    }

    /// The headline, what it does now (cut to fit), and a link to the session.
    fn render_status(&self, view: &StatusView) -> Rendered {
        let digest = Digest::read(view.events);
        let headline = messages::headline(view.session, &digest, view.now).render(&ToyMarkup);
        let link = format!("\n[url={}]session log[/url]", view.session_url);
        let mut status = headline;
        if let Some(doing) = messages::now_doing(view.session, &digest) {
            let room = MAX_TEXT.saturating_sub(status.chars().count() + link.chars().count() + 1);
            let rendered = doing.render(&ToyMarkup);
            let doing = if rendered.chars().count() <= room {
                rendered
            } else {
                fit(&doing.render(&PlainWords), room)
            };
            status.push('\n');
            status.push_str(&doing);
        }
        status.push_str(&link);
        Rendered::text(shorten(&status, MAX_TEXT))
    }

    async fn post_status(&self, thread: &ThreadRef, rendered: &Rendered) -> anyhow::Result<String> {
        let (room, root) = place(thread)?;
        self.post_message(room, root, rendered.as_str()).await
    }

    async fn update_status(
        &self,
        thread: &ThreadRef,
        id: &str,
        rendered: &Rendered,
    ) -> anyhow::Result<()> {
        let rendered = rendered.as_str();
        let (room, _) = place(thread)?;
        let path = format!("/api/rooms/{room}/messages/{id}");
        match self
            .call(
                reqwest::Method::PATCH,
                &path,
                Some(json!({"text": rendered})),
            )
            .await?
        {
            (200, _) => Ok(()),
            (status, answer) => bail!("ToyChat refused an edit ({status}): {answer}"),
        }
    }

    /// The name ToyChat shows for the person (its user directory), else their id.
    async fn display_name(&self, author: &Author) -> String {
        let path = format!("/api/users/{}", author.id);
        match self.call(reqwest::Method::GET, &path, None).await {
            Ok((200, answer)) => answer["user"]["name"]
                .as_str()
                .map_or_else(|| author.display_name.clone(), str::to_owned),
            _ => author.display_name.clone(),
        }
    }
}

/// Words, escaped, cut to at most `max` characters once escaped.
fn fit(words: &str, max: usize) -> String {
    let mut keep = max;
    loop {
        let escaped = escape(&shorten(words, keep));
        let over = escaped.chars().count().saturating_sub(max);
        if over == 0 || keep == 0 {
            return escaped;
        }
        keep = keep.saturating_sub(over);
    }
}
