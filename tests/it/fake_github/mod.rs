//! A fake GitHub on loopback for end-to-end tests: the REST v3 endpoints lucid calls
//! (in GitHub's JSON shapes) and real git smart HTTP, served by `git http-backend` over
//! bare repositories in a temp dir. One origin is both the API root (paths start at
//! `/repos/...`, like `https://api.github.com`) and the git host
//! (`{origin}/{owner}/{repo}.git`).
//!
//! Every request is recorded (method, path, which credential, status, bodies) and
//! wakes `wait_until`, so a test waits for what lucid did rather than sleeping. Routes
//! the fake does not serve answer 404 and are recorded as `unrouted`, so a test can
//! assert lucid called nothing unexpected.

mod device;
mod git;
mod json;
mod manifests;
mod records;
mod rest;
mod server;

// One file for every fake platform, the same switch in each (a benchmark takes one
// fake alone, so each loads its own copy).
#[allow(clippy::duplicate_mod)]
#[path = "../fake_outage.rs"]
mod outage;
pub use device::FakeDeviceCode;
pub use manifests::ManifestApp;
pub use outage::{Down, Outage};
pub use records::{
    Auth, CommentKind, FakeComment, FakePull, FakeReaction, FakeRequest, MintedToken,
};

use serde_json::Value;
use server::{Answer, App, CommentRec, Credential, Failure, Inner, PullRec, Repo, Shared};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;

use crate::harness::DEADLINE;
use outage::{Gated, gate};

pub struct FakeGithub {
    /// `http://127.0.0.1:PORT`: the API root and the git host.
    pub origin: String,
    /// Takes the API and git host down when a test says (`fake_outage`).
    pub outage: Outage,
    state: Arc<Shared>,
}

impl FakeGithub {
    /// Starts the fake; comments and pull requests it creates are authored by `bot_login`
    /// (in App mode something like `lucid-app[bot]`).
    pub async fn start(bot_login: &str) -> FakeGithub {
        let dir = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Shared {
            origin: origin.clone(),
            bot_login: bot_login.to_owned(),
            root: dir.path().to_owned(),
            _dir: dir,
            inner: Mutex::new(Inner {
                next_id: 9000,
                ..Inner::default()
            }),
            recorded: Notify::new(),
        });
        let outage = Outage::default();
        let app = axum::Router::new()
            .fallback(server::handle)
            .with_state(state.clone())
            .layer(axum::middleware::from_fn_with_state(outage.clone(), gate));
        let listener = Gated::new(listener, outage.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeGithub {
            origin,
            outage,
            state,
        }
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.state.inner()
    }

    /// A token (a PAT, say) the fake accepts for REST and git from now on.
    pub fn accept_token(&self, token: &str) {
        let mut inner = self.inner();
        inner.revoked.remove(token);
        inner.tokens.insert(token.to_owned());
    }

    /// Stops accepting a token: a PAT or a minted installation token.
    pub fn revoke_token(&self, token: &str) {
        let mut inner = self.inner();
        inner.tokens.remove(token);
        inner.revoked.insert(token.to_owned());
    }

    /// GitHub App mode: the app `app_id` is installed (as `installation_id`) on every
    /// repository of the fake; JWTs with `iss` = `app_id` may mint installation tokens.
    pub fn enable_app(&self, app_id: u64, installation_id: u64) {
        self.inner().app = Some(App {
            app_id,
            installation_id,
        });
    }

    /// A bare repository `owner/name` with one commit on `main` holding `files`
    /// (path, content), made with a fixed author, committer and date.
    pub fn add_repo(&self, full_name: &str, files: &[(&str, &str)]) {
        let (owner, name) = full_name
            .split_once('/')
            .unwrap_or_else(|| panic!("{full_name} is not owner/name"));
        git::create_bare_repo(&self.state.root, owner, name, files);
        let mut inner = self.inner();
        let id = inner.next_id();
        inner.repos.insert(
            full_name.to_lowercase(),
            Repo {
                id,
                owner: owner.to_owned(),
                name: name.to_owned(),
                private: false,
                permissions: HashMap::new(),
                last_number: 0,
            },
        );
    }

