//! The fake's world (guilds, channels, people, messages, interactions, gateway
//! sessions) and the shapes Discord renders them in.

use super::records::{
    DiscordCall, DiscordEphemeral, DiscordMessage, DiscordReaction, DiscordThread, GatewayFrame,
    GatewaySession, InteractionResponse,
};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{Notify, mpsc};

/// Intents (gateway v10).
pub(super) const GUILDS: u64 = 1 << 0;
pub(super) const GUILD_MESSAGES: u64 = 1 << 9;
pub(super) const MESSAGE_CONTENT: u64 = 1 << 15;
/// GUILD_MEMBERS and GUILD_PRESENCES: privileged, and never enabled for the fake's app.
pub(super) const OTHER_PRIVILEGED: u64 = (1 << 1) | (1 << 8);
/// Every intent bit Discord defines as of API v10: 0–16, 20, 21, 24, 25.
pub(super) const ALL_INTENTS: u64 = ((1 << 17) - 1) | (1 << 20) | (1 << 21) | (1 << 24) | (1 << 25);

/// The first snowflake the fake hands out.
const FIRST_ID: u64 = 1_300_000_000_000_000_000;

/// What a gateway connection's task is told to do.
#[derive(Debug)]
pub(super) enum GwOut {
    Text(String),
    Close(u16, String),
    /// Close the TCP connection without a close frame.
    Drop,
}

pub(super) struct Connection {
    pub(super) number: usize,
    pub(super) tx: mpsc::UnboundedSender<GwOut>,
    /// The session this connection identified or resumed, if any.
    pub(super) session: Option<String>,
}

pub(super) struct Session {
    pub(super) record: GatewaySession,
    /// Every dispatch frame as sent, for RESUME replay.
    pub(super) frames: Vec<(u64, String)>,
    /// The connection it is attached to now.
    pub(super) connection: Option<usize>,
}

pub(super) struct Guild {
    pub(super) name: String,
}

pub(super) struct Channel {
    pub(super) id: String,
    pub(super) guild_id: String,
    pub(super) name: String,
    /// 0 text channel, 11 public thread.
    pub(super) kind: u64,
    pub(super) parent_id: Option<String>,
    pub(super) owner_id: Option<String>,
    pub(super) auto_archive_duration: u64,
    pub(super) created: String,
}

pub(super) struct Person {
    pub(super) username: String,
    pub(super) bot: bool,
}

pub(super) struct Interaction {
    pub(super) id: String,
    pub(super) token: String,
    /// 1 ping, 2 application command, 3 message component.
    pub(super) kind: u64,
    pub(super) channel_id: Option<String>,
    pub(super) guild_id: Option<String>,
    pub(super) user_id: Option<String>,
    /// The message a component sits on.
    pub(super) message_id: Option<String>,
    pub(super) created: Instant,
    /// The initial response's type, once there was one.
    pub(super) responded: Option<u64>,
    /// The original response message (in the channel, or an ephemeral's id).
    pub(super) original: Option<String>,
    pub(super) original_ephemeral: bool,
}

#[derive(Default)]
pub(super) struct Bucket {
    pub(super) window_start: Option<Instant>,
    pub(super) count: u32,
    /// A 429 told the client to wait until then.
    pub(super) retry_until: Option<Instant>,
}

