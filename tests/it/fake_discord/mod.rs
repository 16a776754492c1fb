//! A fake Discord on loopback for end-to-end tests, written from Discord's API v10
//! documentation, limits and refusals included:
//!
//! - REST under `/api/v10`, served twice from the same state and records:
//!   - as `https://discord.com` on `tls_addr` (HTTPS, self-signed certificate
//!     `ca_pem()` for `discord.com`): the way to use serenity with its rate limiter on
//!     (per-route buckets, the global limit, 429s waited out), as lucid runs it. Its
//!     limiter ignores `proxy` and always sends to `https://discord.com`, so hand it a
//!     reqwest client that resolves the name to the fake and trusts the certificate:
//!
//!     ```ignore
//!     let client = reqwest::Client::builder()
//!         .resolve("discord.com", fake.tls_addr)
//!         .add_root_certificate(reqwest::Certificate::from_pem(fake.ca_pem().as_bytes())?)
//!         .build()?;
//!     let http = HttpBuilder::new(token).client(client).build(); // limiter on, no proxy
//!     ```
//!   - as plain HTTP on `origin` (`{origin}/api/v10`): for hand-made requests, and for
//!     serenity with `HttpBuilder::proxy(&fake.origin).ratelimiter_disabled(true)`
//!     (with the limiter off serenity surfaces 429s instead of waiting them out).
//!
//!   The routes: gateway discovery (the plain `ws://` gateway URL, whichever listener
//!   is asked), `users/@me`, guild command bulk overwrite, channels, messages (create,
//!   edit, delete, history), threads from messages, reactions, and the interaction
//!   endpoints (callback, `@original`, follow-ups), which take the interaction token
//!   instead of the bot's. Bot routes want `Authorization: Bot <token>`; answers carry
//!   Discord's rate-limit headers (`X-RateLimit-Limit`, `-Remaining`, `-Reset`,
//!   `-Reset-After`, `-Bucket`; on a 429 also `Retry-After` in whole seconds rounded
//!   up, `X-RateLimit-Scope`, and `X-RateLimit-Global` only when global, while the
//!   body's `retry_after` is a float); refusals carry Discord's
//!   `{"code", "message", "errors"}`.
//! - The gateway (`ws://127.0.0.1:<port>`, v10, JSON, no compression): HELLO, IDENTIFY
//!   → READY + GUILD_CREATE, heartbeats, RESUME with replay of what the session missed,
//!   MESSAGE_CREATE for messages the test posts as people (the MESSAGE_CONTENT rule
//!   applied), and the test's disruptions (dropped connection, op 7, op 9).
//! - Interactions: the test builds them through the fake (`slash_command`,
//!   `button_click`, `ping`), which signs them with its Ed25519 key and delivers them
//!   to lucid's endpoint (`deliver`), taking lucid's HTTP answer as the initial
//!   response (3 s to answer, as on Discord).
//!
//! Every request and gateway frame is recorded and wakes `wait_until`. What lucid
//! should never do (a refused request, a bad token, a request inside a live
//! retry_after, an invalid or late interaction response, a gateway protocol error) is
//! listed by `unexpected()`.

// The records and controls are for lucid's end-to-end tests; the self-test does not
// read every field.
#![allow(dead_code)]

mod direct;
mod gateway;
mod interactions;
mod records;
mod rest;
mod state;
mod tls;
mod validate;

// One file for every fake platform, the same switch in each (a benchmark takes one
// fake alone, so each loads its own copy).
#[allow(clippy::duplicate_mod)]
#[path = "../fake_outage.rs"]
mod outage;
pub use outage::{Down, Outage};
pub use records::{
    DiscordCall, DiscordEphemeral, DiscordMessage, DiscordReaction, DiscordThread, GatewayFrame,
    GatewaySession, InteractionResponse, PostedVia,
};
pub use state::BotIdentity;

use ed25519_dalek::{Signer, SigningKey};
use serde_json::{Value, json};
use state::{Channel, GUILD_MESSAGES, GwOut, Inner, MESSAGE_CONTENT, Person, Shared};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

use crate::harness::DEADLINE;
use outage::gate;

