//! Slack, as a platform lucid listens to and answers on.
//!
//! `inbound` turns a request from Slack (the Events API, an interactive component such
//! as a button, a slash command) into an intent: its signature and age checked, its
//! body parsed, the task in a message's text cleaned up, then handed to the intake by
//! its routes. `outbound` is everything lucid says in Slack. [`SlackPlatform`] is the
//! port it implements.

pub mod inbound;
pub mod manifest;
pub mod outbound;
mod platform;

pub use platform::{SlackPlatform, place};

use crate::config::Settings;
use crate::registry::{Context, Registry};
use outbound::SlackApi;
use std::sync::{Arc, OnceLock};

/// Slack's platform, when Slack is configured. Learns the bot's user id from
/// `auth.test` in the background.
pub fn register(
    registry: &mut Registry,
    settings: &Settings,
    _context: &Context,
) -> anyhow::Result<()> {
    let Some(slack) = &settings.slack else {
        return Ok(());
    };
    let api = Arc::new(SlackApi::new(
        &slack.api_url,
        &slack.bot_token,
        outbound::client::CHANNEL_INTERVAL,
    ));
    let platform = Arc::new(SlackPlatform {
        settings: Arc::new(slack.clone()),
        api,
        bot_user_id: OnceLock::new(),
        names: Default::default(),
    });
    let learning = platform.clone();
    crate::background::spawn(async move {
        match learning.api.identity().await {
            Ok(me) => {
                if !learning.settings.teams.contains(&me.team) {
                    tracing::warn!(team = %me.team, "the Slack bot token belongs to a workspace not in LUCID_SLACK_TEAMS");
                }
                let _ = learning.bot_user_id.set(me.user_id);
            }
            Err(e) => tracing::warn!(error = %e, "could not ask Slack who lucid is (auth.test)"),
        }
    });
    registry.add_platform(platform);
    Ok(())
}
