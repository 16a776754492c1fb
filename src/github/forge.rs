//! GitHub as the forge: who may ask for work (the collaborator-permission API), a
//! session's repository checked out on its branch before the agent starts, and
//! afterwards its work committed, pushed and offered as a pull request (one per
//! session: a follow-up pushes to the same branch and updates it).

use super::link::{GithubLink, Identity};
use super::outbound::client::{GithubClient, GithubError, PullRequest, RepoClient};
use super::outbound::markup::prose;
use crate::core::{RepoRef, Session, ThreadRef};
use crate::forge::git::{CommitBy, HostRepo, branch_name, git_dir_for};
use crate::forge::{ChangeRequest, Checkout, Forge, Report};
use crate::messages;
use anyhow::{Context, bail};
use async_trait::async_trait;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What a GitHub checkout keeps until it publishes.
struct Kept {
    repo: RepoRef,
    git: HostRepo,
}

/// How long an author's permission on a repository is taken as known.
const PERMISSION_TTL: Duration = Duration::from_secs(60);

pub struct GithubForge {
    /// Who lucid is on GitHub now: the client, and the login commits are made as.
    link: Arc<GithubLink>,
    /// Where the sandboxes' workspaces are; git dirs go beside them.
    workspaces: PathBuf,
    permissions: Mutex<HashMap<(RepoRef, String), (bool, Instant)>>,
}

impl GithubForge {
    /// The forge signed in with `client` as `bot_login`, for good.
    pub fn new(client: Arc<GithubClient>, bot_login: String, workspaces: PathBuf) -> Self {
        let link = GithubLink::connected(Identity {
            webhook_secrets: Vec::new(),
            bot_login,
            client,
        });
        Self::on(link, workspaces)
    }

    /// The forge as whoever `link` says lucid is on GitHub at each use.
    pub fn on(link: Arc<GithubLink>, workspaces: PathBuf) -> Self {
        Self {
            link,
            workspaces,
            permissions: Mutex::new(HashMap::new()),
        }
    }
}

#[async_trait]
impl Forge for GithubForge {
    fn name(&self) -> &'static str {
        "github"
    }

    fn find_repo(&self, text: &str) -> Option<RepoRef> {
        super::repo_text::find_repo(text)
    }

    /// Only with write, maintain or admin permission (asked of GitHub:
    /// `author_association` hides private membership), remembered for a minute.
    async fn may_ask(&self, repo: &RepoRef, login: &str) -> anyhow::Result<bool> {
        let key = (repo.clone(), login.to_owned());
        if let Some((allowed, at)) = self.permissions.lock().unwrap().get(&key)
            && at.elapsed() < PERMISSION_TTL
        {
            return Ok(*allowed);
        }
        let client = self.link.require()?.client.clone();
        let permission = client.repo(repo).await?.permission(login).await?;
        let allowed = matches!(permission.as_str(), "admin" | "maintain" | "write");
        self.permissions
            .lock()
            .unwrap()
            .insert(key, (allowed, Instant::now()));
        Ok(allowed)
    }

    /// Asked with the person's own token (`permissions.push` of the repository as
    /// they see it), and remembered for a minute like [`may_ask`](Self::may_ask)'s
    /// answers.
    async fn access_as(
        &self,
        repo: &RepoRef,
        login: &str,
        token: &secrecy::SecretString,
    ) -> anyhow::Result<crate::forge::linking::Access> {
        use crate::forge::linking::Access;
        // Kept apart from what lucid's own token says of the same login.
        let key = (repo.clone(), format!("linked:{login}"));
        if let Some((allowed, at)) = self.permissions.lock().unwrap().get(&key)
            && at.elapsed() < PERMISSION_TTL
        {
            return Ok(if *allowed {
                Access::Write
            } else {
                Access::NoWrite
            });
        }
        let api_url = self.link.require()?.client.api_url().to_owned();
        let http = super::linking::person_client();
        let access = super::linking::access(&http, &api_url, repo, token).await?;
        if access != Access::TokenRefused {
            let allowed = access == Access::Write;
            self.permissions
                .lock()
                .unwrap()
                .insert(key, (allowed, Instant::now()));
        }
        Ok(access)
    }

    async fn check_out(&self, session: &Session, work_tree: &Path) -> anyhow::Result<Checkout> {
        let Some(repo) = session.trigger.repo.clone() else {
            bail!("no repository was named for this session");
        };
        let api = self
            .link
            .require()?
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
            None => branch_name(&branch_tag(session), &title_of(session)),
        };
        let git_dir = git_dir_for(&self.workspaces, &session.id.to_string());
        // A run that died left its git dir: its index describes a work tree that went
        // with its sandbox, and checking out the same commit over it would write no
        // file (then commit every file's deletion).
        if git_dir.exists() {
            std::fs::remove_dir_all(&git_dir).context("cannot clear a dead run's git directory")?;
        }
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
            branch,
            base: info.default_branch,
            kept: Box::new(Kept { repo, git }),
        })
    }

    async fn publish(
        &self,
        session: &Session,
        checkout: &Checkout,
        report: &Report<'_>,
    ) -> anyhow::Result<Option<ChangeRequest>> {
        let mut message = commit_message(report.summary, github_asker(session));
        if let Some(linked) = report.requester.linked.filter(|u| u.forge == "github") {
            message.push_str(&linked_credit(linked));
        }
        let identity = self.link.require()?;
        let by = CommitBy {
            name: &identity.bot_login,
            email: &format!("{}@users.noreply.github.com", identity.bot_login),
        };
        let Kept { repo, git } = checkout.kept()?;
        let committed = git.commit_all(&message, &by).await?;
        // A run that took over one which died after its push, before its pull request,
        // has nothing new to commit but a branch ahead of the base: it opens the PR.
        let files = git.changed_files(&checkout.base).await?;
        if !committed && session.pr_url.is_none() && files.is_empty() {
            return Ok(None);
        }
        if checkout.branch == checkout.base {
            bail!("refusing to push to the default branch {}", checkout.base);
        }
        git.push(&checkout.branch).await?;
        let api = identity.client.repo(repo).await?;
        let body = pull_body(session, report, &files);
        let existing = api.open_pull(&checkout.branch).await?;
        let pull = match existing {
            Some(pull) => api.update_pull(pull.number, &body).await?,
            None => {
                let title = messages::change_request_title(report.summary, &title_of(session));
                let draft = report.unfinished.is_some();
                let ask = PullAsked {
                    branch: &checkout.branch,
                    base: &checkout.base,
                    title: &title,
                    body: &body,
                    draft,
                };
                open_pull_once(&api, &ask)
                    .await
                    .context("cannot open the pull request")?
            }
        };
        Ok(Some(ChangeRequest {
            url: pull.html_url,
            number: pull.number,
            thread: ThreadRef::Github {
                repo: repo.clone(),
                issue: pull.number,
            },
        }))
    }

    fn clean_up(&self, session: &Session) {
        let _ = std::fs::remove_dir_all(git_dir_for(&self.workspaces, &session.id.to_string()));
    }
}

