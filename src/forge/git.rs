//! git on the host, for a session's repository: fetch, branch, commit, push.
//!
//! The token never touches disk or a command line: it reaches git as an HTTP header
//! through `GIT_CONFIG_*` environment variables of each git process. The git
//! directory lives outside the sandbox's workspace (only the work tree is mounted),
//! so nothing the agent writes can change how the host's git behaves (hooks,
//! `core.fsmonitor`, a rewritten remote); hooks are switched off besides.

use base64::Engine;
use secrecy::{ExposeSecret, SecretString};
use std::path::{Path, PathBuf};
use std::process::Stdio;

#[derive(Debug, thiserror::Error)]
#[error("git {action} failed: {detail}")]
pub struct GitError {
    action: String,
    detail: String,
}

/// A repository checked out for one session: its git dir on the host, its work tree
/// (the sandbox's workspace), and how to reach the remote.
pub struct HostRepo {
    pub git_dir: PathBuf,
    pub work_tree: PathBuf,
    pub remote_url: String,
    token: SecretString,
}

/// Who a commit is by and for.
pub struct CommitBy<'a> {
    pub name: &'a str,
    pub email: &'a str,
}

impl HostRepo {
    pub fn new(
        git_dir: PathBuf,
        work_tree: PathBuf,
        remote_url: &str,
        token: SecretString,
    ) -> Self {
        Self {
            git_dir,
            work_tree,
            remote_url: remote_url.to_owned(),
            token,
        }
    }

    /// Fetches `branch` if the remote has it, else `base`, and checks it out as
    /// `branch` in the work tree.
    pub async fn check_out(&self, branch: &str, base: &str) -> Result<(), GitError> {
        self.git("init", &["init", "-q", "--initial-branch", branch])
            .await?;
        let start = if self.remote_has(branch).await? {
            branch
        } else {
            base
        };
        let refspec = format!("+refs/heads/{start}:refs/remotes/origin/{start}");
        self.git(
            "fetch",
            &["fetch", "-q", "--no-tags", &self.remote_url, &refspec],
        )
        .await?;
        let from = format!("refs/remotes/origin/{start}");
        self.git("checkout", &["checkout", "-q", "-B", branch, &from])
            .await?;
        self.give_history(branch).await
    }

    /// A git repository of the work tree's own (`<work tree>/.git`) with the branch's
    /// history, so the agent can diff, log and blame in the sandbox. It has no remote
    /// and no credential; the host never reads it (its git dir is elsewhere, and git
    /// never walks into a path named `.git`).
    async fn give_history(&self, branch: &str) -> Result<(), GitError> {
        let own = self.work_tree.join(".git");
        let host = self.git_dir.display().to_string();
        let refspec = format!("+refs/heads/{branch}:refs/heads/{branch}");
        let steps: [(&str, Vec<&str>); 3] = [
            ("init", vec!["init", "-q", "--initial-branch", branch]),
            (
                "fetch",
                vec![
                    "fetch",
                    "-q",
                    "--no-tags",
                    "--update-head-ok",
                    &host,
                    &refspec,
                ],
            ),
            ("reset", vec!["reset", "-q"]),
        ];
        for (action, args) in steps {
            let output = run(host_git(&own, &self.work_tree).args(&args), action).await?;
            if !output.status.success() {
                return Err(GitError {
                    action: format!("{action} (the work tree's own repository)"),
                    detail: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
                });
            }
        }
        Ok(())
    }

    async fn remote_has(&self, branch: &str) -> Result<bool, GitError> {
        let refname = format!("refs/heads/{branch}");
        let out = self
            .git(
                "ls-remote",
                &["ls-remote", "--heads", &self.remote_url, &refname],
            )
            .await?;
        Ok(!out.trim().is_empty())
    }

    /// Commits everything changed in the work tree; false when nothing changed.
    pub async fn commit_all(&self, message: &str, by: &CommitBy<'_>) -> Result<bool, GitError> {
        self.git("add", &["add", "-A"]).await?;
        let status = self.git("status", &["status", "--porcelain"]).await?;
        if status.trim().is_empty() {
            return Ok(false);
        }
        let author = format!("{} <{}>", by.name, by.email);
        self.git(
            "commit",
            &[
                "-c",
                &format!("user.name={}", by.name),
                "-c",
                &format!("user.email={}", by.email),
                "commit",
                "-q",
                "--author",
                &author,
                "-m",
                message,
            ],
        )
        .await?;
        Ok(true)
    }

    /// The files the branch changes against `base` (fetched when not at hand), with
    /// their line counts.
    pub async fn changed_files(
        &self,
        base: &str,
    ) -> Result<Vec<crate::messages::FileLines>, GitError> {
        let base_ref = format!("refs/remotes/origin/{base}");
        if self
            .git("rev-parse", &["rev-parse", "-q", "--verify", &base_ref])
            .await
            .is_err()
        {
            let refspec = format!("+refs/heads/{base}:{base_ref}");
            self.git(
                "fetch",
                &["fetch", "-q", "--no-tags", &self.remote_url, &refspec],
            )
            .await?;
        }
        let range = format!("{base_ref}...HEAD");
        let out = self
            .git(
                "diff",
                &["diff", "--numstat", "-z", "--no-renames", &range, "--"],
            )
            .await?;
        Ok(numstat(&out))
    }