pub(super) struct Inner {
    pub(super) next_id: u64,
    pub(super) guilds: BTreeMap<String, Guild>,
    /// Text channels (added through `add_text_channel`) and threads.
    pub(super) channels: BTreeMap<String, Channel>,
    /// Guild id → its text channels' ids (for a channel's `position`).
    pub(super) guild_text_channels: HashMap<String, BTreeSet<String>>,
    pub(super) people: BTreeMap<String, Person>,
    pub(super) roles: HashMap<String, Vec<String>>,
    /// In creation order; pushed and removed through `push_message` and
    /// `remove_message` only, which keep the indexes below.
    pub(super) messages: Vec<DiscordMessage>,
    /// Message id → its position in `messages`.
    pub(super) message_pos: HashMap<String, usize>,
    /// Channel or thread id → its messages' ids, oldest first.
    pub(super) channel_messages: HashMap<String, Vec<String>>,
    pub(super) deleted: Vec<DiscordMessage>,
    pub(super) reactions: Vec<DiscordReaction>,
    pub(super) ephemerals: Vec<DiscordEphemeral>,
    /// The ids in `ephemerals` (pushed and removed with them).
    pub(super) ephemeral_ids: HashSet<String>,
    pub(super) calls: Vec<DiscordCall>,
    pub(super) unexpected: Vec<String>,
    pub(super) commands: BTreeMap<String, Vec<Value>>,
    pub(super) interactions: HashMap<String, Interaction>,
    /// Interaction token → interaction id.
    pub(super) interaction_by_token: HashMap<String, String>,
    pub(super) interaction_responses: Vec<InteractionResponse>,
    pub(super) token_ttl: Duration,
    // Rate limits.
    pub(super) rate_limited: usize,
    pub(super) rate_retry_after: Duration,
    pub(super) rate_global: bool,
    pub(super) bucket_limit: u32,
    pub(super) bucket_per: Duration,
    pub(super) buckets: HashMap<String, Bucket>,
    pub(super) global_retry_until: Option<Instant>,
    // Gateway.
    pub(super) heartbeat_interval: u64,
    pub(super) allow_message_content: bool,
    /// Keep only what a load needs (see `FakeDiscord::keep_little`).
    pub(super) keep_little: bool,
    pub(super) connections: Vec<Connection>,
    pub(super) connection_count: usize,
    pub(super) sessions: Vec<Session>,
    pub(super) identify_count: usize,
    pub(super) resume_count: usize,
    pub(super) frames: Vec<GatewayFrame>,
}

impl Default for Inner {
    fn default() -> Self {
        Inner {
            next_id: FIRST_ID,
            guilds: BTreeMap::new(),
            channels: BTreeMap::new(),
            guild_text_channels: HashMap::new(),
            people: BTreeMap::new(),
            roles: HashMap::new(),
            messages: Vec::new(),
            message_pos: HashMap::new(),
            channel_messages: HashMap::new(),
            deleted: Vec::new(),
            reactions: Vec::new(),
            ephemerals: Vec::new(),
            ephemeral_ids: HashSet::new(),
            calls: Vec::new(),
            unexpected: Vec::new(),
            commands: BTreeMap::new(),
            interactions: HashMap::new(),
            interaction_by_token: HashMap::new(),
            interaction_responses: Vec::new(),
            token_ttl: Duration::from_secs(15 * 60),
            rate_limited: 0,
            rate_retry_after: Duration::ZERO,
            rate_global: false,
            bucket_limit: 50,
            bucket_per: Duration::from_secs(1),
            buckets: HashMap::new(),
            global_retry_until: None,
            heartbeat_interval: 41_250,
            allow_message_content: false,
            keep_little: false,
            connections: Vec::new(),
            connection_count: 0,
            sessions: Vec::new(),
            identify_count: 0,
            resume_count: 0,
            frames: Vec::new(),
        }
    }
}

/// The bot and its application.
#[derive(Clone, Debug)]
pub struct BotIdentity {
    pub application_id: String,
    pub user_id: String,
    pub username: String,
}

impl Default for BotIdentity {
    fn default() -> Self {
        BotIdentity {
            application_id: "1200000000000000001".into(),
            user_id: "1200000000000000001".into(),
            username: "lucid".into(),
        }
    }
}

pub(super) struct Shared {
    pub(super) token: String,
    pub(super) bot: BotIdentity,
    pub(super) gateway_url: String,
    pub(super) inner: Mutex<Inner>,
    pub(super) recorded: Notify,
}

impl Shared {
    pub(super) fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn bot_user_json(&self) -> Value {
        json!({
            "id": self.bot.user_id,
            "username": self.bot.username,
            "discriminator": "0",
            "global_name": null,
            "avatar": null,
            "bot": true,
            "public_flags": 0,
        })
    }
}

/// Discord's timestamp format: `2026-01-05T00:49:53.676000+00:00`.
pub(super) fn timestamp() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}+00:00",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.microsecond()
    )
}

pub(super) fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

/// Mentions `<@id>` or `<@!id>` in a content.
pub(super) fn mentioned_ids(content: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut rest = content;
    while let Some(at) = rest.find("<@") {
        rest = &rest[at + 2..];
        let body = rest.strip_prefix('!').unwrap_or(rest);
        if let Some(end) = body.find('>') {
            let id = &body[..end];
            if !id.is_empty()
                && id.bytes().all(|b| b.is_ascii_digit())
                && !ids.iter().any(|i| i == id)
            {
                ids.push(id.to_owned());
            }
        }
    }
    ids
}

impl Inner {
    pub(super) fn next_id(&mut self) -> String {
        self.next_id += 1;
        self.next_id.to_string()
    }

