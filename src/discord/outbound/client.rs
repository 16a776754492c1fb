//! lucid's Discord REST client: serenity's `Http`, whose rate limiter keeps Discord's
//! per-route buckets and its global limit and waits out every 429 for its
//! `retry_after` before trying again, so a burst of updates is delayed, never dropped.
//! Every message sets `allowed_mentions` to nothing: whatever an agent writes, no one
//! is pinged.

use crate::config::DiscordSettings;
use crate::messages;
use anyhow::Context as _;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serenity::all::{
    ApplicationId, AutoArchiveDuration, Builder as _, ButtonStyle, Channel, ChannelId, ChannelType,
    CommandOptionType, CreateActionRow, CreateAllowedMentions, CreateButton, CreateCommand,
    CreateCommandOption, CreateMessage, CreateThread, EditInteractionResponse, EditMessage,
    GetMessages, GuildId, Http, HttpBuilder, Message, MessageId, MessageReference, ReactionType,
};
use std::sync::Arc;

/// Discord's limit on a message's content, in characters.
pub const MAX_CONTENT_CHARS: usize = 2_000;
/// The `custom_id` of a status message's Stop button: `stop:<session id>`.
pub const STOP_PREFIX: &str = "stop:";
/// The `custom_id`s of the buttons that answer a waiting permission request:
/// `allow:<session id>:<request number>` and `reject:<session id>:<request number>`
/// (at most 7 + 36 + 1 + 10 characters, within Discord's 100).
pub const ALLOW_PREFIX: &str = "allow:";
pub const REJECT_PREFIX: &str = "reject:";
/// The slash command's name and options.
pub const COMMAND: &str = "lucid";
pub const TASK_OPTION: &str = "task";
pub const REPO_OPTION: &str = "repo";
pub const AGENT_OPTION: &str = "agent";

/// A message as lucid writes it: Markdown content, the session its Stop button stops
/// while the session runs, and the permission request of that session its Allow and
/// Reject buttons answer while it waits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Post {
    pub content: String,
    pub stop: Option<String>,
    /// The number of the session's permission request waiting for a person: shown as
    /// Allow and Reject beside Stop (only with `stop`).
    #[serde(default)]
    pub waiting: Option<u32>,
}

/// The `custom_id` of the Allow (`allow`) or Reject button of request `number` of
/// `session`.
pub fn permission_custom_id(allow: bool, session: &str, number: u32) -> String {
    let prefix = if allow { ALLOW_PREFIX } else { REJECT_PREFIX };
    format!("{prefix}{session}:{number}")
}

impl Post {
    pub fn text(content: impl Into<String>) -> Post {
        Post {
            content: content.into(),
            stop: None,
            waiting: None,
        }
    }

    /// The content within Discord's limit.
    fn content(&self) -> String {
        messages::shorten(&self.content, MAX_CONTENT_CHARS)
    }

    /// One row: Allow and Reject while a request waits, then Stop (3 of the 5
    /// buttons a row may hold).
    fn components(&self) -> Vec<CreateActionRow> {
        let Some(session) = &self.stop else {
            return Vec::new();
        };
        let mut buttons = Vec::new();
        if let Some(number) = self.waiting {
            buttons.push(
                CreateButton::new(permission_custom_id(true, session, number))
                    .label(messages::ALLOW_BUTTON)
                    .style(ButtonStyle::Success),
            );
            buttons.push(
                CreateButton::new(permission_custom_id(false, session, number))
                    .label(messages::REJECT_BUTTON)
                    .style(ButtonStyle::Secondary),
            );
        }
        buttons.push(
            CreateButton::new(format!("{STOP_PREFIX}{session}"))
                .label(messages::STOP_BUTTON)
                .style(ButtonStyle::Danger),
        );
        vec![CreateActionRow::Buttons(buttons)]
    }
}

/// Nobody: no user, role, `@everyone` or `@here` is pinged by lucid's messages.
fn nobody() -> CreateAllowedMentions {
    CreateAllowedMentions::new()
}

/// A channel as lucid needs to know it: a thread (with its parent) or not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    Channel,
    Thread { parent: ChannelId },
}

pub struct DiscordApi {
    http: Arc<Http>,
    /// For interactions' own webhooks (`@original`), without serenity's limiter: it
    /// keys them all on the application, so every session's answer would wait behind
    /// every other's, while Discord limits them per interaction and apart from the
    /// bot's global limit.
    answers: Arc<Http>,
    /// Calls to Discord in flight at once: each holds a connection, and a burst of
    /// sessions must not open thousands of them.
    in_flight: tokio::sync::Semaphore,
}