/// The fixed seed of the fake's signing key: signatures are deterministic.
const SIGNING_SEED: [u8; 32] = *b"lucid-fake-discord-ed25519-seed!";

pub struct FakeDiscord {
    /// `http://127.0.0.1:PORT`: the REST API over plain HTTP (what serenity's
    /// `HttpBuilder::proxy` is given, with its rate limiter disabled).
    pub origin: String,
    /// `{origin}/api/v10`.
    pub api_base: String,
    /// `ws://127.0.0.1:GWPORT`: what `GET /gateway` answers.
    pub gateway_url: String,
    /// `127.0.0.1:TLSPORT`: the same REST API (same state, same records) over HTTPS,
    /// answering as `discord.com` with the certificate of `ca_pem()`. serenity with its
    /// rate limiter on always sends to `https://discord.com`: give it
    /// (`HttpBuilder::client`) a reqwest client that resolves `discord.com` here and
    /// trusts `ca_pem()`.
    pub tls_addr: SocketAddr,
    /// Makes the REST API answer 5xx when a test says (`fake_outage`; `Closing` is
    /// not served over TLS).
    pub outage: Outage,
    state: Arc<Shared>,
    key: SigningKey,
}

impl FakeDiscord {
    /// Starts the fake: it accepts `bot_token` only; the bot and its application are
    /// `BotIdentity::default()` (user and application id 1200000000000000001, "lucid").
    pub async fn start(bot_token: &str) -> FakeDiscord {
        FakeDiscord::start_with(bot_token, BotIdentity::default()).await
    }

    pub async fn start_with(bot_token: &str, bot: BotIdentity) -> FakeDiscord {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let gw_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let gateway_url = format!("ws://{}", gw_listener.local_addr().unwrap());
        let tls_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let tls_addr = tls_listener.local_addr().unwrap();
        let state = Arc::new(Shared {
            token: bot_token.to_owned(),
            bot,
            gateway_url: gateway_url.clone(),
            inner: Mutex::new(Inner::default()),
            recorded: Notify::new(),
        });
        let outage = Outage::default();
        let app = axum::Router::new()
            .fallback(rest::handle)
            .with_state(state.clone())
            .layer(axum::middleware::from_fn_with_state(outage.clone(), gate));
        tokio::spawn(tls::serve(tls_listener, app.clone()));
        tokio::spawn(async move { axum::serve(listener, app).await });
        tokio::spawn(gateway::serve(gw_listener, state.clone()));
        FakeDiscord {
            api_base: format!("{origin}/api/v10"),
            origin,
            gateway_url,
            tls_addr,
            outage,
            state,
            key: SigningKey::from_bytes(&SIGNING_SEED),
        }
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.state.inner()
    }

    fn changed(&self) {
        self.state.recorded.notify_waiters();
    }

    /// PEM of the self-signed certificate the HTTPS listener (`tls_addr`) presents, made
    /// once per process; its subject alt names are `discord.com`, `localhost` and
    /// `127.0.0.1`. For `reqwest::Certificate::from_pem`.
    pub fn ca_pem(&self) -> String {
        tls::ca_pem()
    }

    pub fn bot(&self) -> &BotIdentity {
        &self.state.bot
    }

    // ---- The world ----

    /// A guild the bot is in (READY lists it; GUILD_CREATE describes it).
    pub fn guild(&self, guild_id: &str, name: &str) {
        self.inner().guilds.insert(
            guild_id.to_owned(),
            state::Guild {
                name: name.to_owned(),
            },
        );
    }

    /// A text channel (type 0) of `guild`.
    pub fn text_channel(&self, guild_id: &str, channel_id: &str, name: &str) {
        assert!(
            self.inner().guilds.contains_key(guild_id),
            "text_channel: unknown guild {guild_id}"
        );
        self.inner().add_text_channel(Channel {
            id: channel_id.to_owned(),
            guild_id: guild_id.to_owned(),
            name: name.to_owned(),
            kind: 0,
            parent_id: None,
            owner_id: None,
            auto_archive_duration: 4320,
            created: state::timestamp(),
        });
    }