    pub(super) fn user_json(&self, shared: &Shared, user_id: &str) -> Value {
        if user_id == shared.bot.user_id {
            return shared.bot_user_json();
        }
        let (username, bot) = self
            .people
            .get(user_id)
            .map_or((format!("user{user_id}"), false), |p| {
                (p.username.clone(), p.bot)
            });
        let mut user = json!({
            "id": user_id,
            "username": username,
            "discriminator": "0",
            "global_name": username,
            "avatar": null,
            "public_flags": 0,
        });
        if bot {
            user["bot"] = json!(true);
        }
        user
    }

    /// A guild member without `user` (as in MESSAGE_CREATE's `member`).
    pub(super) fn member_json(&self, user_id: &str) -> Value {
        json!({
            "roles": self.roles.get(user_id).cloned().unwrap_or_default(),
            "premium_since": null,
            "pending": false,
            "nick": null,
            "mute": false,
            "joined_at": "2024-01-01T00:00:00.000000+00:00",
            "flags": 0,
            "deaf": false,
            "communication_disabled_until": null,
            "avatar": null,
            "banner": null,
        })
    }

    pub(super) fn channel_json(&self, channel: &Channel) -> Value {
        let in_channel = self.channel_messages.get(&channel.id);
        let last = in_channel.and_then(|ids| ids.last()).cloned();
        if channel.kind == 11 {
            let count = in_channel.map_or(0, Vec::len);
            json!({
                "id": channel.id,
                "type": 11,
                "guild_id": channel.guild_id,
                "parent_id": channel.parent_id,
                "owner_id": channel.owner_id,
                "name": channel.name,
                "last_message_id": last,
                "rate_limit_per_user": 0,
                "flags": 0,
                "message_count": count,
                "member_count": 1,
                "total_message_sent": count,
                "thread_metadata": {
                    "archived": false,
                    "auto_archive_duration": channel.auto_archive_duration,
                    "archive_timestamp": channel.created,
                    "locked": false,
                    "create_timestamp": channel.created,
                },
            })
        } else {
            // Its place among its guild's text channels, in id order.
            let position = self
                .guild_text_channels
                .get(&channel.guild_id)
                .filter(|ids| ids.contains(&channel.id))
                .map_or(0, |ids| {
                    use std::ops::Bound;
                    let before = (Bound::Unbounded, Bound::Excluded(channel.id.as_str()));
                    ids.range::<str, _>(before).count()
                });
            json!({
                "id": channel.id,
                "type": 0,
                "guild_id": channel.guild_id,
                "name": channel.name,
                "position": position,
                "permission_overwrites": [],
                "parent_id": null,
                "topic": null,
                "nsfw": false,
                "last_message_id": last,
                "rate_limit_per_user": 0,
                "flags": 0,
            })
        }
    }

    /// Adds (or replaces) a text channel.
    pub(super) fn add_text_channel(&mut self, channel: Channel) {
        if let Some(old) = self.channels.get(&channel.id)
            && let Some(ids) = self.guild_text_channels.get_mut(&old.guild_id)
        {
            ids.remove(&channel.id);
        }
        self.guild_text_channels
            .entry(channel.guild_id.clone())
            .or_default()
            .insert(channel.id.clone());
        self.channels.insert(channel.id.clone(), channel);
    }

    pub(super) fn message_index(&self, channel_id: &str, message_id: &str) -> Option<usize> {
        self.message_pos
            .get(message_id)
            .copied()
            .filter(|&i| self.messages[i].channel_id == channel_id)
    }

    /// The position of message `message_id` in `messages`, whatever its channel.
    pub(super) fn message_position(&self, message_id: &str) -> Option<usize> {
        self.message_pos.get(message_id).copied()
    }

    /// Appends a new message (ids are never reused).
    pub(super) fn push_message(&mut self, message: DiscordMessage) {
        self.message_pos
            .insert(message.id.clone(), self.messages.len());
        self.channel_messages
            .entry(message.channel_id.clone())
            .or_default()
            .push(message.id.clone());
        self.messages.push(message);
    }

    /// Takes message `i` out (the messages after it move up one).
    pub(super) fn remove_message(&mut self, i: usize) -> DiscordMessage {
        let message = self.messages.remove(i);
        self.message_pos.remove(&message.id);
        for (position, m) in self.messages.iter().enumerate().skip(i) {
            self.message_pos.insert(m.id.clone(), position);
        }
        if let Some(ids) = self.channel_messages.get_mut(&message.channel_id) {
            ids.retain(|id| *id != message.id);
        }
        message
    }