/// At most this many calls to Discord at once; more wait their turn.
const MAX_IN_FLIGHT: usize = 64;

/// Where `discord.com` is to be reached instead, when `api_url` is not Discord's own.
fn relay_address(api_url: &str) -> anyhow::Result<Option<std::net::SocketAddr>> {
    let url = url::Url::parse(api_url).with_context(|| format!("{api_url:?} is not a URL"))?;
    let host = url.host_str().unwrap_or_default();
    if host == "discord.com" && url.port().is_none() {
        return Ok(None);
    }
    use std::net::ToSocketAddrs as _;
    let port = url.port_or_known_default().unwrap_or(443);
    let address = (host, port)
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {host}"))?
        .next()
        .with_context(|| format!("{host} has no address"))?;
    Ok(Some(address))
}

/// Discord's JSON error code in a refusal (10003 Unknown Channel, …).
pub fn error_code(error: &anyhow::Error) -> Option<isize> {
    match error.downcast_ref::<serenity::Error>()? {
        serenity::Error::Http(serenity::http::HttpError::UnsuccessfulRequest(response)) => {
            Some(response.error.code)
        }
        _ => None,
    }
}

/// An error of a call whose address holds an interaction's token, without the
/// address (reqwest's errors name the URL they failed on).
fn without_token(error: serenity::Error) -> anyhow::Error {
    match error {
        serenity::Error::Http(serenity::http::HttpError::Request(e)) => {
            anyhow::anyhow!("cannot reach Discord: {}", e.without_url())
        }
        other => other.into(),
    }
}

/// The HTTP status Discord answered a refused call with.
pub fn status_of(error: &anyhow::Error) -> Option<u16> {
    match error.downcast_ref::<serenity::Error>()? {
        serenity::Error::Http(serenity::http::HttpError::UnsuccessfulRequest(response)) => {
            Some(response.status_code.as_u16())
        }
        _ => None,
    }
}

/// Whether Discord answered and said no (rather than not answering at all).
pub fn refused(error: &anyhow::Error) -> bool {
    matches!(
        error.downcast_ref::<serenity::Error>(),
        Some(serenity::Error::Http(
            serenity::http::HttpError::UnsuccessfulRequest(_)
        ))
    )
}

/// serenity's rate limiter (what `HttpBuilder` would make), telling `/metrics` each
/// time it holds a request back: after a 429, or ahead of one when a bucket is spent.
fn counted_limiter(
    client: &reqwest::Client,
    settings: &DiscordSettings,
) -> serenity::http::Ratelimiter {
    let token = settings.bot_token.expose_secret().trim();
    let token = if token.starts_with("Bot ") {
        token.to_owned()
    } else {
        format!("Bot {token}")
    };
    let mut limiter = serenity::http::Ratelimiter::new(client.clone(), token);
    limiter.set_ratelimit_callback(Box::new(|_| {
        crate::metrics::outbound_rate_limited(&crate::core::Platform::DISCORD);
    }));
    limiter
}

pub const UNKNOWN_CHANNEL: isize = 10003;
pub const UNKNOWN_MESSAGE: isize = 10008;
pub const UNKNOWN_WEBHOOK: isize = 10015;
pub const UNKNOWN_INTERACTION: isize = 10062;
pub const THREAD_EXISTS: isize = 160004;

fn id<T: From<u64>>(s: &str) -> anyhow::Result<T> {
    s.parse::<u64>()
        .ok()
        .filter(|n| *n != 0)
        .map(T::from)
        .with_context(|| format!("{s:?} is not a Discord id"))
}

impl DiscordApi {
    pub fn new(settings: &DiscordSettings) -> anyhow::Result<DiscordApi> {
        Ok(DiscordApi {
            http: Arc::new(Self::build_http(settings, true)?),
            answers: Arc::new(Self::build_http(settings, false)?),
            in_flight: tokio::sync::Semaphore::new(MAX_IN_FLIGHT),
        })
    }

    /// Another client for the gateway's connection (serenity's gateway client owns
    /// its own).
    pub fn gateway_http(&self, settings: &DiscordSettings) -> anyhow::Result<Http> {
        Self::build_http(settings, true)
    }

