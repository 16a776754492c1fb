//! The forge port: where repositories live and change requests are opened (GitHub,
//! then GitLab). A forge says who may ask for work on a repository, checks a session's
//! repository out on the host into its workspace, publishes the work (branch, commit,
//! change request) and cleans up. Git on the host ([`git`]) is shared by forges.

pub mod checkpoint;
pub mod git;
pub mod linking;
pub mod local;

use crate::core::{RepoRef, Session, ThreadRef};
use async_trait::async_trait;
use std::path::Path;

/// A session's repository, checked out on the host into its workspace.
pub struct Checkout {
    /// The session's branch, checked out.
    pub branch: String,
    /// The branch a change request goes to.
    pub base: String,
    /// What the forge itself keeps of the checkout until it publishes (its own type).
    pub kept: Box<dyn std::any::Any + Send + Sync>,
}

impl Checkout {
    /// The forge's own part, when it is of type `T`.
    pub fn kept<T: 'static>(&self) -> anyhow::Result<&T> {
        self.kept
            .downcast_ref()
            .ok_or_else(|| anyhow::anyhow!("a checkout made by another forge"))
    }
}

/// A change request a session opened or updated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeRequest {
    pub url: String,
    pub number: u64,
    /// Its own conversation: what people say there goes to the session too.
    pub thread: ThreadRef,
}

/// Who asked for the work, for the change request's description.
pub struct Requester<'a> {
    /// Their linked account on this forge, when they linked one: the commits credit
    /// it.
    pub linked: Option<&'a crate::core::ForgeUser>,
    /// Their name as the platform they asked on shows it, and that platform's name
    /// (a forge credits its own users by their login, which it finds in the trigger).
    pub name: &'a str,
    pub platform_title: &'a str,
    /// The conversation they asked in, on that platform, when it has an address.
    pub conversation_url: Option<&'a str>,
}

/// What a change request says of the work besides its diff.
pub struct Report<'a> {
    /// The agent's summary: its first line is the title.
    pub summary: &'a str,
    pub requester: &'a Requester<'a>,
    pub session_url: &'a str,
    pub last_test: Option<crate::messages::TestRun>,
    pub cost_micros: u64,
    /// Why the work is unfinished (a budget ran out): the request is then a draft
    /// that says so.
    pub unfinished: Option<&'a str>,
}

#[async_trait]
pub trait Forge: Send + Sync + 'static {
    /// The forge's short name (`github`).
    fn name(&self) -> &'static str;

    /// The repository of this forge that `text` (a person's words) names, if any.
    fn find_repo(&self, text: &str) -> Option<RepoRef>;

    /// May `login` (an identity on this forge) ask for work on `repo`?
    async fn may_ask(&self, repo: &RepoRef, login: &str) -> anyhow::Result<bool>;

    /// What the person holding `token` (their own, from a linked account) may do on
    /// `repo`, asked of the forge with that token. `login` is theirs, to remember the
    /// answer by. A forge that links no accounts cannot say.
    async fn access_as(
        &self,
        repo: &RepoRef,
        login: &str,
        token: &secrecy::SecretString,
    ) -> anyhow::Result<linking::Access> {
        let _ = (repo, login, token);
        anyhow::bail!("{} does not check linked accounts", self.name())
    }

    /// Checks the session's repository out into `work_tree`, on the session's branch
    /// (made from the default branch the first time).
    async fn check_out(&self, session: &Session, work_tree: &Path) -> anyhow::Result<Checkout>;

    /// Commits and pushes the work and opens (or updates) its change request. None
    /// when nothing changed and none was opened before.
    async fn publish(
        &self,
        session: &Session,
        checkout: &Checkout,
        report: &Report<'_>,
    ) -> anyhow::Result<Option<ChangeRequest>>;

    /// Removes what checking out left on the host. Called before the sandbox (and
    /// with it the work tree) is destroyed.
    fn clean_up(&self, session: &Session);
}

/// The forge of a session that names no repository: its run fails, saying why.
pub struct NoRepository;

#[async_trait]
impl Forge for NoRepository {
    fn name(&self) -> &'static str {
        "none"
    }

    fn find_repo(&self, _text: &str) -> Option<RepoRef> {
        None
    }

    async fn may_ask(&self, _repo: &RepoRef, _login: &str) -> anyhow::Result<bool> {
        Ok(false)
    }

    async fn check_out(&self, _session: &Session, _work_tree: &Path) -> anyhow::Result<Checkout> {
        anyhow::bail!("no repository was named for this session")
    }

    async fn publish(
        &self,
        _session: &Session,
        _checkout: &Checkout,
        _report: &Report<'_>,
    ) -> anyhow::Result<Option<ChangeRequest>> {
        Ok(None)
    }

    fn clean_up(&self, _session: &Session) {}
}