    /// A person (not a bot) who can post and be mentioned.
    pub fn person(&self, user_id: &str, username: &str) {
        self.inner().people.insert(
            user_id.to_owned(),
            Person {
                username: username.to_owned(),
                bot: false,
            },
        );
    }

    /// Another bot (`author.bot = true`), for `post_as_bot`.
    pub fn other_bot(&self, user_id: &str, username: &str) {
        self.inner().people.insert(
            user_id.to_owned(),
            Person {
                username: username.to_owned(),
                bot: true,
            },
        );
    }

    /// Gives a guild role to a user (their member's `roles`).
    pub fn give_role(&self, user_id: &str, role_id: &str) {
        let mut inner = self.inner();
        let roles = inner.roles.entry(user_id.to_owned()).or_default();
        if !roles.iter().any(|r| r == role_id) {
            roles.push(role_id.to_owned());
        }
    }

    /// Whether the app has the MESSAGE_CONTENT privileged intent enabled (default
    /// false): without it an IDENTIFY asking for it is closed with 4014, and message
    /// content is blank (REST and gateway) except mentions of the bot and DMs.
    pub fn allow_message_content(&self, allowed: bool) {
        self.inner().allow_message_content = allowed;
    }

    /// Keeps only what a load needs: no copy of each gateway frame sent and each
    /// dispatch (RESUME still replays them), and calls without their bodies. For the
    /// benchmarks, where the fake shares the machine with lucid: the copies took a
    /// fifth of the machine, most of it the kernel zeroing fresh pages for them.
    pub fn keep_little(&self) {
        self.inner().keep_little = true;
    }

    /// The heartbeat interval HELLO announces (default 41250 ms).
    pub fn set_heartbeat_interval(&self, millis: u64) {
        self.inner().heartbeat_interval = millis;
    }

    /// How long an interaction token opens its webhook (default 15 minutes).
    pub fn set_interaction_token_ttl(&self, ttl: Duration) {
        self.inner().token_ttl = ttl;
    }

    /// A message by a person in `channel_id` (a channel or a thread): stored for history
    /// and dispatched as MESSAGE_CREATE. Answers its id.
    pub fn post_as(&self, user_id: &str, channel_id: &str, content: &str) -> String {
        self.post(user_id, channel_id, content, false)
    }

    /// A message by another bot (registered as one if unknown).
    pub fn post_as_bot(&self, user_id: &str, channel_id: &str, content: &str) -> String {
        self.post(user_id, channel_id, content, true)
    }

    fn post(&self, user_id: &str, channel_id: &str, content: &str, bot: bool) -> String {
        let id = {
            let mut inner = self.inner();
            let inner = &mut *inner;
            let guild_id = inner
                .channels
                .get(channel_id)
                .unwrap_or_else(|| panic!("post_as: unknown channel {channel_id}"))
                .guild_id
                .clone();
            let channel_type = inner.channels[channel_id].kind;
            let person = inner
                .people
                .entry(user_id.to_owned())
                .or_insert_with(|| Person {
                    username: format!("user{user_id}"),
                    bot,
                });
            person.bot |= bot;
            let id = inner.next_id();
            let message = state::new_message(
                id.clone(),
                channel_id,
                Some(guild_id),
                user_id,
                bot,
                &json!({"content": content}),
                PostedVia::Test,
            );
            let mut full = inner.message_json(&self.state, &message, true);
            full["member"] = inner.member_json(user_id);
            full["channel_type"] = json!(channel_type);
            full["nonce"] = json!(id);
            let mentions_bot = state::mentioned_ids(content).contains(&self.state.bot.user_id);
            inner.push_message(message);
            inner.dispatch("MESSAGE_CREATE", GUILD_MESSAGES, |intents| {
                let mut d = full.clone();
                if intents & MESSAGE_CONTENT == 0 && !mentions_bot {
                    d["content"] = json!("");
                    d["embeds"] = json!([]);
                    d["attachments"] = json!([]);
                    d["components"] = json!([]);
                }
                d
            });
            id
        };
        self.changed();
        id
    }

    // ---- Rate limits ----

