//! What the fake Discord recorded, as the tests see it.

use serde_json::Value;
use std::time::{Duration, Instant};

/// Who posted a message, and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PostedVia {
    /// `POST /channels/{id}/messages` with the bot token.
    BotToken,
    /// An interaction's initial response (type 4, 5 or 7) or its webhook (`@original`,
    /// follow-ups): the interaction's id.
    Interaction(String),
    /// Put there by the test (`post_as`, `post_as_bot`).
    Test,
}

/// A message in a channel or thread, as it stands now.
#[derive(Clone, Debug)]
pub struct DiscordMessage {
    pub id: String,
    /// The channel, or the thread's id for a message in a thread.
    pub channel_id: String,
    pub guild_id: Option<String>,
    pub author_id: String,
    pub author_is_bot: bool,
    pub content: String,
    pub embeds: Value,
    pub components: Value,
    /// `allowed_mentions` exactly as last sent (None: absent).
    pub allowed_mentions: Option<Value>,
    pub message_reference: Option<Value>,
    pub flags: u64,
    /// 0 default, 19 reply, 20 chat-input command response.
    pub kind: u64,
    /// The body of every edit, oldest first.
    pub edits: Vec<Value>,
    /// The body the message was created with (for an interaction response: `data`).
    pub body: Value,
    pub via: PostedVia,
    /// The thread started from this message, if any (its id equals this message's).
    pub thread_id: Option<String>,
    pub timestamp: String,
    pub edited_timestamp: Option<String>,
}

impl DiscordMessage {
    pub fn edit_count(&self) -> usize {
        self.edits.len()
    }

    /// True when the content is shown as "thinking…" (a deferred interaction response
    /// not edited yet: flag 128 LOADING).
    pub fn is_loading(&self) -> bool {
        self.flags & 128 != 0
    }
}

/// A message only one person sees (interaction response or follow-up with flag 64).
#[derive(Clone, Debug)]
pub struct DiscordEphemeral {
    pub id: String,
    pub interaction_id: String,
    pub channel_id: String,
    /// Who sees it: the user who caused the interaction.
    pub user_id: String,
    pub content: String,
    pub embeds: Value,
    pub components: Value,
    pub flags: u64,
    pub body: Value,
    pub edits: Vec<Value>,
}

/// A reaction the bot added (and did not remove).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscordReaction {
    pub channel_id: String,
    pub message_id: String,
    /// Decoded: a unicode emoji, or `name:id` for a custom one.
    pub emoji: String,
    pub user_id: String,
}

/// A thread channel.
#[derive(Clone, Debug)]
pub struct DiscordThread {
    pub id: String,
    pub parent_id: String,
    pub guild_id: String,
    pub name: String,
    pub owner_id: String,
    pub auto_archive_duration: u64,
    /// The message it was started from (equal to `id`), None for a thread made by the test.
    pub starter_message_id: Option<String>,
}

/// One HTTP request the fake answered.
#[derive(Clone, Debug)]
pub struct DiscordCall {
    pub method: String,
    /// The path without the query, e.g. `/api/v10/channels/1/messages`.
    pub path: String,
    pub query: String,
    pub status: u16,
    /// The Discord error code of a refusal.
    pub code: Option<i64>,
    /// The request body as JSON (Null when empty or not JSON).
    pub body: Value,
    pub response: Value,
    /// From the request's arrival to the answer.
    pub latency: Duration,
    pub at: Instant,
    /// The rate-limit bucket key: the route and its major parameter (a bot route's
    /// channel or guild; an interaction webhook's webhook id and token, one bucket per
    /// interaction), e.g. `PATCH /webhooks/:w/:t/messages/:m [{app}/{token}]`.
    pub bucket: Option<String>,
    pub unexpected: Option<String>,
}

/// The answer to an interaction: lucid's HTTP answer to `deliver` or a call to
/// `POST /interactions/{id}/{token}/callback`.
#[derive(Clone, Debug)]
pub struct InteractionResponse {
    pub interaction_id: String,
    /// 1 ping, 2 application command, 3 message component.
    pub interaction_type: u64,
    /// HTTP status of lucid's answer (200 for a callback the fake accepted).
    pub status: u16,
    pub body: Value,
    /// The callback type (`body.type`), when there was one.
    pub response_type: Option<u64>,
    /// From sending the interaction to lucid's answer (or the interaction's creation to
    /// the callback).
    pub latency: Duration,
    /// Whether Discord would take it: in time (3 s), a known type, valid data.
    pub accepted: bool,
    /// Why not, in Discord's words where it has any ("The application did not respond").
    pub failure: Option<String>,
    pub via_callback_endpoint: bool,
}

/// A gateway session (from IDENTIFY until invalidated).
#[derive(Clone, Debug)]
pub struct GatewaySession {
    pub session_id: String,
    pub intents: u64,
    pub identify: Value,
    /// The last sequence number handed out.
    pub seq: u64,
    pub connected: bool,
    pub resumable: bool,
    /// How many times it was resumed.
    pub resumes: usize,
    /// Every dispatch of the session: (seq, event name, `d`).
    pub dispatches: Vec<(u64, String, Value)>,
}

/// A frame seen on the gateway, either way.
#[derive(Clone, Debug)]
pub struct GatewayFrame {
    /// Connection number (1, 2, …).
    pub connection: usize,
    pub from_client: bool,
    pub frame: Value,
    pub at: Instant,
}
