//! The chat-platform port: what lucid needs of any place people talk to it (GitHub
//! issues, Slack threads, and every platform after them). Each platform implements
//! [`ChatPlatform`] in its own folder; the [`intake`] decides and records what a
//! request means, and the worker's follower keeps a session's thread current, the
//! same way for all of them.

pub mod accounts;
pub mod held;
pub mod holds;
pub mod intake;
mod linking;
mod payload;
pub mod signature;

pub use holds::{Hold, Holds};
pub use intake::{AgentChoice, ForgeIdentity, Intake, Taken};
pub use payload::PayloadError;

use crate::core::{Author, Event, Origin, Platform, Session, ThreadRef, Timestamp};
use crate::messages::{Markup, Text};
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

/// `thread_messages` purposes: the status message's id, and the last event whose
/// moments are in the thread (so a run taken over after a crash repeats none).
pub const STATUS: &str = "status";
pub const REPLIED: &str = "replied";

/// How a platform's thread is kept: how often it may be written, and what it holds.
#[derive(Clone, Copy, Debug)]
pub struct Pacing {
    /// At most one change of the status message per this long (the platform's rate
    /// limits); the last change is never held back.
    pub edit_interval: Duration,
    /// How often the status message is rewritten when only its clock changed.
    pub clock_refresh: Duration,
    /// The status message is the acknowledgement of a new session, posted at once
    /// (else a reaction acknowledges, and the status message comes with the worker).
    pub status_first: bool,
    /// Key moments (an edit, a failing command, the end) go to the thread as replies
    /// of at most this many characters each; None: the status message shows them.
    pub replies: Option<usize>,
    /// At most one reply of key moments per this long (zero: as they come); the
    /// ending is never held back.
    pub reply_interval: Duration,
}

/// What a status message shows: a session and its current run.
pub struct StatusView<'a> {
    pub session: &'a Session,
    /// The run's events (since the session was last queued).
    pub events: &'a [Event],
    pub now: Timestamp,
    pub session_url: &'a str,
}

/// A status message as a platform writes it: its text, compared to tell a change, and
/// what the platform made it from, so that posting it needs no second reading of the
/// text (Slack's blocks).
#[derive(Clone, Debug)]
pub struct Rendered {
    text: String,
    native: Option<Arc<dyn std::any::Any + Send + Sync>>,
}

impl Rendered {
    /// A message that is its text (Markdown, say).
    pub fn text(text: impl Into<String>) -> Rendered {
        Rendered {
            text: text.into(),
            native: None,
        }
    }

    /// A message written as `text`, made from `native`.
    pub fn native<T: std::any::Any + Send + Sync>(text: String, native: T) -> Rendered {
        Rendered {
            text,
            native: Some(Arc::new(native)),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// What it was made from, when it was made from a `T`.
    pub fn made_from<T: 'static>(&self) -> Option<&T> {
        self.native.as_ref()?.downcast_ref()
    }

    /// The `T` it was made from, or read back from its text (JSON) when it was not.
    pub fn as_native<T>(&self) -> anyhow::Result<std::borrow::Cow<'_, T>>
    where
        T: Clone + serde::de::DeserializeOwned + 'static,
    {
        match self.made_from::<T>() {
            Some(native) => Ok(std::borrow::Cow::Borrowed(native)),
            None => Ok(std::borrow::Cow::Owned(
                serde_json::from_str(self.as_str())
                    .map_err(|e| anyhow::anyhow!("not a rendered status message: {e}"))?,
            )),
        }
    }
}

impl PartialEq for Rendered {
    fn eq(&self, other: &Rendered) -> bool {
        self.text == other.text
    }
}

impl From<&str> for Rendered {
    fn from(text: &str) -> Rendered {
        Rendered::text(text)
    }
}

impl From<String> for Rendered {
    fn from(text: String) -> Rendered {
        Rendered::text(text)
    }
}

/// A place people ask lucid for work and follow it.
#[async_trait]
pub trait ChatPlatform: Send + Sync + 'static {
    fn platform(&self) -> Platform;

    /// The platform's name as people know it (`GitHub`, `Slack`).
    fn title(&self) -> &'static str;

    /// Receives the platform's requests. Each route: verify → parse → intent →
    /// [`Intake::take`] → the platform's own HTTP answer.
    fn routes(self: Arc<Self>, intake: Intake) -> axum::Router;

    /// How messages are written here.
    fn markup(&self) -> &dyn Markup;

    fn pacing(&self) -> Pacing;

    /// Shows the person that their request was taken (a reaction on their message).
    async fn acknowledge(&self, origin: &Origin) -> anyhow::Result<()>;