    /// The next `n` bot-route writes (POST, PUT, PATCH, DELETE) answer 429 with
    /// `retry_after` (body, float seconds; `Retry-After` header, whole seconds rounded
    /// up), scope `user` or `global` (then `X-RateLimit-Global: true`), and change
    /// nothing. A request on the same bucket (or any, when global) before the
    /// retry_after ran out is `unexpected` (and answered 429 again).
    ///
    /// serenity's limiter sleeps for the `Retry-After` header, so with it each of these
    /// 429s costs a whole second at least (1 s for any `retry_after` up to 1 s): keep `n`
    /// small, and use sub-second pauses, which cost the same, when the length does not
    /// matter.
    pub fn rate_limit_next(&self, n: usize, retry_after: Duration, global: bool) {
        let mut inner = self.inner();
        inner.rate_limited = n;
        inner.rate_retry_after = retry_after;
        inner.rate_global = global;
    }

    /// Every bot-route bucket (route and channel/guild) allows `limit` requests per
    /// `per` from now on (default 50 per second) and answers 429 beyond.
    pub fn enforce_bucket(&self, limit: u32, per: Duration) {
        let mut inner = self.inner();
        inner.bucket_limit = limit;
        inner.bucket_per = per;
        inner.buckets.clear();
    }

    // ---- Gateway controls ----

    /// Closes the live gateway connection abruptly (TCP close, no close frame): the
    /// session stays resumable, and what is dispatched meanwhile is kept for RESUME.
    pub fn drop_gateway(&self) {
        let mut inner = self.inner();
        let inner = &mut *inner;
        for c in &inner.connections {
            let _ = c.tx.send(GwOut::Drop);
        }
        for session in &mut inner.sessions {
            session.connection = None;
            session.record.connected = false;
        }
        for c in &mut inner.connections {
            c.session = None;
        }
    }

    /// Sends op 7 RECONNECT on the live connection.
    pub fn send_reconnect(&self) {
        let mut inner = self.inner();
        if let Some(n) = inner.live_connection() {
            inner.send_frame(
                n,
                json!({"op": 7, "d": null, "s": null, "t": null}).to_string(),
            );
        }
    }

    /// Sends op 9 INVALID SESSION with `d: resumable`; when false the session is gone.
    pub fn invalidate_session(&self, resumable: bool) {
        let mut inner = self.inner();
        let Some(n) = inner.live_connection() else {
            return;
        };
        if !resumable {
            let session = inner
                .connections
                .iter()
                .find(|c| c.number == n)
                .and_then(|c| c.session.clone());
            if let Some(i) = session.and_then(|s| inner.session_index(&s)) {
                inner.sessions[i].record.resumable = false;
            }
        }
        inner.send_frame(
            n,
            json!({"op": 9, "d": resumable, "s": null, "t": null}).to_string(),
        );
    }

    /// Sends op 1 HEARTBEAT (the gateway asking for one now).
    pub fn request_heartbeat(&self) {
        let mut inner = self.inner();
        if let Some(n) = inner.live_connection() {
            inner.send_frame(
                n,
                json!({"op": 1, "d": null, "s": null, "t": null}).to_string(),
            );
        }
    }

    pub fn gateway_sessions(&self) -> Vec<GatewaySession> {
        self.inner()
            .sessions
            .iter()
            .map(|s| s.record.clone())
            .collect()
    }

    /// Gateway connections open now.
    pub fn gateway_connections(&self) -> usize {
        self.inner().connections.len()
    }

    pub fn identify_count(&self) -> usize {
        self.inner().identify_count
    }

    pub fn resume_count(&self) -> usize {
        self.inner().resume_count
    }

    /// Every gateway frame so far, both ways (closes as `{"close": code, "reason"}`).
    pub fn gateway_frames(&self) -> Vec<GatewayFrame> {
        self.inner().frames.clone()
    }

    // ---- Interactions ----