    /// Pushes the checked-out branch to the remote branch of the same name. Only
    /// lucid's own branches (`lucid/...`) are ever pushed.
    pub async fn push(&self, branch: &str) -> Result<(), GitError> {
        if !branch.starts_with("lucid/") {
            return Err(GitError {
                action: "push".into(),
                detail: format!("{branch} is not a branch lucid made"),
            });
        }
        let refspec = format!("HEAD:refs/heads/{branch}");
        self.git("push", &["push", "-q", &self.remote_url, &refspec])
            .await?;
        Ok(())
    }

    async fn git(&self, action: &str, args: &[&str]) -> Result<String, GitError> {
        let header = format!(
            "Authorization: Basic {}",
            base64::engine::general_purpose::STANDARD
                .encode(format!("x-access-token:{}", self.token.expose_secret()))
        );
        let mut command = host_git(&self.git_dir, &self.work_tree);
        // A transfer that moves nothing for the platforms' request limit is given up,
        // not waited on for ever; one that moves goes on however long it takes.
        let [speed, stall] = crate::outbound::git_stall_limit();
        command
            .args(args)
            .env("GIT_CONFIG_COUNT", "3")
            .env("GIT_CONFIG_KEY_0", "http.extraHeader")
            .env("GIT_CONFIG_VALUE_0", header)
            .env("GIT_CONFIG_KEY_1", speed.0)
            .env("GIT_CONFIG_VALUE_1", speed.1)
            .env("GIT_CONFIG_KEY_2", stall.0)
            .env("GIT_CONFIG_VALUE_2", stall.1);
        let output = run(&mut command, action).await?;
        if output.status.success() {
            return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
        }
        let detail = String::from_utf8_lossy(&output.stderr)
            .replace(self.token.expose_secret(), "[redacted]")
            .trim()
            .chars()
            .take(500)
            .collect();
        Err(GitError {
            action: action.into(),
            detail,
        })
    }
}

/// `git diff --numstat -z` read: `added\tremoved\tpath\0`, `-` counts for binaries.
fn numstat(out: &str) -> Vec<crate::messages::FileLines> {
    out.split('\0')
        .filter(|e| !e.is_empty())
        .filter_map(|entry| {
            let mut fields = entry.splitn(3, '\t');
            let (added, removed, path) = (fields.next()?, fields.next()?, fields.next()?);
            Some(crate::messages::FileLines {
                path: path.to_owned(),
                added: added.parse().ok(),
                removed: removed.parse().ok(),
            })
        })
        .collect()
}

/// git on the host over `git_dir` and `work_tree`, as lucid always runs it: hooks and
/// fsmonitor off (nothing in a repository can make the host run a command), no
/// system config, never waiting on a prompt.
pub(crate) fn host_git(git_dir: &Path, work_tree: &Path) -> tokio::process::Command {
    let mut command = tokio::process::Command::new("git");
    command
        .arg("--git-dir")
        .arg(git_dir)
        .arg("--work-tree")
        .arg(work_tree)
        .args([
            "-c",
            "core.hooksPath=/dev/null",
            "-c",
            "core.fsmonitor=false",
        ])
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null());
    command
}

/// Runs a git command to its end; only not being able to start git is an error here.
async fn run(
    command: &mut tokio::process::Command,
    action: &str,
) -> Result<std::process::Output, GitError> {
    command.output().await.map_err(|e| GitError {
        action: action.into(),
        detail: format!("cannot run git: {e}"),
    })
}

/// `lucid/<number>-<slug of the title>`, short and safe as a ref name.
pub fn branch_name(tag: &str, title: &str) -> String {
    let mut slug = String::new();
    for word in title
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        if slug.len() + word.len() > 40 {
            break;
        }
        if !slug.is_empty() {
            slug.push('-');
        }
        slug.push_str(&word.to_ascii_lowercase());
    }
    if slug.is_empty() {
        format!("lucid/{tag}")
    } else {
        format!("lucid/{tag}-{slug}")
    }
}

/// Where a session's git dir goes: beside the workspaces, never inside one.
pub fn git_dir_for(workspaces: &Path, session: &str) -> PathBuf {
    workspaces.join(".git-dirs").join(session)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_names_are_short_slugs_of_the_title() {
        assert_eq!(
            branch_name("7", "Fix: add() subtracts!"),
            "lucid/7-fix-add-subtracts"
        );
        assert_eq!(branch_name("8", "ÄÖÜ"), "lucid/8");
        let long = branch_name("9", &"word ".repeat(30));
        assert!(long.len() <= "lucid/9-".len() + 40, "{long}");
    }
}