/// A pull request to open.
struct PullAsked<'a> {
    branch: &'a str,
    base: &'a str,
    title: &'a str,
    body: &'a str,
    draft: bool,
}

/// How often opening a pull request is tried when GitHub's answer does not arrive.
const PULL_TRIES: u32 = 3;

/// Opens the pull request, once. An answer that never arrived whole (a connection
/// cut, a body that stalled) may hide a pull request GitHub did open, so before each
/// new try lucid looks for it instead of opening a second one.
async fn open_pull_once(api: &RepoClient, ask: &PullAsked<'_>) -> Result<PullRequest, GithubError> {
    let mut tried = 0;
    loop {
        tried += 1;
        match api
            .create_pull(ask.branch, ask.base, ask.title, ask.body, ask.draft)
            .await
        {
            Err(GithubError::Unreachable(why)) if tried < PULL_TRIES => {
                tracing::warn!(branch = ask.branch, %why, "GitHub's answer to opening the pull request did not arrive; looking for it");
                tokio::time::sleep(std::time::Duration::from_secs(u64::from(tried))).await;
                if let Some(pull) = api.open_pull(ask.branch).await? {
                    return Ok(pull);
                }
            }
            answered => return answered,
        }
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

/// The work's title: the one its platform gave (an issue's), else the task's first
/// line.
fn title_of(session: &Session) -> String {
    match &session.trigger.title {
        Some(title) if !title.trim().is_empty() => title.clone(),
        _ => session
            .trigger
            .task
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned(),
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

/// The trailer that credits someone who asked on another platform by the GitHub
/// account they linked: GitHub's noreply address with the account's number, which
/// stays theirs through a change of login.
fn linked_credit(user: &crate::core::ForgeUser) -> String {
    format!(
        "\n\nCo-authored-by: {login} <{id}+{login}@users.noreply.github.com>",
        login = user.login,
        id = user.id
    )
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

fn pull_body(session: &Session, report: &Report<'_>, files: &[messages::FileLines]) -> String {
    let fixes = match &session.trigger.thread {
        ThreadRef::Github { issue, .. } => Some(*issue),
        _ => None,
    };
    let asker = match github_asker(session) {
        Some(login) => format!("@{login}"),
        // A name from another platform is words: it mentions no one on GitHub.
        None => prose(report.requester.name),
    };
    // The agent's summary keeps its Markdown, but no mention, link, image or HTML.
    let summary = prose(report.summary);
    messages::change_request_body(&messages::ChangeRequestWords {
        summary: &summary,
        files,
        last_test: report.last_test.as_ref(),
        cost_micros: report.cost_micros,
        fixes,
        asker: &asker,
        asked_on: report.requester.platform_title,
        conversation_url: report.requester.conversation_url,
        session_url: report.session_url,
        unfinished: report.unfinished,
    })
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
        // Unless they linked their account.
        let linked = crate::core::ForgeUser {
            forge: "github".into(),
            login: "ada".into(),
            id: 1000,
        };
        assert_eq!(
            linked_credit(&linked),
            "\n\nCo-authored-by: ada <1000+ada@users.noreply.github.com>"
        );
    }
}