    /// A slash command (APPLICATION_COMMAND, type 2) by `user` in `channel`, as Discord
    /// POSTs it; string options. Registers its id and token with the fake.
    pub fn slash_command(
        &self,
        guild_id: &str,
        channel_id: &str,
        user_id: &str,
        name: &str,
        options: &[(&str, &str)],
    ) -> Value {
        let mut inner = self.inner();
        let inner = &mut *inner;
        let (id, token) = interactions::register(
            inner,
            2,
            Some(guild_id),
            Some(channel_id),
            Some(user_id),
            None,
        );
        let command_id = inner
            .commands
            .get(guild_id)
            .and_then(|list| list.iter().find(|c| c["name"] == name && c["type"] == 1))
            .and_then(|c| c["id"].as_str().map(str::to_owned))
            .unwrap_or_else(|| inner.next_id());
        let mut data = json!({"id": command_id, "name": name, "type": 1, "guild_id": guild_id});
        if !options.is_empty() {
            data["options"] = options
                .iter()
                .map(|(n, v)| json!({"name": n, "type": 3, "value": v}))
                .collect();
        }
        interactions::guild_interaction(
            &self.state,
            inner,
            &id,
            &token,
            2,
            guild_id,
            channel_id,
            user_id,
            data,
        )
    }

    /// A button click (MESSAGE_COMPONENT, type 3) on `message_id` (a message in
    /// `channel_id`) by `user`.
    pub fn button_click(
        &self,
        guild_id: &str,
        channel_id: &str,
        user_id: &str,
        message_id: &str,
        custom_id: &str,
    ) -> Value {
        let mut inner = self.inner();
        let inner = &mut *inner;
        let i = inner
            .message_index(channel_id, message_id)
            .unwrap_or_else(|| panic!("button_click: no message {message_id} in {channel_id}"));
        let message = inner.message_json(&self.state, &inner.messages[i], true);
        let (id, token) = interactions::register(
            inner,
            3,
            Some(guild_id),
            Some(channel_id),
            Some(user_id),
            Some(message_id),
        );
        let data = json!({"custom_id": custom_id, "component_type": 2, "id": 1});
        let mut interaction = interactions::guild_interaction(
            &self.state,
            inner,
            &id,
            &token,
            3,
            guild_id,
            channel_id,
            user_id,
            data,
        );
        interaction["message"] = message;
        interaction
    }

    /// A PING (type 1), as Discord sends to check an endpoint.
    pub fn ping(&self) -> Value {
        let mut inner = self.inner();
        let (id, token) = interactions::register(&mut inner, 1, None, None, None, None);
        json!({
            "application_id": self.state.bot.application_id,
            "entitlements": [],
            "id": id,
            "token": token,
            "type": 1,
            "user": {
                "id": "1000000000000000001",
                "username": "discord",
                "discriminator": "0",
                "global_name": null,
                "avatar": null,
                "public_flags": 0,
            },
            "version": 1,
        })
    }

    /// The hex Ed25519 public key (64 chars) lucid is configured with.
    pub fn public_key_hex(&self) -> String {
        hex::encode(self.key.verifying_key().to_bytes())
    }

    /// The hex signature Discord sends in `X-Signature-Ed25519`: over the timestamp's
    /// bytes followed by the body's.
    pub fn sign(&self, timestamp: &str, body: &[u8]) -> String {
        let mut message = timestamp.as_bytes().to_vec();
        message.extend_from_slice(body);
        hex::encode(self.key.sign(&message).to_bytes())
    }

    /// Signs and POSTs `interaction` to lucid's endpoint `url` as Discord does, and
    /// takes the answer as the interaction's initial response (recorded with its
    /// latency; late, non-2xx or invalid answers are `unexpected`). Answers lucid's
    /// status and JSON body (Null when empty).
    pub async fn deliver(&self, url: &str, interaction: &Value) -> (u16, Value) {
        let body = serde_json::to_vec(interaction).unwrap();
        let timestamp = unix_seconds();
        let signature = self.sign(&timestamp, &body);
        let started = Instant::now();
        let (status, answer) = post_interaction(url, &body, &signature, &timestamp).await;
        let latency = started.elapsed();
        let id = interaction["id"].as_str().unwrap_or_default();
        self.record_answer(id, status, &answer, latency);
        (status, answer)
    }

