//! Mentions of the bot, through Discord's gateway (serenity's client, intents
//! `GUILDS` and `GUILD_MESSAGES`, plus the privileged `MESSAGE_CONTENT` when the
//! operator granted it). serenity heartbeats, resumes a dropped connection (Discord
//! then replays what was missed) and identifies again when it must; lucid dedupes
//! every message on its id. On each READY of a new gateway session, every channel
//! lucid may work in is read from the newest message lucid had taken, so a mention
//! made while lucid was down is taken then.

use crate::chat::{ChatPlatform, Intake};
use crate::core::{Ask, Author, DeliveryId, Intent, Origin, Platform, Policy, ThreadRef};
use crate::discord::DiscordPlatform;
use crate::discord::inbound::{is_stop, task_text};
use crate::discord::outbound::Post;
use crate::discord::outbound::client::Place;
use crate::messages;
use crate::store::{Delivered, DeliveryAction};
use serenity::all::{
    ChannelType, Context, EventHandler, GatewayIntents, Guild, GuildChannel, Message, Ready,
    ResumedEvent,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How many pages of 100 messages a channel is read back after a restart.
const CATCH_UP_PAGES: usize = 5;

/// Connects to the gateway until `stop`, connecting again (backing off) if serenity's
/// client ends (an invalid token or a refused intent ends it; the log says which).
pub fn spawn(platform: Arc<DiscordPlatform>, intake: Intake, stop: CancellationToken) {
    crate::background::spawn(async move {
        let mut wait = Duration::from_secs(1);
        loop {
            let mut intents = GatewayIntents::GUILDS | GatewayIntents::GUILD_MESSAGES;
            if platform.settings.message_content {
                intents |= GatewayIntents::MESSAGE_CONTENT;
            }
            let handler = Handler {
                platform: platform.clone(),
                intake: intake.clone(),
                // Read before connecting: serenity hands each event to a task of its
                // own, so the first GUILD_CREATE may be handled before READY is.
                catch_up_since: Mutex::new(newest_taken(&intake).await),
                readies: AtomicUsize::new(0),
            };
            let http = match platform.api.gateway_http(&platform.settings) {
                Ok(http) => http,
                Err(e) => {
                    tracing::error!(error = %e, "cannot make Discord's gateway client");
                    return;
                }
            };
            let built = serenity::all::ClientBuilder::new_with_http(http, intents)
                .event_handler(handler)
                .await;
            let mut client = match built {
                Ok(client) => client,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot start Discord's gateway client");
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(wait) => {}
                    }
                    wait = (wait * 2).min(Duration::from_secs(60));
                    continue;
                }
            };
            let shards = client.shard_manager.clone();
            tokio::select! {
                () = stop.cancelled() => {
                    shards.shutdown_all().await;
                    return;
                }
                ended = client.start() => {
                    match ended {
                        Ok(()) => tracing::warn!("Discord's gateway connection ended"),
                        Err(e) => tracing::warn!(error = %e, "Discord's gateway connection failed"),
                    }
                }
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
            wait = (wait * 2).min(Duration::from_secs(60));
        }
    });
}

struct Handler {
    platform: Arc<DiscordPlatform>,
    intake: Intake,
    /// Where each server's channels are read from after a READY: the newest message
    /// lucid had taken.
    catch_up_since: Mutex<Option<u64>>,
    readies: AtomicUsize,
}

/// How far before the newest message taken a later READY's reading starts: messages
/// taken live while that READY is handled must not hide older missed ones. (serenity
/// hands each event to a task of its own, so GUILD_CREATE may be handled before the
/// READY it follows; it then reads from the older point, which only reads more.)
const LATER_READY_MARGIN_MS: u64 = 10 * 60 * 1_000;

/// The newest Discord message (or interaction) lucid took, as a snowflake.
async fn newest_taken(intake: &Intake) -> Option<u64> {
    match intake
        .store
        .newest_numeric_delivery(&Platform::DISCORD)
        .await
    {
        Ok(since) => since.and_then(|s| s.parse().ok()),
        Err(e) => {
            tracing::warn!(error = %e, "cannot tell which Discord messages were missed");
            None
        }
    }
}

