//! Slack as a chat platform: a thread is a conversation, the status message (with its
//! Stop button) is posted at once as the acknowledgement of a new session and updated
//! in place, and key moments go to the thread as replies, paced per channel.

use crate::chat::{ChatPlatform, Intake, Pacing, Rendered, StatusView};
use crate::config::SlackSettings;
use crate::core::{Author, Origin, Platform, Refusal, ThreadRef};
use crate::messages::Markup;
use crate::slack::outbound::markup::SlackMarkup;
use crate::slack::outbound::status::{self, MAX_REPLY_CHARS};
use crate::slack::outbound::{Post, SlackApi};
use anyhow::bail;
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How often the status message is updated when nothing but the elapsed time changed:
/// `chat.update` is rate-limited per workspace, and a minute-fresh clock is enough.
const CLOCK_REFRESH: Duration = Duration::from_secs(30);

pub struct SlackPlatform {
    pub settings: Arc<SlackSettings>,
    pub api: Arc<SlackApi>,
    /// The bot's user id, from `auth.test` at start-up; events also carry it.
    pub bot_user_id: OnceLock<String>,
    /// People's names by user id, as `users.info` gave them, and until when.
    pub names: Mutex<HashMap<String, (String, Instant)>>,
}

/// How long a person's name is taken as known; and, when Slack could not say, how
/// long their id stands in before Slack is asked again.
const NAME_TTL: Duration = Duration::from_secs(3_600);
const NAMELESS_TTL: Duration = Duration::from_secs(300);
/// How long naming a person may hold up an answer to Slack; the id is used after.
const NAME_WAIT: Duration = Duration::from_millis(800);

impl SlackPlatform {
    pub fn team_allowed(&self, team: &str) -> bool {
        self.settings.teams.iter().any(|t| t == team)
    }

    /// Why `user` may not ask for work in `channel`, if they may not.
    pub fn refusal(&self, channel: &str, user: &str) -> Option<Refusal> {
        let listed = |list: &[String], id: &str| list.is_empty() || list.iter().any(|x| x == id);
        if !listed(&self.settings.channels, channel) {
            Some(Refusal::PlaceNotListed)
        } else if !listed(&self.settings.users, user) {
            Some(Refusal::PersonNotListed)
        } else {
            None
        }
    }
}

/// The channel and thread of a Slack conversation.
pub fn place(thread: &ThreadRef) -> anyhow::Result<(&str, &str)> {
    match thread {
        ThreadRef::Slack {
            channel, thread_ts, ..
        } => Ok((channel, thread_ts)),
        other => bail!("not a Slack thread: {}", other.platform()),
    }
}

#[async_trait]
impl ChatPlatform for SlackPlatform {
    fn platform(&self) -> Platform {
        Platform::SLACK
    }

    fn title(&self) -> &'static str {
        "Slack"
    }

    fn conversation_url(&self, thread: &ThreadRef) -> Option<String> {
        match thread {
            ThreadRef::Slack {
                team,
                channel,
                thread_ts,
            } => Some(format!(
                "https://app.slack.com/client/{team}/{channel}/thread/{channel}-{thread_ts}"
            )),
            _ => None,
        }
    }

    fn routes(self: Arc<Self>, intake: Intake) -> axum::Router {
        super::inbound::routes(self, intake)
    }

    fn markup(&self) -> &dyn Markup {
        &SlackMarkup
    }

    fn pacing(&self) -> Pacing {
        Pacing {
            edit_interval: self.settings.edit_interval,
            clock_refresh: CLOCK_REFRESH,
            status_first: true,
            replies: Some(MAX_REPLY_CHARS),
            reply_interval: std::time::Duration::ZERO,
        }
    }

    async fn acknowledge(&self, origin: &Origin) -> anyhow::Result<()> {
        let (channel, _) = place(&origin.thread)?;
        if let Some(ts) = &origin.message {
            self.api.react(channel, ts, "eyes").await?;
        }
        Ok(())
    }

    fn speaks_privately(&self) -> bool {
        true
    }

    /// An ephemeral message in the request's thread (in the channel, for a command,
    /// which has none): Slack shows it to that one person and keeps it nowhere.
    async fn say_privately(&self, origin: &Origin, rendered: &str) -> anyhow::Result<()> {
        let (channel, thread_ts) = place(&origin.thread)?;
        let thread_ts = Some(thread_ts).filter(|ts| !ts.is_empty());
        self.api
            .ephemeral(channel, &origin.author.id, thread_ts, rendered)
            .await?;
        Ok(())
    }

    async fn say(&self, thread: &ThreadRef, rendered: &str) -> anyhow::Result<()> {
        let (channel, thread_ts) = place(thread)?;
        self.api
            .post(channel, Some(thread_ts), &Post::text(rendered))
            .await?;
        Ok(())
    }

    fn render_status(&self, view: &StatusView) -> Rendered {
        let post = status::status_post(&status::StatusView {
            session: view.session,
            events: view.events,
            now: view.now,
            session_url: view.session_url,
        });
        let text = serde_json::to_string(&post).expect("a post serializes");
        Rendered::native(text, post)
    }

    async fn post_status(&self, thread: &ThreadRef, rendered: &Rendered) -> anyhow::Result<String> {
        let (channel, thread_ts) = place(thread)?;
        Ok(self
            .api
            .post(channel, Some(thread_ts), &*rendered.as_native::<Post>()?)
            .await?)
    }

    async fn update_status(
        &self,
        thread: &ThreadRef,
        id: &str,
        rendered: &Rendered,
    ) -> anyhow::Result<()> {
        let (channel, _) = place(thread)?;
        Ok(self
            .api
            .update(channel, id, &*rendered.as_native::<Post>()?)
            .await?)
    }

    /// A user id is no name: Slack's `users.info` gives it, remembered for an hour.
    /// When Slack does not answer in time, the id stands in.
    async fn display_name(&self, author: &Author) -> String {
        if let Some((name, until)) = self.names.lock().unwrap().get(&author.id)
            && Instant::now() < *until
        {
            return name.clone();
        }
        let (name, ttl) =
            match tokio::time::timeout(NAME_WAIT, self.api.person_name(&author.id)).await {
                Ok(Ok(name)) => (name, NAME_TTL),
                Ok(Err(e)) => {
                    tracing::warn!(user = %author.id, error = %e, "could not ask Slack for a name");
                    (author.display_name.clone(), NAMELESS_TTL)
                }
                Err(_) => (author.display_name.clone(), NAMELESS_TTL),
            };
        self.names
            .lock()
            .unwrap()
            .insert(author.id.clone(), (name.clone(), Instant::now() + ttl));
        name
    }
}