    /// Takes lucid's HTTP answer (`status`, JSON `answer`, Null when empty) to
    /// interaction `id`, which arrived `latency` after it was sent, as the
    /// interaction's initial response, exactly as `deliver` does: for an interaction
    /// signed (`sign`) and sent by the caller itself, such as a benchmark's load
    /// generator, which times its own requests.
    pub fn record_answer(&self, id: &str, status: u16, answer: &Value, latency: Duration) {
        {
            let mut inner = self.inner();
            interactions::record_delivery(&self.state, &mut inner, id, status, answer, latency);
        }
        self.changed();
    }

    /// Like `deliver`, but the signature does not match the body (it signs another
    /// body). lucid must answer 401; a 2xx is `unexpected`. Nothing is recorded as the
    /// interaction's response.
    pub async fn deliver_badly_signed(&self, url: &str, interaction: &Value) -> (u16, Value) {
        let body = serde_json::to_vec(interaction).unwrap();
        let timestamp = unix_seconds();
        let signature = self.sign(&timestamp, b"{\"type\":1}");
        let (status, answer) = post_interaction(url, &body, &signature, &timestamp).await;
        if (200..300).contains(&status) {
            self.inner().flag(format!(
                "a badly signed interaction was answered HTTP {status} {answer}"
            ));
        }
        self.changed();
        (status, answer)
    }

    // ---- Records ----

    /// Every message in every channel and thread as it stands now, in creation order
    /// (the bot's, interaction responses, and the test's).
    pub fn messages(&self) -> Vec<DiscordMessage> {
        self.inner().messages.clone()
    }

    /// The messages of one channel or thread, oldest first.
    pub fn channel_messages(&self, channel_id: &str) -> Vec<DiscordMessage> {
        self.inner().messages_in(channel_id).cloned().collect()
    }

    /// What the bot said to `person` in a direct message, oldest first.
    pub fn direct_messages(&self, person: &str) -> Vec<DiscordMessage> {
        let inner = self.inner();
        let Some(dm) = direct::with(&inner, person) else {
            return Vec::new();
        };
        inner
            .messages
            .iter()
            .filter(|m| m.channel_id == dm)
            .cloned()
            .collect()
    }

    /// The messages the bot posted or edited in (bot token or interaction webhook).
    pub fn bot_messages(&self) -> Vec<DiscordMessage> {
        let bot = self.state.bot.user_id.clone();
        self.inner()
            .messages
            .iter()
            .filter(|m| m.author_id == bot)
            .cloned()
            .collect()
    }

    pub fn message(&self, message_id: &str) -> Option<DiscordMessage> {
        let inner = self.inner();
        inner
            .message_position(message_id)
            .map(|i| inner.messages[i].clone())
    }

    /// Answers `f` of every message as it stands now, in creation order, read in
    /// place (no copy) while the fake waits: for a question about many messages asked
    /// often, such as a benchmark's. Keep `f` short and do not call the fake from it.
    pub fn with_messages<T>(&self, f: impl FnOnce(&[DiscordMessage]) -> T) -> T {
        f(&self.inner().messages)
    }

    /// Messages deleted (by the bot or an interaction webhook).
    pub fn deleted_messages(&self) -> Vec<DiscordMessage> {
        self.inner().deleted.clone()
    }

    /// The thread started from `message_id`, if any.
    pub fn thread_of(&self, message_id: &str) -> Option<DiscordThread> {
        self.inner()
            .thread(message_id)
            .filter(|t| t.starter_message_id.as_deref() == Some(message_id))
    }

    pub fn threads(&self) -> Vec<DiscordThread> {
        self.inner().threads()
    }

    /// The bot's reactions now, in the order added.
    pub fn reactions(&self) -> Vec<DiscordReaction> {
        self.inner().reactions.clone()
    }

    /// Every HTTP request so far, in the order answered.
    pub fn calls(&self) -> Vec<DiscordCall> {
        self.inner().calls.clone()
    }

    /// Answers `f` of the HTTP requests so far, in the order answered, read in place
    /// (no copy) while the fake waits; the list only grows, so a caller asking again
    /// can skip what it has seen. Keep `f` short and do not call the fake from it.
    pub fn with_calls<T>(&self, f: impl FnOnce(&[DiscordCall]) -> T) -> T {
        f(&self.inner().calls)
    }

