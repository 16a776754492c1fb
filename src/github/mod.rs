//! GitHub, as a platform lucid listens to and answers on, and as the forge sessions
//! publish their work to.
//!
//! `inbound` turns a webhook delivery (headers and body) into an intent: its signature
//! checked, its payload parsed, a mention of the bot found in a comment. `outbound`
//! is what lucid writes back: the progress comment, reactions, pull requests.
//! [`GithubPlatform`] and [`GithubForge`] are the two ports it implements; both follow
//! the [`GithubLink`], which the App setup (`app_setup`, `app_manifest`) may connect
//! while lucid runs.

pub mod app_manifest;
mod app_setup;
mod forge;
pub mod inbound;
mod link;
pub mod linking;
pub mod outbound;
mod platform;
pub mod repo_text;

pub use app_setup::{
    APP_CREDENTIAL, AppSetup, GithubStart, MadeApp, ManifestForm, SetupError, StoredApp,
    connected_by_settings,
};
pub use forge::GithubForge;
pub use link::{GithubLink, Identity};
pub use platform::{GithubPlatform, comment_ref};

use crate::config::Settings;
use crate::registry::{Context, Registry};
use std::sync::Arc;

/// GitHub's platform and forge, when GitHub is connected or can be set up from
/// lucid's pages: both follow the link, so an App the setup connects is theirs at once.
pub fn register(
    registry: &mut Registry,
    settings: &Settings,
    context: &Context,
) -> anyhow::Result<()> {
    let link = match (&context.github, &settings.github) {
        (Some(link), _) => link.clone(),
        (None, Some(github)) => GithubLink::from_settings(github)
            .map_err(|e| anyhow::anyhow!("cannot set up the GitHub client: {e}"))?,
        (None, None) => return Ok(()),
    };
    let site = &settings.github_site;
    registry.add_forge(Arc::new(GithubForge::on(
        link.clone(),
        context.workspaces.clone(),
    )));
    registry.add_platform(Arc::new(GithubPlatform::new(
        link,
        &site.trigger_label,
        site.edit_interval,
    )));
    Ok(())
}
