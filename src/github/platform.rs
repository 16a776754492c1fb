//! GitHub as a chat platform: issues and pull requests are its threads, a 👀 on the
//! comment acknowledges a request, and one progress comment, edited in place, is the
//! status message (GitHub limits content writes, so moments live in it, not in
//! replies).

use super::link::GithubLink;
use super::outbound::client::CommentKind;
use super::outbound::markup::GithubMarkup;
use super::outbound::progress::{ProgressView, render};
use crate::chat::{ChatPlatform, Intake, Pacing, Rendered, StatusView};
use crate::core::{Origin, Platform, RepoRef, ThreadRef, Timestamp};
use crate::messages::Markup;
use anyhow::{Context, bail};
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

/// How often the comment is edited when only its elapsed time changed (GitHub limits
/// content writes to a few hundred an hour).
const CLOCK_REFRESH: Duration = Duration::from_secs(60);

pub struct GithubPlatform {
    /// Who lucid is on GitHub now (its secrets, login and client).
    pub link: Arc<GithubLink>,
    /// Labelling an issue with this starts a session on it.
    pub trigger_label: String,
    pub edit_interval: Duration,
}

impl GithubPlatform {
    pub fn new(link: Arc<GithubLink>, trigger_label: &str, edit_interval: Duration) -> Self {
        Self {
            link,
            trigger_label: trigger_label.to_owned(),
            edit_interval,
        }
    }

    /// The client of the current identity, or why there is none.
    fn client(&self) -> anyhow::Result<Arc<super::outbound::client::GithubClient>> {
        Ok(self.link.require()?.client.clone())
    }
}

/// The comment a request was made in, as an [`Origin`]'s message: `issue:ID` or
/// `review:ID`.
pub fn comment_ref(id: u64, kind: CommentKind) -> String {
    match kind {
        CommentKind::Issue => format!("issue:{id}"),
        CommentKind::Review => format!("review:{id}"),
    }
}

fn parse_comment_ref(message: &str) -> Option<(u64, CommentKind)> {
    let (kind, id) = message.split_once(':')?;
    let kind = match kind {
        "issue" => CommentKind::Issue,
        "review" => CommentKind::Review,
        _ => return None,
    };
    Some((id.parse().ok()?, kind))
}

/// The repository and issue of a GitHub thread.
fn place(thread: &ThreadRef) -> anyhow::Result<(&RepoRef, u64)> {
    match thread {
        ThreadRef::Github { repo, issue } => Ok((repo, *issue)),
        other => bail!("not a GitHub thread: {}", other.platform()),
    }
}

#[async_trait]
impl ChatPlatform for GithubPlatform {
    fn platform(&self) -> Platform {
        Platform::GITHUB
    }

    fn title(&self) -> &'static str {
        "GitHub"
    }

    fn conversation_url(&self, thread: &ThreadRef) -> Option<String> {
        match thread {
            ThreadRef::Github { repo, issue } => {
                Some(format!("https://github.com/{}/issues/{issue}", repo.path()))
            }
            _ => None,
        }
    }

    fn routes(self: Arc<Self>, intake: Intake) -> axum::Router {
        super::inbound::routes(self, intake)
    }

    fn markup(&self) -> &dyn Markup {
        &GithubMarkup
    }

    fn pacing(&self) -> Pacing {
        Pacing {
            edit_interval: self.edit_interval,
            clock_refresh: CLOCK_REFRESH,
            status_first: false,
            replies: None,
            reply_interval: std::time::Duration::ZERO,
        }
    }

    async fn acknowledge(&self, origin: &Origin) -> anyhow::Result<()> {
        let (repo, _) = place(&origin.thread)?;
        let Some((comment, kind)) = origin.message.as_deref().and_then(parse_comment_ref) else {
            return Ok(());
        };
        self.client()?
            .repo(repo)
            .await?
            .react(comment, kind, "eyes")
            .await
            .with_context(|| format!("cannot react to a comment in {repo}"))
    }

    async fn say(&self, thread: &ThreadRef, rendered: &str) -> anyhow::Result<()> {
        let (repo, issue) = place(thread)?;
        self.client()?
            .repo(repo)
            .await?
            .comment(issue, rendered)
            .await?;
        Ok(())
    }

    fn render_status(&self, view: &StatusView) -> Rendered {
        Rendered::text(render(&ProgressView {
            session: view.session,
            events: view.events,
            now: view.now,
            session_url: view.session_url,
        }))
    }

    async fn post_status(&self, thread: &ThreadRef, rendered: &Rendered) -> anyhow::Result<String> {
        let (repo, issue) = place(thread)?;
        let id = self
            .client()?
            .repo(repo)
            .await?
            .comment(issue, rendered.as_str())
            .await?;
        Ok(id.to_string())
    }

    async fn update_status(
        &self,
        thread: &ThreadRef,
        id: &str,
        rendered: &Rendered,
    ) -> anyhow::Result<()> {
        let (repo, _) = place(thread)?;
        let id: u64 = id.parse().context("a progress comment's id is a number")?;
        self.client()?
            .repo(repo)
            .await?
            .edit_comment(id, rendered.as_str())
            .await?;
        Ok(())
    }

    async fn earlier_words(&self, thread: &ThreadRef, before: Timestamp) -> Vec<(String, String)> {
        match self.earlier_comments(thread, before).await {
            Ok(words) => words,
            Err(e) => {
                // The task stands without them.
                tracing::warn!(error = %format!("{e:#}"), "could not read an issue's earlier comments");
                Vec::new()
            }
        }
    }
}

/// How many pages of 100 comments are read for a task's context.
const EARLIER_COMMENT_PAGES: u32 = 3;

impl GithubPlatform {
    /// The issue's comments before `before` by people, none that asks lucid.
    async fn earlier_comments(
        &self,
        thread: &ThreadRef,
        before: Timestamp,
    ) -> anyhow::Result<Vec<(String, String)>> {
        let (repo, issue) = place(thread)?;
        let comments = self
            .client()?
            .repo(repo)
            .await?
            .issue_comments(issue, EARLIER_COMMENT_PAGES)
            .await?;
        let bot = &self.link.require()?.bot_login;
        Ok(comments
            .into_iter()
            .filter(|c| Timestamp::parse_rfc3339(&c.created_at).is_some_and(|at| at < before))
            .filter_map(|c| {
                let user = c.user?;
                let body = c.body?;
                let lucids = user.kind == "Bot"
                    || user.login.eq_ignore_ascii_case(bot)
                    || user.login.eq_ignore_ascii_case(&format!("{bot}[bot]"));
                let asks_lucid = super::inbound::mention(&body, bot).is_some();
                (!lucids && !asks_lucid && !body.trim().is_empty()).then_some((user.login, body))
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_comment_reference_round_trips() {
        assert!(matches!(
            parse_comment_ref(&comment_ref(42, CommentKind::Review)),
            Some((42, CommentKind::Review))
        ));
        assert!(matches!(
            parse_comment_ref(&comment_ref(7, CommentKind::Issue)),
            Some((7, CommentKind::Issue))
        ));
        assert!(parse_comment_ref("pr:1").is_none());
    }
}