/// A snowflake `ms` milliseconds earlier (its high bits are a time in milliseconds).
fn earlier(snowflake: u64, ms: u64) -> u64 {
    let time = (snowflake >> 22).saturating_sub(ms);
    time << 22
}

#[serenity::async_trait]
impl EventHandler for Handler {
    async fn ready(&self, _ctx: Context, ready: Ready) {
        let _ = self.platform.bot_user_id.set(ready.user.id.get());
        tracing::info!(guilds = ready.guilds.len(), "Discord gateway ready");
        // The first READY reads from where lucid stood when it connected; a later one
        // (Discord asked for a new session) from a little before the newest taken.
        if self.readies.fetch_add(1, Ordering::SeqCst) > 0
            && let Some(newest) = newest_taken(&self.intake).await
        {
            *self.catch_up_since.lock().unwrap() = Some(earlier(newest, LATER_READY_MARGIN_MS));
        }
    }

    async fn resume(&self, _ctx: Context, _event: ResumedEvent) {
        tracing::info!("Discord gateway resumed");
    }

    async fn guild_create(&self, _ctx: Context, guild: Guild, _is_new: Option<bool>) {
        for id in guild.channels.keys() {
            self.platform.know_place(&id.to_string(), Place::Channel);
        }
        for thread in &guild.threads {
            know_thread(&self.platform, thread);
        }
        // Nothing known yet (lucid had taken nothing when it connected, and READY may
        // still be handled): from a little before the newest taken by now.
        let known = *self.catch_up_since.lock().unwrap();
        let since = match known {
            Some(since) => Some(since),
            None => newest_taken(&self.intake)
                .await
                .map(|newest| earlier(newest, LATER_READY_MARGIN_MS)),
        };
        if let Some(since) = since {
            catch_up(&self.platform, &self.intake, &guild, since).await;
        }
    }

    async fn thread_create(&self, _ctx: Context, thread: GuildChannel) {
        know_thread(&self.platform, &thread);
    }

    async fn message(&self, _ctx: Context, message: Message) {
        on_message(&self.platform, &self.intake, &message).await;
    }
}

fn know_thread(platform: &DiscordPlatform, thread: &GuildChannel) {
    if let Some(parent) = thread.parent_id {
        platform.know_place(&thread.id.to_string(), Place::Thread { parent });
    }
}

/// Reads what was said since `since` in every channel and active thread of `guild`
/// lucid may work in, and takes each message as if the gateway had brought it.
async fn catch_up(platform: &Arc<DiscordPlatform>, intake: &Intake, guild: &Guild, since: u64) {
    let listed = &platform.settings.channels;
    let channels = guild
        .channels
        .values()
        .filter(|c| matches!(c.kind, ChannelType::Text | ChannelType::News))
        .filter(|c| listed.is_empty() || listed.contains(&c.id.to_string()))
        .chain(guild.threads.iter().filter(|t| {
            listed.is_empty() || t.parent_id.is_some_and(|p| listed.contains(&p.to_string()))
        }));
    let mut taken = 0;
    for channel in channels {
        let mut after = since.to_string();
        for _ in 0..CATCH_UP_PAGES {
            let page = match platform
                .api
                .messages_after(&channel.id.to_string(), &after)
                .await
            {
                Ok(page) => page,
                Err(e) => {
                    tracing::warn!(channel = %channel.id, error = %e, "could not read missed messages");
                    break;
                }
            };
            for message in &page {
                on_message(platform, intake, message).await;
                taken += 1;
            }
            match page.last() {
                Some(last) if page.len() == 100 => after = last.id.to_string(),
                _ => break,
            }
        }
    }
    if taken > 0 {
        tracing::info!(guild = %guild.id, messages = taken, "read messages said while lucid was away");
    }
}

/// Takes a message: a mention in a channel starts a session in a thread of its own;
/// in a session's thread, a mention is a follow-up or a stop (and with the content
/// intent, any message is a note to the running agent).
pub async fn on_message(platform: &Arc<DiscordPlatform>, intake: &Intake, message: &Message) {
    if let Err(e) = take(platform, intake, message).await {
        tracing::warn!(message = %message.id, error = %e, "could not take a Discord message");
    }
}

