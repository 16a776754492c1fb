//! Discord as a chat platform. A session's thread is a Discord thread whose id is its
//! starter message's: the mention that asked, or the status message `/lucid`
//! answered with. The status message (with its Stop button) acknowledges a new
//! session and is edited in place with the bot token; key moments go to the thread.
//!
//! A `/lucid` session is recorded before its answer exists, so its thread is first a
//! stand-in (`i<interaction id>`); when the answer is written the thread is started
//! from it and the session moved there.

use crate::chat::{ChatPlatform, Intake, Pacing, Rendered, StatusView};
use crate::config::DiscordSettings;
use crate::core::{Origin, Platform, Refusal, ThreadRef};
use crate::discord::outbound::client::{
    MAX_CONTENT_CHARS, Place, UNKNOWN_INTERACTION, UNKNOWN_MESSAGE, UNKNOWN_WEBHOOK, error_code,
    refused, status_of,
};
use crate::discord::outbound::markup::DiscordMarkup;
use crate::discord::outbound::{DiscordApi, Post, status};
use crate::messages::{self, Markup};
use crate::store::Store;
use anyhow::{Context as _, bail};
use async_trait::async_trait;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// A `/lucid` session's thread before it exists: `i` and the interaction's id.
pub const SESSION_THREAD_PREFIX: &str = "i";

/// How often the status message is rewritten when only its clock changed.
const CLOCK_REFRESH: Duration = Duration::from_secs(30);
/// How long an interaction's answer may take to be known to Discord after lucid gave
/// it (the edit of a deferred answer can overtake it).
const ANSWER_SETTLE: Duration = Duration::from_secs(3);
/// Interaction tokens die after 15 minutes; one older than this is not used.
const TOKEN_LIFE: Duration = Duration::from_secs(14 * 60);
/// How many channels' kinds, threads and thread names are remembered (each map is
/// emptied when it grows past this: they are caches, re-learned on demand).
const REMEMBERED: usize = 10_000;

/// Whether Discord did not answer, or answered that it could not now (5xx, 429).
fn transient(error: &anyhow::Error) -> bool {
    match status_of(error) {
        Some(status) => status == 429 || status >= 500,
        None => !refused(error),
    }
}

/// Backs off between tries of a write Discord did not take: 250 ms doubling to 5 s,
/// for at most two minutes.
struct Retry {
    wait: Duration,
    until: Instant,
}

impl Retry {
    fn new() -> Retry {
        Retry {
            wait: Duration::from_millis(250),
            until: Instant::now() + Duration::from_secs(120),
        }
    }

    /// Waits before the next try; false when no try is left.
    async fn wait(&mut self) -> bool {
        if Instant::now() + self.wait > self.until {
            return false;
        }
        tokio::time::sleep(self.wait).await;
        self.wait = (self.wait * 2).min(Duration::from_secs(5));
        crate::metrics::outbound_retry(&crate::core::Platform::DISCORD);
        true
    }
}

/// A `/lucid` answered (deferred) and not yet written.
struct Pending {
    token: String,
    name: String,
    at: Instant,
}

pub struct DiscordPlatform {
    pub settings: Arc<DiscordSettings>,
    pub api: Arc<DiscordApi>,
    pub(crate) store: Store,
    verifier: serenity::interactions_endpoint::Verifier,
    /// The bot's user id, from `/users/@me` at start-up or the gateway's READY.
    pub bot_user_id: OnceLock<u64>,
    pending: Mutex<HashMap<String, Pending>>,
    /// Names for threads lucid will start from a mention, by the mention's id.
    thread_names: Mutex<HashMap<String, String>>,
    /// Threads known to exist.
    threads: Mutex<HashSet<String>>,
    /// Whether a channel is a thread (and its parent), by channel id.
    places: Mutex<HashMap<String, Place>>,
}

fn remember<K: std::hash::Hash + Eq, V>(map: &mut HashMap<K, V>, key: K, value: V) {
    if map.len() >= REMEMBERED {
        map.clear();
    }
    map.insert(key, value);
}