    /// serenity's client with its rate limiter on. Its addresses are always
    /// `https://discord.com/…` (its limiter ignores any other base), so another
    /// `LUCID_DISCORD_API_URL` is where `discord.com` is reached instead, its
    /// certificate checked against `LUCID_DISCORD_CA_FILE` when that is set.
    fn build_http(settings: &DiscordSettings, limited: bool) -> anyhow::Result<Http> {
        let application: ApplicationId = id(&settings.application_id)
            .context("LUCID_DISCORD_APPLICATION_ID must be the application's numeric id")?;
        let mut client = crate::outbound::reqwest_builder();
        if let Some(address) = relay_address(&settings.api_url)? {
            client = client.resolve("discord.com", address);
        }
        if let Some(path) = &settings.ca_file {
            let pem = std::fs::read(path)
                .with_context(|| format!("cannot read LUCID_DISCORD_CA_FILE {}", path.display()))?;
            let certificate = reqwest::Certificate::from_pem(&pem)
                .context("LUCID_DISCORD_CA_FILE is not a PEM certificate")?;
            client = client.add_root_certificate(certificate);
        }
        let client = client.build()?;
        Ok(HttpBuilder::new(settings.bot_token.expose_secret())
            .application_id(application)
            .ratelimiter(counted_limiter(&client, settings))
            .client(client)
            .ratelimiter_disabled(!limited)
            .build())
    }