    /// The messages of a channel or thread, oldest first.
    pub(super) fn messages_in(&self, channel_id: &str) -> impl Iterator<Item = &DiscordMessage> {
        self.channel_messages
            .get(channel_id)
            .into_iter()
            .flatten()
            .filter_map(|id| self.message_pos.get(id).map(|&i| &self.messages[i]))
    }

    /// The message as Discord renders it; `show_content` false blanks what the
    /// MESSAGE_CONTENT intent guards.
    pub(super) fn message_json(
        &self,
        shared: &Shared,
        m: &DiscordMessage,
        show_content: bool,
    ) -> Value {
        let mentions: Vec<Value> = mentioned_ids(&m.content)
            .iter()
            .filter(|id| *id == &shared.bot.user_id || self.people.contains_key(*id))
            .map(|id| {
                let mut user = self.user_json(shared, id);
                if m.guild_id.is_some() {
                    user["member"] = self.member_json(id);
                }
                user
            })
            .collect();
        let (content, embeds, components) = if show_content {
            (json!(m.content), m.embeds.clone(), m.components.clone())
        } else {
            (json!(""), json!([]), json!([]))
        };
        let mut message = json!({
            "id": m.id,
            "channel_id": m.channel_id,
            "author": self.user_json(shared, &m.author_id),
            "content": content,
            "timestamp": m.timestamp,
            "edited_timestamp": m.edited_timestamp,
            "tts": false,
            "mention_everyone": false,
            "mentions": mentions,
            "mention_roles": [],
            "attachments": [],
            "embeds": embeds,
            "components": components,
            "pinned": false,
            "type": m.kind,
            "flags": m.flags,
        });
        if let Some(guild) = &m.guild_id {
            message["guild_id"] = json!(guild);
        }
        if let Some(reference) = &m.message_reference {
            let mut reference = reference.clone();
            reference["channel_id"] = json!(m.channel_id);
            if let Some(guild) = &m.guild_id {
                reference["guild_id"] = json!(guild);
            }
            message["message_reference"] = reference;
        }
        if let Some(thread) = m.thread_id.as_ref().and_then(|t| self.channels.get(t)) {
            message["thread"] = self.channel_json(thread);
        }
        if let super::records::PostedVia::Interaction(id) = &m.via
            && let Some(interaction) = self.interactions.get(id)
        {
            let user = interaction
                .user_id
                .as_deref()
                .map(|u| self.user_json(shared, u));
            message["webhook_id"] = json!(shared.bot.application_id);
            message["application_id"] = json!(shared.bot.application_id);
            message["interaction_metadata"] = json!({
                "id": interaction.id,
                "type": interaction.kind,
                "user": user,
                "authorizing_integration_owners": {"0": interaction.guild_id},
            });
        }
        message
    }

    pub(super) fn threads(&self) -> Vec<DiscordThread> {
        self.channels
            .values()
            .filter(|c| c.kind == 11)
            .map(|c| self.thread_record(c))
            .collect()
    }

    /// The thread whose id is `id` (a thread started from a message has its id).
    pub(super) fn thread(&self, id: &str) -> Option<DiscordThread> {
        self.channels
            .get(id)
            .filter(|c| c.kind == 11)
            .map(|c| self.thread_record(c))
    }

    fn thread_record(&self, c: &Channel) -> DiscordThread {
        DiscordThread {
            id: c.id.clone(),
            parent_id: c.parent_id.clone().unwrap_or_default(),
            guild_id: c.guild_id.clone(),
            name: c.name.clone(),
            owner_id: c.owner_id.clone().unwrap_or_default(),
            auto_archive_duration: c.auto_archive_duration,
            starter_message_id: self.message_pos.contains_key(&c.id).then(|| c.id.clone()),
        }
    }

    /// Sends a dispatch to every live session whose intents include `intent` (0: always),
    /// building `d` per session's intents; kept for RESUME when the session has no
    /// connection.
    pub(super) fn dispatch(&mut self, event: &str, intent: u64, d: impl Fn(u64) -> Value) {
        let targets: Vec<usize> = self
            .sessions
            .iter()
            .enumerate()
            .filter(|(_, s)| s.record.resumable && (intent == 0 || s.record.intents & intent != 0))
            .map(|(i, _)| i)
            .collect();
        for i in targets {
            let intents = self.sessions[i].record.intents;
            let payload = d(intents);
            self.dispatch_to(i, event, payload);
        }
    }

