//! GitHub as the forge: a session's repository checked out on its branch before the
//! agent starts, and afterwards its work committed, pushed and offered as a pull
//! request (one per session: a follow-up pushes to the same branch and updates it).

use super::client::{GithubClient, PullRequest, RepoClient};
use super::git::{CommitBy, HostRepo, branch_name, git_dir_for};
use crate::core::{RepoName, Session, ThreadRef};
use anyhow::{Context, bail};
use std::path::Path;
use std::sync::Arc;

pub struct GithubForge {
    pub client: Arc<GithubClient>,
    pub bot_login: String,
    /// Where the sandboxes' workspaces are; git dirs go beside them.
    pub workspaces: std::path::PathBuf,
}

/// A session's repository, checked out in its workspace.
pub struct Checkout {
    pub repo: RepoName,
    pub git: HostRepo,
    pub branch: String,
    pub base: String,
    api: RepoClient,
}

impl GithubForge {
    pub async fn check_out(&self, session: &Session, work_tree: &Path) -> anyhow::Result<Checkout> {
        let Some(repo) = session.trigger.repo.clone() else {
            bail!("no repository was named for this session");
        };
        let api = self
            .client
            .repo(&repo)
            .await
            .with_context(|| format!("cannot reach {repo}"))?;
        let info = api
            .info()
            .await
            .with_context(|| format!("cannot read {repo}"))?;
        let branch = match &session.branch {
            Some(branch) => branch.clone(),
            None => branch_name(&branch_tag(session), &issue_title(session)),
        };
        let git_dir = git_dir_for(&self.workspaces, &session.id.to_string());
        std::fs::create_dir_all(&git_dir).context("cannot make the git directory")?;
        let git = HostRepo::new(
            git_dir,
            work_tree.to_owned(),
            &info.clone_url,
            api.token().clone(),
        );
        git.check_out(&branch, &info.default_branch)
            .await
            .with_context(|| format!("cannot check out {repo}"))?;
        Ok(Checkout {
            repo,
            git,
            branch,
            base: info.default_branch,
            api,
        })
    }

    /// Commits and pushes the session's work and opens (or updates) its pull request.
    /// `None` when the agent changed nothing.
    pub async fn publish(
        &self,
        session: &Session,
        checkout: &Checkout,
        summary: &str,
        session_url: &str,
    ) -> anyhow::Result<Option<PullRequest>> {
        let message = commit_message(summary, github_asker(session));
        let by = CommitBy {
            name: &self.bot_login,
            email: &format!("{}@users.noreply.github.com", self.bot_login),
        };
        let committed = checkout.git.commit_all(&message, &by).await?;
        if !committed && session.pr_url.is_none() {
            return Ok(None);
        }
        if checkout.branch == checkout.base {
            bail!("refusing to push to the default branch {}", checkout.base);
        }
        checkout.git.push(&checkout.branch).await?;
        let body = pull_body(session, summary, session_url);
        let existing = checkout.api.open_pull(&checkout.branch).await?;
        let pull = match existing {
            Some(pull) => checkout.api.update_pull(pull.number, &body).await?,
            None => {
                let title = pull_title(session, summary);
                checkout
                    .api
                    .create_pull(&checkout.branch, &checkout.base, &title, &body)
                    .await
                    .context("cannot open the pull request")?
            }
        };
        Ok(Some(pull))
    }

    /// Removes the session's git directory (its work tree goes with the sandbox).
    pub fn clean_up(&self, session: &Session) {
        let _ = std::fs::remove_dir_all(git_dir_for(&self.workspaces, &session.id.to_string()));
    }
}

/// What names a session's branch: its issue's number, or (from another platform) the
/// last 8 characters of its id (the random part of a UUIDv7).
fn branch_tag(session: &Session) -> String {
    match &session.trigger.thread {
        ThreadRef::Github { issue, .. } => issue.to_string(),
        _ => {
            let id = session.id.to_string();
            id[id.len() - 8..].to_owned()
        }
    }
}

/// The issue's title, from the first line of the task lucid composed for it.
fn issue_title(session: &Session) -> String {
    let first = session.trigger.task.lines().next().unwrap_or_default();
    match first.split_once(": ") {
        Some((head, title)) if head.starts_with("GitHub issue #") => title.to_owned(),
        _ => first.to_owned(),
    }
}

fn first_line(text: &str, max: usize) -> String {
    let line = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("lucid's changes");
    let line = line.trim();
    if line.chars().count() <= max {
        line.to_owned()
    } else {
        let cut: String = line.chars().take(max - 1).collect();
        format!("{cut}…")
    }
}

/// Who asked, when they asked on GitHub (a Slack user id is no GitHub login: crediting
/// or mentioning it on GitHub would name a stranger).
fn github_asker(session: &Session) -> Option<&str> {
    matches!(session.trigger.thread, ThreadRef::Github { .. })
        .then_some(session.trigger.author.id.as_str())
}

fn commit_message(summary: &str, asker: Option<&str>) -> String {
    let subject = first_line(summary, 72);
    let rest = summary
        .trim()
        .strip_prefix(subject.as_str())
        .unwrap_or("")
        .trim();
    let mut message = subject;
    if !rest.is_empty() {
        message.push_str("\n\n");
        message.push_str(rest);
    }
    if let Some(asker) = asker {
        message.push_str(&format!(
            "\n\nCo-authored-by: {asker} <{asker}@users.noreply.github.com>"
        ));
    }
    message
}

fn pull_title(session: &Session, summary: &str) -> String {
    let title = issue_title(session);
    if title.trim().is_empty() {
        first_line(summary, 72)
    } else {
        first_line(&title, 72)
    }
}

fn pull_body(session: &Session, summary: &str, session_url: &str) -> String {
    let mut body = summary.trim().to_owned();
    if let ThreadRef::Github { issue, .. } = &session.trigger.thread {
        body.push_str(&format!("\n\nFixes #{issue}"));
    }
    let requester = match &session.trigger.thread {
        ThreadRef::Github { .. } => format!("@{}", session.trigger.author.id),
        other => format!(
            "{} in {}",
            session.trigger.author.display_name,
            platform_name(other)
        ),
    };
    body.push_str(&format!(
        "\n\n---\nRequested by {requester} · [lucid session]({session_url})"
    ));
    body
}

fn platform_name(thread: &ThreadRef) -> &'static str {
    match thread.platform() {
        crate::core::Platform::Github => "GitHub",
        crate::core::Platform::Slack => "Slack",
        crate::core::Platform::Discord => "Discord",
        crate::core::Platform::Notion => "Notion",
        crate::core::Platform::Web => "lucid",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_messages_say_what_changed_and_credit_the_asker() {
        let message = commit_message("Make add() add\n\nIt subtracted.", Some("ada"));
        assert_eq!(
            message,
            "Make add() add\n\nIt subtracted.\n\nCo-authored-by: ada <ada@users.noreply.github.com>"
        );
        // Someone who asked elsewhere has no GitHub login to credit.
        assert_eq!(commit_message("Make add() add", None), "Make add() add");
    }
}