    /// Says `rendered` (in this platform's markup) in a thread.
    async fn say(&self, thread: &ThreadRef, rendered: &str) -> anyhow::Result<()>;

    /// The status message for `view`, as this platform writes it (compared to tell a
    /// change, then posted or edited).
    fn render_status(&self, view: &StatusView) -> Rendered;

    /// Posts a status message in `thread`; answers its id.
    async fn post_status(&self, thread: &ThreadRef, rendered: &Rendered) -> anyhow::Result<String>;

    /// Rewrites the status message `id` in `thread`.
    async fn update_status(
        &self,
        thread: &ThreadRef,
        id: &str,
        rendered: &Rendered,
    ) -> anyhow::Result<()>;

    /// Receives what does not come over HTTP (Discord's gateway connection) until
    /// `stop`, handing it to `intake` as the routes do. Most platforms have nothing
    /// to listen to.
    fn listen(self: Arc<Self>, intake: Intake, stop: tokio_util::sync::CancellationToken) {
        let _ = (intake, stop);
    }

    /// A person as this platform names them; the id the platform gave them by
    /// default.
    /// Where a person opens the conversation `thread` on this platform, for lucid's
    /// pages; `None` when it has no address lucid can make.
    fn conversation_url(&self, _thread: &ThreadRef) -> Option<String> {
        None
    }

    /// What people said in `thread` before `before` (a GitHub issue's earlier
    /// comments), oldest first, as `(who, words)`, for a new session's task: requests
    /// to lucid and lucid's own words left out. Untrusted, like every word from a
    /// thread. Nothing where the platform has nothing to add, or cannot say.
    async fn earlier_words(
        &self,
        _thread: &ThreadRef,
        _before: crate::core::Timestamp,
    ) -> Vec<(String, String)> {
        Vec::new()
    }

    /// Where a person opens `thread` from elsewhere (the "asked in" link of a change
    /// request), asking the platform when the address needs what lucid does not keep;
    /// by default [`conversation_url`](Self::conversation_url).
    async fn link_to(&self, thread: &ThreadRef) -> Option<String> {
        self.conversation_url(thread)
    }

    async fn display_name(&self, author: &Author) -> String {
        author.display_name.clone()
    }

    /// Whether `LUCID_REQUIRE_LINKED_ACCOUNT` holds people here to a linked forge
    /// account: yes where people are known only by the platform's own ids. lucid's
    /// own pages (signed in to with lucid's own secrets) say no; GitHub's people are
    /// forge accounts already (checked as themselves).
    fn holds_to_linked_accounts(&self) -> bool {
        true
    }

    /// Whether lucid can say something here that only the person who asked sees
    /// ([`say_privately`](Self::say_privately)).
    fn speaks_privately(&self) -> bool {
        false
    }

    /// Says `rendered` (in this platform's markup) where only the author of `origin`
    /// sees it: Slack's ephemeral message, a Discord direct message.
    async fn say_privately(&self, origin: &Origin, rendered: &str) -> anyhow::Result<()> {
        let _ = (origin, rendered);
        anyhow::bail!("{} cannot say anything privately", self.title())
    }
}

impl dyn ChatPlatform {
    /// `text` in this platform's markup.
    pub fn render(&self, text: &Text) -> String {
        text.render(self.markup())
    }
}

/// Joins replies into as few messages of at most `max` characters as they fit in, so
/// a backlog costs few posts; none is dropped (one too long alone is cut).
pub fn coalesce(replies: Vec<String>, max: usize) -> Vec<String> {
    let mut messages: Vec<String> = Vec::new();
    for reply in replies {
        match messages.last_mut() {
            Some(last) if last.chars().count() + 2 + reply.chars().count() <= max => {
                last.push_str("\n\n");
                last.push_str(&reply);
            }
            _ => messages.push(crate::messages::shorten(&reply, max)),
        }
    }
    messages
}

#[cfg(test)]
mod tests {
    use super::coalesce;

    #[test]
    fn replies_are_joined_while_they_fit_and_never_dropped() {
        let small: Vec<String> = (0..5).map(|i| format!("moment {i}")).collect();
        assert_eq!(coalesce(small, 3_500).len(), 1);
        let big: Vec<String> = (0..3)
            .map(|i| format!("{i}{}", "x".repeat(2_000)))
            .collect();
        let joined = coalesce(big, 3_500);
        assert_eq!(joined.len(), 3);
        assert!(joined.iter().all(|m| m.chars().count() <= 3_500));
        assert!(joined[2].starts_with('2'));
    }
}