    /// The calls of `method` whose path (after `/api/v10`) matches `path_pattern`, `*`
    /// standing for one segment: `calls_to("POST", "/channels/*/messages")`.
    pub fn calls_to(&self, method: &str, path_pattern: &str) -> Vec<DiscordCall> {
        let pattern: Vec<&str> = path_pattern.trim_start_matches('/').split('/').collect();
        self.inner()
            .calls
            .iter()
            .filter(|c| {
                let path = c.path.strip_prefix("/api/v10/").unwrap_or(&c.path);
                let segs: Vec<&str> = path.split('/').collect();
                c.method == method
                    && segs.len() == pattern.len()
                    && segs.iter().zip(&pattern).all(|(s, p)| *p == "*" || s == p)
            })
            .cloned()
            .collect()
    }

    /// What lucid should never have done, in words: refused or unauthorized requests,
    /// requests inside a live retry_after, late or invalid interaction responses,
    /// gateway protocol errors.
    pub fn unexpected(&self) -> Vec<String> {
        self.inner().unexpected.clone()
    }

    /// The commands registered in `guild_id` now (as answered).
    pub fn commands(&self, guild_id: &str) -> Vec<Value> {
        self.inner()
            .commands
            .get(guild_id)
            .cloned()
            .unwrap_or_default()
    }

    pub fn ephemerals(&self) -> Vec<DiscordEphemeral> {
        self.inner().ephemerals.clone()
    }

    pub fn interaction_responses(&self) -> Vec<InteractionResponse> {
        self.inner().interaction_responses.clone()
    }

    /// Waits until `f` returns Some, re-checking after every request, gateway frame and
    /// change the fake sees; panics after the harness deadline naming `what`.
    /// Waits until lucid has registered `/lucid` in `guild` and identified on the
    /// gateway: from then on it hears mentions and commands.
    pub async fn until_ready(&self, guild: &str) {
        self.wait_until("/lucid registered and the gateway identified", |d| {
            let registered = d.commands(guild).iter().any(|c| c["name"] == "lucid");
            let connected = d.gateway_sessions().iter().any(|s| s.connected);
            (registered && connected).then_some(())
        })
        .await
    }

    pub async fn wait_until<T>(&self, what: &str, f: impl Fn(&FakeDiscord) -> Option<T>) -> T {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let notified = self.state.recorded.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(value) = f(self) {
                return value;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                if let Some(value) = f(self) {
                    return value;
                }
                panic!(
                    "timed out after {DEADLINE:?} waiting for {what}; the fake Discord saw:\n{}\nunexpected: {:#?}",
                    self.calls()
                        .iter()
                        .map(|c| format!("  {} {} -> {}", c.method, c.path, c.status))
                        .chain(self.gateway_frames().iter().map(|f| format!(
                            "  gw#{} {} {}",
                            f.connection,
                            if f.from_client { "<-" } else { "->" },
                            summarize(&f.frame)
                        )))
                        .collect::<Vec<_>>()
                        .join("\n"),
                    self.unexpected()
                );
            }
        }
    }
}

fn summarize(frame: &Value) -> String {
    match (&frame["op"], &frame["t"]) {
        (Value::Number(op), Value::String(t)) => format!("op {op} {t} s={}", frame["s"]),
        (Value::Number(op), _) => format!("op {op}"),
        _ => frame.to_string(),
    }
}

fn unix_seconds() -> String {
    (state::unix_now() as u64).to_string()
}

async fn post_interaction(
    url: &str,
    body: &[u8],
    signature: &str,
    timestamp: &str,
) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header(
            "user-agent",
            "Discord-Interactions/1.0 (+https://discord.com)",
        )
        .header("x-signature-ed25519", signature)
        .header("x-signature-timestamp", timestamp)
        .body(body.to_vec())
        .timeout(DEADLINE)
        .send()
        .await
        .unwrap_or_else(|e| panic!("delivering an interaction to {url}: {e}"));
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap_or_default();
    let answer = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, answer)
}
