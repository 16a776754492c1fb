//! A repository by its path or URL, cloned on the host, for `lucid run`: nothing to
//! ask, nothing to publish; what changed is kept for the terminal.

use super::{ChangeRequest, Checkout, Forge, Report};
use crate::core::{RepoRef, Session};
use anyhow::{Context, bail};
use async_trait::async_trait;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tokio::process::Command;

pub struct LocalForge {
    /// What to clone: a path on the host or a URL git understands.
    source: String,
    /// The work tree, once checked out.
    work_tree: Mutex<Option<PathBuf>>,
    /// `git diff --stat` of the work, taken when the session cleans up.
    changes: Mutex<String>,
}

impl LocalForge {
    pub fn new(source: &str) -> Self {
        Self {
            source: source.to_owned(),
            work_tree: Mutex::new(None),
            changes: Mutex::new(String::new()),
        }
    }

    /// What the session changed, as `git diff --stat` says it.
    pub fn changes(&self) -> String {
        self.changes.lock().unwrap().clone()
    }
}

#[async_trait]
impl Forge for LocalForge {
    fn name(&self) -> &'static str {
        "local"
    }

    fn find_repo(&self, _text: &str) -> Option<RepoRef> {
        None
    }

    async fn may_ask(&self, _repo: &RepoRef, _login: &str) -> anyhow::Result<bool> {
        Ok(true)
    }

    /// Clones on the host, so no credential ever enters the sandbox.
    async fn check_out(&self, _session: &Session, work_tree: &Path) -> anyhow::Result<Checkout> {
        let status = Command::new("git")
            .args(["clone", "--quiet", "--", &self.source, "."])
            .current_dir(work_tree)
            .status()
            .await
            .context("cannot run git on the host")?;
        if !status.success() {
            bail!("git could not clone {}", self.source);
        }
        *self.work_tree.lock().unwrap() = Some(work_tree.to_owned());
        let head = git(work_tree, &["branch", "--show-current"]);
        Ok(Checkout {
            base: head.clone(),
            branch: head,
            kept: Box::new(()),
        })
    }

    async fn publish(
        &self,
        _session: &Session,
        _checkout: &Checkout,
        _report: &Report<'_>,
    ) -> anyhow::Result<Option<ChangeRequest>> {
        Ok(None)
    }

    /// Called while the work tree is still there: keeps what changed.
    fn clean_up(&self, _session: &Session) {
        if let Some(work_tree) = self.work_tree.lock().unwrap().take() {
            *self.changes.lock().unwrap() = git(&work_tree, &["diff", "--stat"]);
        }
    }
}

/// A git command's output in `dir`, trimmed; empty if it failed.
fn git(dir: &Path, args: &[&str]) -> String {
    std::process::Command::new("git")
        .args(["-c", "safe.directory=*"])
        .args(args)
        .current_dir(dir)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim_end().to_owned())
        .unwrap_or_default()
}
