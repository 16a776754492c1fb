//! Discord, as a platform lucid listens to and answers on.
//!
//! A session lives in a thread of its own: `/lucid` answers with the session's status
//! message and starts a public thread from it; a mention of the bot in a channel
//! starts a thread from the mention. The channel gets that one message; everything
//! else (the status message's edits, key moments, the pull request) happens in the
//! thread.
//!
//! `inbound` takes interactions over HTTP (the slash command, the Stop button) and
//! messages from the gateway; `outbound` is everything lucid says, through serenity's
//! REST client (its rate limiter waits out every 429, so nothing is dropped).
//! [`DiscordPlatform`] is the port it implements.

pub mod inbound;
pub mod outbound;
mod platform;

pub use platform::{DiscordPlatform, SESSION_THREAD_PREFIX};

use crate::config::Settings;
use crate::registry::{Context, Registry};
use std::sync::Arc;

/// Discord's platform, when Discord is configured. Registers `/lucid` in every
/// configured server and learns the bot's user id in the background.
pub fn register(
    registry: &mut Registry,
    settings: &Settings,
    context: &Context,
) -> anyhow::Result<()> {
    let Some(discord) = &settings.discord else {
        return Ok(());
    };
    let api = Arc::new(outbound::DiscordApi::new(discord)?);
    let platform = Arc::new(DiscordPlatform::new(
        discord.clone(),
        api,
        context.store.clone(),
    )?);
    let starting = platform.clone();
    crate::background::spawn(async move { starting.start_up().await });
    registry.add_platform(platform);
    Ok(())
}

/// What the bot may do, and nothing more, each permission with Discord's name for it:
/// see channels (to read a channel's place and the messages of a session's thread),
/// send messages, send messages in threads, create public threads (a session's thread
/// from its message), add reactions (👀 on a message taken), and read message history
/// (to reply to a message, react to one, and read a thread's messages). The slash
/// command needs no permission, only the `applications.commands` scope.
pub const PERMISSIONS: &[(serenity::all::Permissions, &str)] = {
    use serenity::all::Permissions as P;
    &[
        (P::VIEW_CHANNEL, "View Channels"),
        (P::SEND_MESSAGES, "Send Messages"),
        (P::SEND_MESSAGES_IN_THREADS, "Send Messages in Threads"),
        (P::CREATE_PUBLIC_THREADS, "Create Public Threads"),
        (P::ADD_REACTIONS, "Add Reactions"),
        (P::READ_MESSAGE_HISTORY, "Read Message History"),
    ]
};

/// The bitfield of [`PERMISSIONS`].
pub fn permissions() -> serenity::all::Permissions {
    PERMISSIONS
        .iter()
        .fold(serenity::all::Permissions::empty(), |all, (p, _)| all | *p)
}

/// Where Discord sends interactions.
pub const INTERACTIONS_PATH: &str = "/webhooks/discord/interactions";

/// The address that adds the bot to a server with [`permissions`].
pub fn invite_url(application_id: &str) -> String {
    format!(
        "https://discord.com/oauth2/authorize?client_id={application_id}&scope=bot%20applications.commands&permissions={}",
        permissions().bits()
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_invite_asks_for_exactly_lucids_permissions() {
        // 1 << 10 | 1 << 11 | 1 << 38 | 1 << 35 | 1 << 6 | 1 << 16, by Discord's table.
        assert_eq!(super::permissions().bits(), 309_237_713_984);
        assert_eq!(
            super::invite_url("42"),
            "https://discord.com/oauth2/authorize?client_id=42&scope=bot%20applications.commands&permissions=309237713984"
        );
    }
}