async fn take(
    platform: &Arc<DiscordPlatform>,
    intake: &Intake,
    message: &Message,
) -> anyhow::Result<()> {
    // Bots (lucid among them) and webhooks never ask for work.
    if message.author.bot || message.webhook_id.is_some() {
        return Ok(());
    }
    let Some(guild) = message.guild_id else {
        return Ok(());
    };
    if !platform.guild_allowed(&guild.to_string()) {
        return Ok(());
    }
    let bot = platform.bot_user_or_ask().await;
    let mentioned = bot.is_some_and(|b| message.mentions.iter().any(|u| u.id.get() == b));
    if !mentioned && !platform.settings.message_content {
        return Ok(());
    }
    let channel = message.channel_id.to_string();
    let id = message.id.to_string();
    let (thread, parent, fresh) = match platform.place_of(&channel).await? {
        Place::Thread { parent } => (
            ThreadRef::Discord {
                channel: parent.to_string(),
                thread: Some(channel.clone()),
            },
            parent.to_string(),
            false,
        ),
        Place::Channel if mentioned => (
            ThreadRef::Discord {
                channel: channel.clone(),
                thread: Some(id.clone()),
            },
            channel.clone(),
            true,
        ),
        Place::Channel => return Ok(()),
    };
    let task = task_text(&message.content, bot);
    let roles = roles_of(platform, message).await;
    let author = Author {
        id: message.author.id.to_string(),
        display_name: message
            .member
            .as_ref()
            .and_then(|m| m.nick.clone())
            .or_else(|| message.author.global_name.clone())
            .unwrap_or_else(|| message.author.name.clone()),
    };
    let refusal = platform.refusal(&parent, &author.id, &roles);
    let delivery = DeliveryId::parse(&id)?;
    if fresh {
        if let Some(refusal) = refusal {
            // Outside any thread a refusal is a reply: no thread is started for it.
            let recorded = intake
                .store
                .record_delivery(Platform::DISCORD, &delivery, DeliveryAction::Nothing)
                .await?;
            if recorded != Delivered::Duplicate {
                let text = as_dyn(platform).render(&messages::refusal(&refusal, &author));
                platform.api.reply(&channel, &id, &Post::text(text)).await?;
            }
            return Ok(());
        }
        platform.name_thread(&id, intake.agents.words(&task));
    }
    let ask = if mentioned && is_stop(&task) {
        Ask::Stop
    } else {
        Ask::Task {
            text: task,
            repo: None,
            title: None,
            whole: None,
            agent: None,
        }
    };
    let intent = Intent {
        origin: Origin {
            delivery,
            thread,
            author,
            message: Some(format!("{channel}/{id}")),
            addressed: mentioned,
        },
        ask,
    };
    let policy = Policy {
        refusal,
        may_start: true,
        default_repo: platform.settings.channel_repo(&parent).cloned(),
    };
    intake
        .take(&as_dyn(platform), intent, policy, None, fresh)
        .await?;
    Ok(())
}

/// The author's roles: from the message, or (for messages read back, which carry no
/// member) from Discord when roles decide who may ask.
async fn roles_of(platform: &DiscordPlatform, message: &Message) -> Vec<String> {
    if let Some(member) = &message.member {
        return member.roles.iter().map(ToString::to_string).collect();
    }
    let (Some(guild), false) = (message.guild_id, platform.settings.roles.is_empty()) else {
        return Vec::new();
    };
    match platform
        .api
        .http()
        .get_member(guild, message.author.id)
        .await
    {
        Ok(member) => member.roles.iter().map(ToString::to_string).collect(),
        Err(e) => {
            tracing::warn!(user = %message.author.id, error = %e, "could not read a person's roles");
            Vec::new()
        }
    }
}

fn as_dyn(platform: &Arc<DiscordPlatform>) -> Arc<dyn ChatPlatform> {
    platform.clone()
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_earlier_snowflake_is_earlier_by_that_much_time() {
        let id: u64 = 1_300_000_000_000_000_000;
        let earlier = super::earlier(id, 60_000);
        assert_eq!((id >> 22) - (earlier >> 22), 60_000);
        assert_eq!(super::earlier(5, 60_000), 0);
    }
}
