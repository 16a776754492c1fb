//! Slack as a chat platform: a thread is a conversation, the status message (with its
//! Stop button) is posted at once as the acknowledgement of a new session and updated
//! in place, and key moments go to the thread as replies, paced per channel.

use crate::chat::{ChatPlatform, Intake, Pacing, StatusView};
use crate::config::SlackSettings;
use crate::core::{Origin, Platform, Refusal, ThreadRef};
use crate::messages::Markup;
use crate::slack::outbound::markup::SlackMarkup;
use crate::slack::outbound::status::{self, MAX_REPLY_CHARS};
use crate::slack::outbound::{Post, SlackApi};
use anyhow::{Context, bail};
use async_trait::async_trait;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// How often the status message is updated when nothing but the elapsed time changed:
/// `chat.update` is rate-limited per workspace, and a minute-fresh clock is enough.
const CLOCK_REFRESH: Duration = Duration::from_secs(30);

pub struct SlackPlatform {
    pub settings: Arc<SlackSettings>,
    pub api: Arc<SlackApi>,
    /// The bot's user id, from `auth.test` at start-up; events also carry it.
    pub bot_user_id: OnceLock<String>,
}

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
        }
    }

    async fn acknowledge(&self, origin: &Origin) -> anyhow::Result<()> {
        let (channel, _) = place(&origin.thread)?;
        if let Some(ts) = &origin.message {
            self.api.react(channel, ts, "eyes").await?;
        }
        Ok(())
    }

    async fn say(&self, thread: &ThreadRef, rendered: &str) -> anyhow::Result<()> {
        let (channel, thread_ts) = place(thread)?;
        self.api
            .post(channel, Some(thread_ts), &Post::text(rendered))
            .await?;
        Ok(())
    }

    fn render_status(&self, view: &StatusView) -> String {
        let post = status::status_post(&status::StatusView {
            session: view.session,
            events: view.events,
            now: view.now,
            session_url: view.session_url,
        });
        serde_json::to_string(&post).expect("a post serializes")
    }

    async fn post_status(&self, thread: &ThreadRef, rendered: &str) -> anyhow::Result<String> {
        let (channel, thread_ts) = place(thread)?;
        let post: Post = serde_json::from_str(rendered).context("a rendered status message")?;
        Ok(self.api.post(channel, Some(thread_ts), &post).await?)
    }

    async fn update_status(
        &self,
        thread: &ThreadRef,
        id: &str,
        rendered: &str,
    ) -> anyhow::Result<()> {
        let (channel, _) = place(thread)?;
        let post: Post = serde_json::from_str(rendered).context("a rendered status message")?;
        Ok(self.api.update(channel, id, &post).await?)
    }
}