/// Why `user` (with `roles`) may not ask in `channel` (anywhere, when None). A
/// channel must be listed when channels are; a person is let in by being listed or
/// by holding a listed role, when either list is set.
fn refusal(
    settings: &DiscordSettings,
    channel: Option<&str>,
    user: &str,
    roles: &[String],
) -> Option<Refusal> {
    if let Some(channel) = channel
        && !settings.channels.is_empty()
        && !settings.channels.iter().any(|c| c == channel)
    {
        return Some(Refusal::PlaceNotListed);
    }
    if settings.users.is_empty() && settings.roles.is_empty() {
        return None;
    }
    let listed = settings.users.iter().any(|u| u == user);
    let has_role = roles.iter().any(|r| settings.roles.contains(r));
    (!listed && !has_role).then_some(Refusal::PersonNotListed)
}

/// The channel and thread of a Discord conversation.
pub fn place(thread: &ThreadRef) -> anyhow::Result<(&str, &str)> {
    match thread {
        ThreadRef::Discord {
            channel,
            thread: Some(thread),
        } => Ok((channel, thread)),
        ThreadRef::Discord { channel, .. } => Ok((channel, channel)),
        other => bail!("not a Discord thread: {}", other.platform()),
    }
}

impl DiscordPlatform {
    pub fn new(
        settings: DiscordSettings,
        api: Arc<DiscordApi>,
        store: Store,
    ) -> anyhow::Result<DiscordPlatform> {
        let key: [u8; 32] = hex::decode(&settings.public_key)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .context("LUCID_DISCORD_PUBLIC_KEY must be 64 hex characters")?;
        let verifier = serenity::interactions_endpoint::Verifier::try_new(key)
            .map_err(|_| anyhow::anyhow!("LUCID_DISCORD_PUBLIC_KEY is not an Ed25519 key"))?;
        Ok(DiscordPlatform {
            settings: Arc::new(settings),
            api,
            store,
            verifier,
            bot_user_id: OnceLock::new(),
            pending: Mutex::default(),
            thread_names: Mutex::default(),
            threads: Mutex::default(),
            places: Mutex::default(),
        })
    }

    /// Learns who the bot is and registers `/lucid` in every configured server.
    pub async fn start_up(&self) {
        match self.api.me().await {
            Ok(me) => {
                let _ = self.bot_user_id.set(me.id.get());
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not ask Discord who lucid is (GET /users/@me)")
            }
        }
        for guild in &self.settings.guilds {
            let mut wait = Duration::from_secs(1);
            for attempt in 1..=5 {
                match self.api.register_command(guild).await {
                    Ok(()) => {
                        tracing::info!(guild, "/lucid registered");
                        break;
                    }
                    Err(e) if attempt < 5 => {
                        tracing::warn!(guild, error = %e, "could not register /lucid; trying again");
                        crate::metrics::outbound_retry(&crate::core::Platform::DISCORD);
                        tokio::time::sleep(wait).await;
                        wait *= 2;
                    }
                    Err(e) => tracing::warn!(guild, error = %e, "could not register /lucid"),
                }
            }
        }
    }

    /// Checks an interaction's Ed25519 signature over its timestamp and raw body.
    pub fn verify(&self, signature: Option<&str>, timestamp: Option<&str>, body: &[u8]) -> bool {
        match (signature, timestamp) {
            (Some(signature), Some(timestamp)) => {
                self.verifier.verify(signature, timestamp, body).is_ok()
            }
            _ => false,
        }
    }

    pub fn guild_allowed(&self, guild: &str) -> bool {
        self.settings.guilds.iter().any(|g| g == guild)
    }

    /// Why `user` (with `roles`) may not ask for work in `channel`, if they may not.
    pub fn refusal(&self, channel: &str, user: &str, roles: &[String]) -> Option<Refusal> {
        refusal(&self.settings, Some(channel), user, roles)
    }

    /// Why `user` may not ask for work or stop it anywhere, if they may not.
    pub fn person_refusal(&self, user: &str, roles: &[String]) -> Option<Refusal> {
        refusal(&self.settings, None, user, roles)
    }