    async fn slot(&self) -> tokio::sync::SemaphorePermit<'_> {
        self.in_flight
            .acquire()
            .await
            .expect("the semaphore is never closed")
    }

    pub fn http(&self) -> Arc<Http> {
        self.http.clone()
    }

    /// The bot's own user: its id, and proof the token works.
    pub async fn me(&self) -> anyhow::Result<serenity::all::CurrentUser> {
        Ok(self.http.get_current_user().await?)
    }

    /// Registers `/lucid` in `guild`, replacing the application's commands there (a
    /// bulk overwrite: the same call again changes nothing).
    pub async fn register_command(&self, guild: &str) -> anyhow::Result<()> {
        let guild: GuildId = id(guild)?;
        let command = CreateCommand::new(COMMAND)
            .description(messages::COMMAND_DESCRIPTION)
            .add_option(
                CreateCommandOption::new(
                    CommandOptionType::String,
                    TASK_OPTION,
                    messages::TASK_OPTION_DESCRIPTION,
                )
                .required(true)
                .max_length(6_000),
            )
            .add_option(
                CreateCommandOption::new(
                    CommandOptionType::String,
                    REPO_OPTION,
                    messages::REPO_OPTION_DESCRIPTION,
                )
                .max_length(200),
            )
            .add_option(
                CreateCommandOption::new(
                    CommandOptionType::String,
                    AGENT_OPTION,
                    messages::AGENT_OPTION_DESCRIPTION,
                )
                .max_length(32),
            );
        guild.set_commands(&*self.http, vec![command]).await?;
        Ok(())
    }

    /// Posts `post` in `channel` (a thread is a channel); answers the message's id.
    pub async fn post(&self, channel: &str, post: &Post) -> anyhow::Result<String> {
        let _slot = self.slot().await;
        let message = CreateMessage::new()
            .content(post.content())
            .components(post.components())
            .allowed_mentions(nobody());
        let sent = id::<ChannelId>(channel)?
            .send_message(&*self.http, message)
            .await?;
        Ok(sent.id.to_string())
    }

    /// Answers `message` in `channel` (a reply, outside any thread).
    pub async fn reply(&self, channel: &str, message: &str, post: &Post) -> anyhow::Result<()> {
        let _slot = self.slot().await;
        let channel: ChannelId = id(channel)?;
        let reference =
            MessageReference::from((channel, id::<MessageId>(message)?)).fail_if_not_exists(false);
        let message = CreateMessage::new()
            .content(post.content())
            .reference_message(reference)
            .allowed_mentions(nobody());
        channel.send_message(&*self.http, message).await?;
        Ok(())
    }

    pub async fn edit(&self, channel: &str, message: &str, post: &Post) -> anyhow::Result<()> {
        let _slot = self.slot().await;
        let edit = EditMessage::new()
            .content(post.content())
            .components(post.components())
            .allowed_mentions(nobody());
        id::<ChannelId>(channel)?
            .edit_message(&*self.http, id::<MessageId>(message)?, edit)
            .await?;
        Ok(())
    }

    /// Writes an interaction's first answer (a deferred one) with the interaction's
    /// token, valid for 15 minutes; answers the message.
    pub async fn edit_original(&self, token: &str, post: &Post) -> anyhow::Result<Message> {
        let _slot = self.slot().await;
        let edit = EditInteractionResponse::new()
            .content(post.content())
            .components(post.components())
            .allowed_mentions(nobody());
        edit.execute(&*self.answers, token)
            .await
            .map_err(without_token)
    }

    /// Starts a public thread from `message` in `channel`: the thread's id is the
    /// message's. A thread already there counts as started.
    pub async fn start_thread(
        &self,
        channel: &str,
        message: &str,
        name: &str,
    ) -> anyhow::Result<()> {
        let _slot = self.slot().await;
        let thread = CreateThread::new(name.to_owned())
            .kind(ChannelType::PublicThread)
            .auto_archive_duration(AutoArchiveDuration::OneWeek);
        let started = id::<ChannelId>(channel)?
            .create_thread_from_message(&*self.http, id::<MessageId>(message)?, thread)
            .await;
        match started {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = anyhow::Error::from(e);
                if error_code(&e) == Some(THREAD_EXISTS) {
                    Ok(())
                } else {
                    Err(e)
                }
            }
        }
    }

    pub async fn react(&self, channel: &str, message: &str, emoji: &str) -> anyhow::Result<()> {
        let _slot = self.slot().await;
        self.http
            .create_reaction(
                id(channel)?,
                id(message)?,
                &ReactionType::Unicode(emoji.to_owned()),
            )
            .await?;
        Ok(())
    }

    /// The server (guild) `channel` is in; None for a direct message.
    pub async fn guild_of(&self, channel: &str) -> anyhow::Result<Option<String>> {
        let _slot = self.slot().await;
        Ok(match self.http.get_channel(id(channel)?).await? {
            Channel::Guild(channel) => Some(channel.guild_id.to_string()),
            _ => None,
        })
    }

    /// Whether `channel` is a thread, and its parent if it is.
    pub async fn place(&self, channel: &str) -> anyhow::Result<Place> {
        let _slot = self.slot().await;
        let channel = self.http.get_channel(id(channel)?).await?;
        Ok(match channel {
            Channel::Guild(channel) => match (channel.kind, channel.parent_id) {
                (
                    ChannelType::PublicThread
                    | ChannelType::PrivateThread
                    | ChannelType::NewsThread,
                    Some(parent),
                ) => Place::Thread { parent },
                _ => Place::Channel,
            },
            _ => Place::Channel,
        })
    }

    /// Up to 100 messages of `channel` after `after`, oldest first.
    pub async fn messages_after(&self, channel: &str, after: &str) -> anyhow::Result<Vec<Message>> {
        let _slot = self.slot().await;
        let mut messages = id::<ChannelId>(channel)?
            .messages(
                &*self.http,
                GetMessages::new().after(id::<MessageId>(after)?).limit(100),
            )
            .await?;
        messages.sort_by_key(|m| m.id);
        Ok(messages)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    const SESSION: &str = "0190a3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b";

    /// The buttons of `post`'s rows as Discord gets them: (custom_id, label, style).
    fn buttons(post: &Post) -> Vec<Vec<(String, String, u64)>> {
        let rows = serde_json::to_value(post.components()).unwrap();
        rows.as_array()
            .unwrap()
            .iter()
            .map(|row| {
                assert_eq!(row["type"], 1, "{row}");
                row["components"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|b: &Value| {
                        (
                            b["custom_id"].as_str().unwrap().to_owned(),
                            b["label"].as_str().unwrap().to_owned(),
                            b["style"].as_u64().unwrap(),
                        )
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn a_waiting_request_puts_allow_and_reject_beside_stop() {
        let mut post = Post {
            content: "working".into(),
            stop: Some(SESSION.into()),
            waiting: None,
        };
        assert_eq!(
            buttons(&post),
            vec![vec![(format!("stop:{SESSION}"), "Stop".into(), 4)]]
        );
        post.waiting = Some(u32::MAX);
        let shown = buttons(&post);
        assert_eq!(
            shown,
            vec![vec![
                (format!("allow:{SESSION}:4294967295"), "Allow".into(), 3),
                (format!("reject:{SESSION}:4294967295"), "Reject".into(), 2),
                (format!("stop:{SESSION}"), "Stop".into(), 4),
            ]]
        );
        // Discord's limits: 5 buttons a row, custom ids of at most 100 characters.
        assert!(shown[0].len() <= 5);
        assert!(shown[0].iter().all(|(id, ..)| id.chars().count() <= 100));
        // Without a session to stop there are no buttons at all.
        post.stop = None;
        assert!(buttons(&post).is_empty());
    }

    #[test]
    fn a_post_kept_before_requests_waited_still_reads() {
        let kept = json!({"content": "working", "stop": SESSION});
        let post: Post = serde_json::from_value(kept).unwrap();
        assert_eq!(post.waiting, None);
        assert_eq!(post.stop.as_deref(), Some(SESSION));
    }
}
