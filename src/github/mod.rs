//! GitHub, as a platform lucid listens to and answers on, and as the forge sessions
//! publish their work to.
//!
//! `inbound` turns a webhook delivery (headers and body) into an intent: its signature
//! checked, its payload parsed, a mention of the bot found in a comment. `outbound`
//! is what lucid writes back: the progress comment, reactions, pull requests.
//! [`GithubPlatform`] and [`GithubForge`] are the two ports it implements.

mod forge;
pub mod inbound;
pub mod outbound;
mod platform;
pub mod repo_text;

pub use forge::GithubForge;
pub use platform::{GithubPlatform, comment_ref};

use crate::config::Settings;
use crate::registry::{Context, Registry};
use anyhow::Context as _;
use outbound::client::GithubClient;
use std::sync::Arc;

/// GitHub's platform and forge, when GitHub is configured.
pub fn register(
    registry: &mut Registry,
    settings: &Settings,
    context: &Context,
) -> anyhow::Result<()> {
    let Some(github) = &settings.github else {
        return Ok(());
    };
    let settings = Arc::new(github.clone());
    let client = Arc::new(GithubClient::new(&settings).context("cannot set up the GitHub client")?);
    registry.add_forge(Arc::new(GithubForge::new(
        client.clone(),
        settings.bot_login.clone(),
        context.workspaces.clone(),
    )));
    registry.add_platform(Arc::new(GithubPlatform { settings, client }));
    Ok(())
}