    /// Marks a repository private (public by default). Git and REST need a token either
    /// way; it changes `private`/`visibility` and the default permission (`none`).
    pub fn set_private(&self, full_name: &str, private: bool) {
        self.with_repo(full_name, |repo| repo.private = private);
    }

    /// `login`'s role on the repository: admin, maintain, write, triage, read or none.
    /// Logins never set get `read` on a public repository, `none` on a private one.
    pub fn set_permission(&self, full_name: &str, login: &str, permission: &str) {
        assert!(
            ["admin", "maintain", "write", "triage", "read", "none"].contains(&permission),
            "unknown permission {permission}"
        );
        self.with_repo(full_name, |repo| {
            repo.permissions
                .insert(login.to_lowercase(), permission.to_owned());
        });
    }

    /// A comment someone (not the bot) wrote on an issue, e.g. the mention that
    /// triggers lucid. Returns its id.
    pub fn add_comment(&self, full_name: &str, issue: u64, login: &str, body: &str) -> u64 {
        self.seed_comment(full_name, issue, CommentKind::Issue, login, body)
    }

    /// A review comment someone wrote on a line of pull request `pull`. Returns its id.
    pub fn add_review_comment(&self, full_name: &str, pull: u64, login: &str, body: &str) -> u64 {
        self.seed_comment(full_name, pull, CommentKind::Review, login, body)
    }

    fn seed_comment(
        &self,
        full_name: &str,
        issue: u64,
        kind: CommentKind,
        login: &str,
        body: &str,
    ) -> u64 {
        let repo = self.with_repo(full_name, |repo| {
            repo.last_number = repo.last_number.max(issue);
            repo.full_name()
        });
        let mut inner = self.inner();
        let id = inner.next_id();
        let now = json::now();
        inner.comments.push(CommentRec {
            id,
            repo,
            issue,
            kind,
            author: login.to_owned(),
            history: vec![body.to_owned()],
            via_app: false,
            created_at: now.clone(),
            updated_at: now,
        });
        id
    }

    /// The issue comments on `issue` (bot's and seeded), oldest first.
    pub fn comments(&self, full_name: &str, issue: u64) -> Vec<FakeComment> {
        self.inner()
            .comments
            .iter()
            .filter(|c| {
                c.kind == CommentKind::Issue
                    && c.issue == issue
                    && c.repo.eq_ignore_ascii_case(full_name)
            })
            .map(CommentRec::public)
            .collect()
    }

    /// Every reaction created, in order.
    pub fn reactions(&self) -> Vec<FakeReaction> {
        self.inner().reactions.clone()
    }

    /// The repository's pull requests by number, with each head's current tip.
    pub fn pulls(&self, full_name: &str) -> Vec<FakePull> {
        let pulls: Vec<PullRec> = self
            .inner()
            .pulls
            .iter()
            .filter(|p| p.repo.eq_ignore_ascii_case(full_name))
            .cloned()
            .collect();
        pulls
            .into_iter()
            .map(|p| {
                let sha = self.branch(full_name, &p.head);
                p.public(sha)
            })
            .collect()
    }

    /// The sha `branch` points at, if it exists.
    pub fn branch(&self, full_name: &str, branch: &str) -> Option<String> {
        git::resolve_sync(&self.repo_dir(full_name), &format!("refs/heads/{branch}"))
    }

    /// Runs git in the bare repository (`log`, `show`, `ls-tree`...) and returns its
    /// stdout; panics if git fails.
    pub fn git(&self, full_name: &str, args: &[&str]) -> String {
        git::run_sync(&self.repo_dir(full_name), args)
    }

    /// The bare repository's directory.
    pub fn repo_dir(&self, full_name: &str) -> PathBuf {
        let key = full_name.to_lowercase();
        let inner = self.inner();
        let repo = inner
            .repos
            .get(&key)
            .unwrap_or_else(|| panic!("the fake has no repository {full_name}"));
        git::repo_path(&self.state.root, &repo.owner, &repo.name)
    }

    /// Every request so far, in the order they were answered.
    pub fn requests(&self) -> Vec<FakeRequest> {
        self.inner().requests.clone()
    }

    /// Requests to routes the fake does not serve.
    pub fn unrouted(&self) -> Vec<FakeRequest> {
        self.inner()
            .requests
            .iter()
            .filter(|r| r.unrouted)
            .cloned()
            .collect()
    }