    /// One dispatch to session `i`: the next sequence number, kept, sent when connected.
    pub(super) fn dispatch_to(&mut self, i: usize, event: &str, d: Value) {
        let session = &mut self.sessions[i];
        session.record.seq += 1;
        let seq = session.record.seq;
        let mut frame = serde_json::Map::new();
        frame.insert("op".into(), json!(0));
        frame.insert("t".into(), json!(event));
        frame.insert("s".into(), json!(seq));
        frame.insert("d".into(), d.clone());
        let frame = Value::Object(frame);
        if !self.keep_little {
            session.record.dispatches.push((seq, event.to_owned(), d));
        }
        let text = frame.to_string();
        session.frames.push((seq, text.clone()));
        if let Some(number) = session.connection {
            self.send_frame_parsed(number, text, frame);
        }
    }

    /// Sends a frame on connection `number` and records it.
    pub(super) fn send_frame(&mut self, number: usize, text: String) {
        let frame = serde_json::from_str(&text).unwrap_or(Value::Null);
        self.send_frame_parsed(number, text, frame);
    }

    /// `send_frame` of a frame whose JSON (`frame`) the caller has already.
    fn send_frame_parsed(&mut self, number: usize, text: String, frame: Value) {
        if let Some(c) = self.connections.iter().find(|c| c.number == number) {
            let _ = c.tx.send(GwOut::Text(text));
            if self.keep_little {
                return;
            }
            self.frames.push(GatewayFrame {
                connection: number,
                from_client: false,
                frame,
                at: Instant::now(),
            });
        }
    }

    pub(super) fn session_index(&self, session_id: &str) -> Option<usize> {
        self.sessions
            .iter()
            .position(|s| s.record.session_id == session_id)
    }

    /// The connection holding a live session, the newest first.
    pub(super) fn live_connection(&self) -> Option<usize> {
        self.connections.iter().rev().map(|c| c.number).next()
    }

    pub(super) fn flag(&mut self, what: String) {
        self.unexpected.push(what);
    }
}

/// A fake message record with the defaults filled.
pub(super) fn new_message(
    id: String,
    channel_id: &str,
    guild_id: Option<String>,
    author_id: &str,
    author_is_bot: bool,
    body: &Value,
    via: super::records::PostedVia,
) -> DiscordMessage {
    let flags = body["flags"].as_u64().unwrap_or(0);
    let reference = body
        .get("message_reference")
        .filter(|r| !r.is_null())
        .cloned();
    let kind = if reference
        .as_ref()
        .is_some_and(|r| r["type"].as_u64().unwrap_or(0) == 0)
    {
        19
    } else {
        0
    };
    DiscordMessage {
        id,
        channel_id: channel_id.to_owned(),
        guild_id,
        author_id: author_id.to_owned(),
        author_is_bot,
        content: body["content"].as_str().unwrap_or_default().to_owned(),
        embeds: body
            .get("embeds")
            .filter(|v| v.is_array())
            .cloned()
            .unwrap_or(json!([])),
        components: body
            .get("components")
            .filter(|v| v.is_array())
            .cloned()
            .unwrap_or(json!([])),
        allowed_mentions: body.get("allowed_mentions").cloned(),
        message_reference: reference,
        flags,
        kind,
        edits: Vec::new(),
        body: body.clone(),
        via,
        thread_id: None,
        timestamp: timestamp(),
        edited_timestamp: None,
    }
}

/// Applies an edit body to a message (fields absent stay as they are).
pub(super) fn apply_edit(m: &mut DiscordMessage, body: &Value) {
    if let Some(content) = body.get("content") {
        m.content = content.as_str().unwrap_or_default().to_owned();
    }
    if let Some(embeds) = body.get("embeds") {
        m.embeds = if embeds.is_array() {
            embeds.clone()
        } else {
            json!([])
        };
    }
    if let Some(components) = body.get("components") {
        m.components = if components.is_array() {
            components.clone()
        } else {
            json!([])
        };
    }
    if let Some(allowed) = body.get("allowed_mentions") {
        m.allowed_mentions = Some(allowed.clone());
    }
    if let Some(flags) = body.get("flags").and_then(Value::as_u64) {
        // Only SUPPRESS_EMBEDS can change on an edit; LOADING goes with the first edit.
        m.flags = (m.flags & !4) | (flags & 4);
    }
    m.flags &= !128;
    m.edits.push(body.clone());
    m.edited_timestamp = Some(timestamp());
}