    pub fn bot_user(&self) -> Option<u64> {
        self.bot_user_id.get().copied()
    }

    /// The bot's user id, asked of Discord when neither start-up nor READY has told
    /// it yet (a message can be handled while READY still is).
    pub async fn bot_user_or_ask(&self) -> Option<u64> {
        if let Some(id) = self.bot_user() {
            return Some(id);
        }
        match self.api.me().await {
            Ok(me) => Some(*self.bot_user_id.get_or_init(|| me.id.get())),
            Err(e) => {
                tracing::warn!(error = %e, "could not ask Discord who lucid is");
                None
            }
        }
    }

    /// A `/lucid` about to be taken: its token, for writing the answer it deferred.
    pub fn expect_answer(&self, interaction: &str, token: &str, task: &str) {
        remember(
            &mut self.pending.lock().unwrap(),
            interaction.to_owned(),
            Pending {
                token: token.to_owned(),
                name: messages::thread_name(task),
                at: Instant::now(),
            },
        );
    }

    /// The name of the thread lucid will start from the mention `message`.
    pub fn name_thread(&self, message: &str, task: &str) {
        remember(
            &mut self.thread_names.lock().unwrap(),
            message.to_owned(),
            messages::thread_name(task),
        );
    }

    pub fn know_place(&self, channel: &str, place: Place) {
        remember(&mut self.places.lock().unwrap(), channel.to_owned(), place);
    }

    /// Whether `channel` is a thread, from what the gateway said or Discord's API.
    pub async fn place_of(&self, channel: &str) -> anyhow::Result<Place> {
        if let Some(place) = self.places.lock().unwrap().get(channel) {
            return Ok(*place);
        }
        let place = self.api.place(channel).await?;
        self.know_place(channel, place);
        Ok(place)
    }

    /// Starts the thread `thread` from its message in `channel` unless it is known
    /// to be there. A thread that cannot be started (one a person made without a
    /// message) is written to all the same.
    async fn ensure_thread(&self, channel: &str, thread: &str) {
        if self.threads.lock().unwrap().contains(thread) {
            return;
        }
        let name = self
            .thread_names
            .lock()
            .unwrap()
            .get(thread)
            .cloned()
            .unwrap_or_else(|| messages::thread_name(""));
        if let Err(e) = self.start_thread(channel, thread, &name).await {
            if transient(&e) {
                // Started by the next write, then.
                tracing::warn!(channel, thread, error = %e, "could not start a thread");
                return;
            }
            tracing::debug!(channel, thread, error = %e, "no thread started; writing to it as it is");
        }
        self.thread_names.lock().unwrap().remove(thread);
        let mut threads = self.threads.lock().unwrap();
        if threads.len() >= REMEMBERED {
            threads.clear();
        }
        threads.insert(thread.to_owned());
    }

    /// Writes a `/lucid` session's first message, moves the session to the thread of
    /// that message and starts the thread; answers the message's id. The deferred answer is written
    /// with the interaction's token while it lives; after a restart (or once it is
    /// too old) the message is posted with the bot token instead.
    async fn answer_command(
        &self,
        stand_in: &ThreadRef,
        channel: &str,
        interaction: &str,
        post: &Post,
    ) -> anyhow::Result<String> {
        let pending = self
            .pending
            .lock()
            .unwrap()
            .remove(interaction)
            .filter(|p| p.at.elapsed() < TOKEN_LIFE);
        let name = pending
            .as_ref()
            .map(|p| p.name.clone())
            .unwrap_or_else(|| messages::thread_name(""));
        let message = match &pending {
            Some(pending) => match self.edit_answer(&pending.token, post).await {
                Ok(message) => message,
                Err(e) => {
                    tracing::warn!(error = %e, "could not write /lucid's answer; posting it instead");
                    self.api.post(channel, post).await?
                }
            },
            None => self.api.post(channel, post).await?,
        };
        // Moved before the thread is there: whoever answers in it finds its session
        // (or its question). A thread not started now is started by the next write.
        let thread = ThreadRef::Discord {
            channel: channel.to_owned(),
            thread: Some(message.clone()),
        };
        self.store.move_thread(stand_in, &thread).await?;
        remember(
            &mut self.thread_names.lock().unwrap(),
            message.clone(),
            name,
        );
        self.ensure_thread(channel, &message).await;
        Ok(message)
    }