    pub fn tokens_minted(&self) -> Vec<MintedToken> {
        self.inner().minted.clone()
    }

    /// The next request whose method is `method` and path starts with `path_prefix`
    /// gets `status` and `body` instead of its answer (before any auth check). Queued
    /// failures are used in order, each once.
    pub fn fail_next(&self, method: &str, path_prefix: &str, status: u16, body: Value) {
        self.inner().failures.push_back(Failure {
            method: method.to_uppercase(),
            path_prefix: path_prefix.to_owned(),
            status,
            body,
        });
    }

    /// The next request whose method is `method` and path starts with `path_prefix`
    /// is never answered (as if GitHub hung on it); later ones are answered.
    pub fn hold_next(&self, method: &str, path_prefix: &str) {
        self.inner()
            .holds
            .push_back((method.to_uppercase(), path_prefix.to_owned(), false));
    }

    /// The next request whose method is `method` and path starts with `path_prefix`
    /// is carried out, but its answer stops after the head and the first byte of its
    /// body (a GitHub that stalls mid-answer); later ones are answered.
    pub fn stall_next(&self, method: &str, path_prefix: &str) {
        self.inner()
            .holds
            .push_back((method.to_uppercase(), path_prefix.to_owned(), true));
    }

    /// `METHOD path` of each request held unanswered so far.
    pub fn held(&self) -> Vec<String> {
        self.inner().held.clone()
    }

    /// Turns GitHub's device flow on for the app `client_id`: codes poll no faster
    /// than every `interval` seconds and live `expires_in` seconds.
    pub fn enable_device_flow(&self, client_id: &str, interval: u64, expires_in: u64) {
        self.inner().device.enable(client_id, interval, expires_in);
    }

    /// The device codes issued so far, oldest first.
    pub fn device_codes(&self) -> Vec<FakeDeviceCode> {
        self.inner().device.codes()
    }

    /// `login` enters `user_code` on the site and approves: the next poll gets a
    /// token that acts as them.
    pub fn approve_device(&self, user_code: &str, login: &str) {
        self.inner().device.decide(user_code, Some(login));
        self.state.recorded.notify_waiters();
    }

    /// The person declines `user_code` on the site.
    pub fn deny_device(&self, user_code: &str) {
        self.inner().device.decide(user_code, None);
        self.state.recorded.notify_waiters();
    }

    /// Every token the device flow handed out.
    pub fn person_tokens(&self) -> Vec<String> {
        self.inner().device.person_tokens.keys().cloned().collect()
    }

    /// Waits until a comment on `full_name`#`issue` says `text` (lucid edits its status
    /// after the log records a change, so a thread can lag the API by a moment).
    pub async fn until_comment_saying(
        &self,
        full_name: &str,
        issue: u64,
        text: &str,
    ) -> FakeComment {
        let what = format!("a comment on {full_name}#{issue} saying {text:?}");
        self.wait_until(&what, |g| {
            g.comments(full_name, issue)
                .into_iter()
                .find(|c| c.body.contains(text))
        })
        .await
    }

    /// Waits until `f` returns Some, re-checking after every request the fake answers;
    /// panics after the harness deadline naming `what`.
    pub async fn wait_until<T>(&self, what: &str, f: impl Fn(&FakeGithub) -> Option<T>) -> T {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let notified = self.state.recorded.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(value) = f(self) {
                return value;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                if let Some(value) = f(self) {
                    return value;
                }
                panic!(
                    "timed out after {DEADLINE:?} waiting for {what}; the fake GitHub saw:\n{}",
                    self.requests()
                        .iter()
                        .map(|r| format!("  {} {} -> {}", r.method, r.path, r.status))
                        .collect::<Vec<_>>()
                        .join("\n")
                );
            }
        }
    }

    fn with_repo<T>(&self, full_name: &str, f: impl FnOnce(&mut Repo) -> T) -> T {
        let mut inner = self.inner();
        let repo = inner
            .repos
            .get_mut(&full_name.to_lowercase())
            .unwrap_or_else(|| panic!("the fake has no repository {full_name}"));
        f(repo)
    }
}