    /// Edits a deferred answer, waiting a moment for Discord to know of it, and trying
    /// again while Discord does not answer (an edit is the same however often it is
    /// made, so a copy is posted only when the token is refused).
    async fn edit_answer(&self, token: &str, post: &Post) -> anyhow::Result<String> {
        let settle = Instant::now() + ANSWER_SETTLE;
        let mut retry = Retry::new();
        loop {
            match self.api.edit_original(token, post).await {
                Ok(message) => return Ok(message.id.to_string()),
                Err(e) => {
                    let not_yet = matches!(
                        error_code(&e),
                        Some(UNKNOWN_MESSAGE | UNKNOWN_WEBHOOK | UNKNOWN_INTERACTION)
                    );
                    if not_yet && Instant::now() < settle {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    } else if !(transient(&e) && retry.wait().await) {
                        return Err(e);
                    }
                }
            }
        }
    }

    /// Starts a thread, trying again while Discord does not answer.
    async fn start_thread(&self, channel: &str, message: &str, name: &str) -> anyhow::Result<()> {
        let mut retry = Retry::new();
        loop {
            match self.api.start_thread(channel, message, name).await {
                Ok(()) => return Ok(()),
                Err(e) if transient(&e) && retry.wait().await => {
                    tracing::debug!(error = %e, "starting a thread again");
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Posts `post` in `thread`, starting the thread first where needed; answers
    /// `channel/message`.
    async fn write(&self, thread: &ThreadRef, post: &Post) -> anyhow::Result<String> {
        let (channel, thread_id) = place(thread)?;
        if let Some(interaction) = thread_id.strip_prefix(SESSION_THREAD_PREFIX) {
            let message = self
                .answer_command(thread, channel, interaction, post)
                .await?;
            return Ok(format!("{channel}/{message}"));
        }
        self.ensure_thread(channel, thread_id).await;
        let message = self.api.post(thread_id, post).await?;
        Ok(format!("{thread_id}/{message}"))
    }
}

/// `channel/message`, as lucid keeps a message's place.
fn split_message(id: &str) -> anyhow::Result<(&str, &str)> {
    id.split_once('/')
        .with_context(|| format!("{id:?} is not a Discord channel/message"))
}

#[async_trait]
impl ChatPlatform for DiscordPlatform {
    fn platform(&self) -> Platform {
        Platform::DISCORD
    }

    /// `https://discord.com/channels/<server>/<thread>`: the server is asked of
    /// Discord (of the parent channel, there from the start, while the thread may
    /// still be on its way), since a thread's reference keeps only its channels.
    async fn link_to(&self, thread: &ThreadRef) -> Option<String> {
        let (parent, thread) = place(thread).ok()?;
        // A thread not made yet (its stand-in's name is no id): the channel.
        let thread = if thread.starts_with(SESSION_THREAD_PREFIX) {
            parent
        } else {
            thread
        };
        match self.api.guild_of(parent).await {
            Ok(Some(guild)) => Some(format!("https://discord.com/channels/{guild}/{thread}")),
            Ok(None) => None,
            Err(e) => {
                tracing::info!(error = %format!("{e:#}"), "no link to a Discord thread");
                None
            }
        }
    }

    fn title(&self) -> &'static str {
        "Discord"
    }

    fn routes(self: Arc<Self>, intake: Intake) -> axum::Router {
        super::inbound::routes(self, intake)
    }

    fn listen(self: Arc<Self>, intake: Intake, stop: CancellationToken) {
        if self.settings.gateway {
            super::inbound::gateway::spawn(self, intake, stop);
        }
    }

    fn markup(&self) -> &dyn Markup {
        &DiscordMarkup
    }

    fn pacing(&self) -> Pacing {
        Pacing {
            edit_interval: self.settings.edit_interval,
            clock_refresh: CLOCK_REFRESH,
            status_first: true,
            replies: Some(MAX_CONTENT_CHARS),
            reply_interval: std::time::Duration::ZERO,
        }
    }

    /// 👀 on the message that asked.
    async fn acknowledge(&self, origin: &Origin) -> anyhow::Result<()> {
        if let Some(message) = &origin.message {
            let (channel, message) = split_message(message)?;
            self.api.react(channel, message, "👀").await?;
        }
        Ok(())
    }

    async fn say(&self, thread: &ThreadRef, rendered: &str) -> anyhow::Result<()> {
        self.write(thread, &Post::text(rendered)).await.map(drop)
    }

    fn speaks_privately(&self) -> bool {
        true
    }

    /// A direct message from the bot (Create DM, then a message in it): the only
    /// place a request made by a mention can be answered for one person alone.
    async fn say_privately(&self, origin: &Origin, rendered: &str) -> anyhow::Result<()> {
        let recipient = serde_json::json!({ "recipient_id": origin.author.id });
        let dm = self.api.http().create_private_channel(&recipient).await?;
        self.api
            .post(&dm.id.to_string(), &Post::text(rendered))
            .await
            .map(drop)
    }

    fn render_status(&self, view: &StatusView) -> Rendered {
        let post = status::status_post(view);
        let text = serde_json::to_string(&post).expect("a post serializes");
        Rendered::native(text, post)
    }

    async fn post_status(&self, thread: &ThreadRef, rendered: &Rendered) -> anyhow::Result<String> {
        self.write(thread, &*rendered.as_native::<Post>()?).await
    }

    /// Always with the bot token: an interaction's token dies after 15 minutes.
    async fn update_status(
        &self,
        _thread: &ThreadRef,
        id: &str,
        rendered: &Rendered,
    ) -> anyhow::Result<()> {
        let (channel, message) = split_message(id)?;
        self.api
            .edit(channel, message, &*rendered.as_native::<Post>()?)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(channels: &[&str], roles: &[&str], users: &[&str]) -> DiscordSettings {
        let list = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect();
        DiscordSettings {
            application_id: "1".into(),
            public_key: "ab".repeat(32),
            bot_token: "t".to_owned().into(),
            guilds: vec!["g".into()],
            channels: list(channels),
            roles: list(roles),
            users: list(users),
            channel_repos: Vec::new(),
            api_url: "https://discord.com".into(),
            ca_file: None,
            gateway: true,
            message_content: false,
            edit_interval: Duration::from_secs(1),
        }
    }

    #[test]
    fn people_are_let_in_by_their_id_or_a_role_and_places_by_the_list() {
        let roles = |r: &[&str]| r.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let open = settings(&[], &[], &[]);
        assert_eq!(refusal(&open, Some("c"), "u", &[]), None);
        let s = settings(&["c1"], &["dev"], &["boss"]);
        assert_eq!(refusal(&s, Some("c1"), "boss", &[]), None);
        assert_eq!(refusal(&s, Some("c1"), "ann", &roles(&["dev"])), None);
        assert_eq!(
            refusal(&s, Some("c1"), "ann", &roles(&["ops"])),
            Some(Refusal::PersonNotListed)
        );
        assert_eq!(
            refusal(&s, Some("c2"), "boss", &[]),
            Some(Refusal::PlaceNotListed)
        );
        // A stop is not about a place.
        assert_eq!(refusal(&s, None, "ann", &roles(&["dev"])), None);
    }

    #[test]
    fn a_thread_is_written_where_it_lives() {
        let thread = ThreadRef::Discord {
            channel: "1".into(),
            thread: Some("2".into()),
        };
        assert_eq!(place(&thread).unwrap(), ("1", "2"));
        assert_eq!(thread.key(), "2");
        assert!(place(&ThreadRef::Web { id: "w".into() }).is_err());
        assert_eq!(split_message("5/6").unwrap(), ("5", "6"));
        assert!(split_message("56").is_err());
    }
}
