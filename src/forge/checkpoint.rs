//! Checkpoints of a session's workspace: after each step of the agent, whatever made
//! the change (its own tools, a shell command, a formatter, another agent), the work
//! tree is snapshotted into a git directory of lucid's own on the host, outside the
//! sandbox, on hidden refs (`refs/lucid/checkpoints/<n>`) that are never pushed. A
//! step that changed something yields its diff, file by file; one that changed
//! nothing yields nothing. Restoring a checkpoint writes its tree back into the work
//! tree.
//!
//! git does the work: an index of lucid's own (so the forge's index is untouched)
//! keeps each file's stat data, so a step in a large repository that changed nothing
//! costs a stat of each file and no reading. Hooks and fsmonitor are off, and
//! nothing in the work tree's own `.git` (git never walks into a path named `.git`)
//! is read.

use std::path::{Path, PathBuf};
use std::process::Stdio;

/// A file's diff is shown up to this size; past it the file is named with its counts.
pub const MAX_DIFF_BYTES: usize = 64 * 1024;
const REFS: &str = "refs/lucid/checkpoints";

#[derive(Debug, thiserror::Error)]
#[error("checkpoint: git {action} failed: {detail}")]
pub struct CheckpointError {
    action: String,
    detail: String,
}

/// One file a step changed, as people read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileChange {
    pub path: String,
    /// The unified diff's hunks, or a line naming a binary or huge change.
    pub diff: String,
}

/// A recorded checkpoint: its number (0 is the work tree as it started), its label
/// and what changed since the one before.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    pub number: u32,
    pub label: String,
    pub changes: Vec<FileChange>,
}

/// The checkpoints of one work tree, kept in `git_dir`.
pub struct Checkpoints {
    git_dir: PathBuf,
    work_tree: PathBuf,
    /// One git operation at a time: a revert asked from the thread can come while
    /// the agent's step is being recorded, and both use the one index.
    busy: tokio::sync::Mutex<()>,
}

impl Checkpoints {
    pub fn new(git_dir: &Path, work_tree: &Path) -> Self {
        Self {
            git_dir: git_dir.to_owned(),
            work_tree: work_tree.to_owned(),
            busy: tokio::sync::Mutex::new(()),
        }
    }

    /// Checkpoint 0: the work tree as the session starts (made once; later calls,
    /// in later runs of the session, find it). Answers whether it was made now.
    pub async fn start(&self) -> Result<bool, CheckpointError> {
        if !self.git_dir.join("HEAD").exists() {
            std::fs::create_dir_all(&self.git_dir).map_err(|e| failed("init", e))?;
            let made = tokio::process::Command::new("git")
                .args(["init", "-q", "--bare"])
                .arg(&self.git_dir)
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .env("GIT_CONFIG_GLOBAL", "/dev/null")
                .stdin(Stdio::null())
                .output()
                .await
                .map_err(|e| failed("init", e))?;
            if !made.status.success() {
                return Err(failed("init", String::from_utf8_lossy(&made.stderr).trim()));
            }
        }
        if self.last().await?.is_none() {
            let tree = self.snapshot().await?;
            let commit = self.commit(&tree, None, "start").await?;
            self.set_ref(0, &commit).await?;
            return Ok(true);
        }
        Ok(false)
    }

    /// A checkpoint after a step labelled `label`, when the work tree changed since the
    /// last one; `None` when nothing changed.
    pub async fn record(&self, label: &str) -> Result<Option<Checkpoint>, CheckpointError> {
        let _busy = self.busy.lock().await;
        self.record_now(label).await
    }

    async fn record_now(&self, label: &str) -> Result<Option<Checkpoint>, CheckpointError> {
        let Some((last_number, last)) = self.last().await? else {
            return Err(failed("record", "no checkpoint 0: start() first"));
        };
        let tree = self.snapshot().await?;
        if tree == self.tree_of(&last).await? {
            return Ok(None);
        }
        let commit = self.commit(&tree, Some(&last), label).await?;
        let number = last_number + 1;
        self.set_ref(number, &commit).await?;
        Ok(Some(Checkpoint {
            number,
            label: label.to_owned(),
            changes: self.changes(&last, &commit).await?,
        }))
    }

    /// Removes the checkpoints' git dir (the session's work is over).
    pub fn remove(&self) {
        if let Err(e) = std::fs::remove_dir_all(&self.git_dir)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(error = %e, "could not remove a checkpoints directory");
        }
    }

    /// Every checkpoint, oldest first, without their changes.
    pub async fn list(&self) -> Result<Vec<Checkpoint>, CheckpointError> {
        let out = self
            .git(
                "for-each-ref",
                &[
                    "for-each-ref",
                    "--format=%(refname:lstrip=3) %(contents:subject)",
                    REFS,
                ],
            )
            .await?;
        let mut all: Vec<Checkpoint> = out
            .lines()
            .filter_map(|line| {
                let (number, label) = line.split_once(' ').unwrap_or((line, ""));
                Some(Checkpoint {
                    number: number.parse().ok()?,
                    label: label.to_owned(),
                    changes: Vec::new(),
                })
            })
            .collect();
        all.sort_by_key(|c| c.number);
        Ok(all)
    }

    /// Writes checkpoint `number`'s tree back into the work tree (files it lacks are
    /// removed), and records that as a checkpoint of its own; answers it, or `None`
    /// when the work tree already was that checkpoint.
    pub async fn restore(&self, number: u32) -> Result<Option<Checkpoint>, CheckpointError> {
        let _busy = self.busy.lock().await;
        let target = self
            .commit_of(number)
            .await?
            .ok_or_else(|| failed("restore", format!("there is no checkpoint {number}")))?;
        // What is there now, so that files the checkpoint lacks can be told apart.
        self.snapshot().await?;
        let index = self.index();
        let index_env = [("GIT_INDEX_FILE", index.as_os_str())];
        // Reading the target into the index with -u updates the work tree to match,
        // removing the files the index had and the target lacks.
        self.git_with(
            "read-tree",
            &["read-tree", "--reset", "-u", &target],
            &index_env,
        )
        .await?;
        self.record_now(&format!("back to step {number}")).await
    }

    /// The newest checkpoint's number and commit.
    async fn last(&self) -> Result<Option<(u32, String)>, CheckpointError> {
        let Some(newest) = self.list().await?.last().map(|c| c.number) else {
            return Ok(None);
        };
        Ok(self.commit_of(newest).await?.map(|c| (newest, c)))
    }

    async fn commit_of(&self, number: u32) -> Result<Option<String>, CheckpointError> {
        let name = format!("{REFS}/{number}");
        match self
            .git("rev-parse", &["rev-parse", "-q", "--verify", &name])
            .await
        {
            Ok(out) => Ok(Some(out.trim().to_owned())),
            Err(_) => Ok(None),
        }
    }

    async fn tree_of(&self, commit: &str) -> Result<String, CheckpointError> {
        let out = self
            .git("rev-parse", &["rev-parse", &format!("{commit}^{{tree}}")])
            .await?;
        Ok(out.trim().to_owned())
    }

    fn index(&self) -> PathBuf {
        self.git_dir.join("lucid-checkpoints.index")
    }

    /// The work tree as a tree object, through lucid's own index.
    async fn snapshot(&self) -> Result<String, CheckpointError> {
        let index = self.index();
        let env = [("GIT_INDEX_FILE", index.as_os_str())];
        self.git_with("add", &["add", "-A", "--", "."], &env)
            .await?;
        let out = self.git_with("write-tree", &["write-tree"], &env).await?;
        Ok(out.trim().to_owned())
    }

    async fn commit(
        &self,
        tree: &str,
        parent: Option<&str>,
        label: &str,
    ) -> Result<String, CheckpointError> {
        let mut args = vec!["commit-tree", tree, "-m", label];
        if let Some(parent) = parent {
            args.extend(["-p", parent]);
        }
        let env = [
            ("GIT_AUTHOR_NAME", std::ffi::OsStr::new("lucid")),
            ("GIT_AUTHOR_EMAIL", std::ffi::OsStr::new("lucid@localhost")),
            ("GIT_COMMITTER_NAME", std::ffi::OsStr::new("lucid")),
            (
                "GIT_COMMITTER_EMAIL",
                std::ffi::OsStr::new("lucid@localhost"),
            ),
        ];
        let out = self.git_with("commit-tree", &args, &env).await?;
        Ok(out.trim().to_owned())
    }

    async fn set_ref(&self, number: u32, commit: &str) -> Result<(), CheckpointError> {
        let name = format!("{REFS}/{number}");
        self.git("update-ref", &["update-ref", &name, commit])
            .await?;
        Ok(())
    }

    /// What changed between two checkpoints, file by file.
    async fn changes(&self, from: &str, to: &str) -> Result<Vec<FileChange>, CheckpointError> {
        let numstat = self
            .git(
                "diff-tree",
                &[
                    "diff-tree",
                    "-r",
                    "--no-renames",
                    "-z",
                    "--numstat",
                    from,
                    to,
                ],
            )
            .await?;
        let mut changes = Vec::new();
        for entry in numstat.split('\0').filter(|e| !e.is_empty()) {
            let mut fields = entry.splitn(3, '\t');
            let (Some(added), Some(removed), Some(path)) =
                (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            let diff = if added == "-" {
                crate::messages::binary_file_changed().to_owned()
            } else {
                let patch = self
                    .git(
                        "diff-tree",
                        &[
                            "diff-tree",
                            "-p",
                            "--no-renames",
                            "--no-color",
                            from,
                            to,
                            "--",
                            path,
                        ],
                    )
                    .await?;
                if patch.len() > MAX_DIFF_BYTES {
                    crate::messages::diff_too_large(added, removed)
                } else {
                    hunks(&patch)
                }
            };
            changes.push(FileChange {
                path: path.to_owned(),
                diff,
            });
        }
        Ok(changes)
    }

    async fn git(&self, action: &str, args: &[&str]) -> Result<String, CheckpointError> {
        self.git_with(action, args, &[]).await
    }

    async fn git_with(
        &self,
        action: &str,
        args: &[&str],
        env: &[(&str, &std::ffi::OsStr)],
    ) -> Result<String, CheckpointError> {
        let output = super::git::host_git(&self.git_dir, &self.work_tree)
            .args(["-c", "core.autocrlf=false", "-c", "gc.auto=0"])
            .args(args)
            .envs(env.iter().copied())
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .current_dir(&self.work_tree)
            .output()
            .await
            .map_err(|e| failed(action, e))?;
        if output.status.success() {
            return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
        }
        Err(failed(
            action,
            String::from_utf8_lossy(&output.stderr)
                .trim()
                .chars()
                .take(500)
                .collect::<String>(),
        ))
    }
}

fn failed(action: &str, detail: impl std::fmt::Display) -> CheckpointError {
    CheckpointError {
        action: action.to_owned(),
        detail: detail.to_string(),
    }
}

/// A patch without git's own header lines (`diff --git`, `index`, modes): the
/// `---`/`+++` lines and the hunks, as the built-in tools' diffs read.
fn hunks(patch: &str) -> String {
    let start = patch
        .find("\n--- ")
        .map(|at| at + 1)
        .or_else(|| patch.find("@@"))
        .unwrap_or(patch.len());
    patch[start..].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, path: &str, text: &str) {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn setup() -> (tempfile::TempDir, tempfile::TempDir, Checkpoints) {
        let work = tempfile::tempdir().unwrap();
        let git = tempfile::tempdir().unwrap();
        write(work.path(), "calc.py", "def add(a, b):\n    return a - b\n");
        write(work.path(), "docs/notes.md", "notes\n");
        let checkpoints = Checkpoints::new(&git.path().join("checkpoints"), work.path());
        (work, git, checkpoints)
    }

    #[tokio::test]
    async fn a_change_made_any_way_is_a_checkpoint_with_its_diff_and_no_change_is_none() {
        let (work, _git, checkpoints) = setup();
        checkpoints.start().await.unwrap();
        assert_eq!(checkpoints.record("nothing").await.unwrap(), None);

        // As `sed -i` would: the file rewritten in place, and a new one besides.
        write(work.path(), "calc.py", "def add(a, b):\n    return a + b\n");
        write(work.path(), "src/new.rs", "fn main() {}\n");
        std::fs::remove_file(work.path().join("docs/notes.md")).unwrap();
        let step = checkpoints.record("step 1").await.unwrap().unwrap();
        assert_eq!(step.number, 1);
        let paths: Vec<&str> = step.changes.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, ["calc.py", "docs/notes.md", "src/new.rs"]);
        let calc = &step.changes[0].diff;
        assert!(
            calc.starts_with("--- a/calc.py\n+++ b/calc.py\n@@"),
            "{calc}"
        );
        assert!(
            calc.contains("-    return a - b\n+    return a + b\n"),
            "{calc}"
        );
        assert!(
            step.changes[1].diff.contains("-notes"),
            "{}",
            step.changes[1].diff
        );
        assert!(step.changes[2].diff.contains("+fn main() {}"));
        assert_eq!(checkpoints.record("again").await.unwrap(), None);
    }

    #[tokio::test]
    async fn binary_and_huge_files_are_named_not_dumped() {
        let (work, _git, checkpoints) = setup();
        checkpoints.start().await.unwrap();
        std::fs::write(work.path().join("logo.png"), [0u8, 159, 146, 150, 0, 1]).unwrap();
        let big: String = (0..20_000).map(|i| format!("line {i}\n")).collect();
        write(work.path(), "big.txt", &big);
        let step = checkpoints.record("assets").await.unwrap().unwrap();
        let by_path = |p: &str| &step.changes.iter().find(|c| c.path == p).unwrap().diff;
        assert_eq!(by_path("logo.png"), "(a binary file changed)");
        assert_eq!(by_path("big.txt"), "(too large to show: +20000 −0)");
    }

    #[tokio::test]
    async fn restoring_brings_back_the_exact_earlier_work_tree() {
        let (work, _git, checkpoints) = setup();
        checkpoints.start().await.unwrap();
        write(work.path(), "calc.py", "one\n");
        checkpoints.record("step 1").await.unwrap().unwrap();
        write(work.path(), "calc.py", "two\n");
        write(work.path(), "extra.txt", "extra\n");
        checkpoints.record("step 2").await.unwrap().unwrap();

        let back = checkpoints.restore(1).await.unwrap().unwrap();
        assert_eq!(back.label, "back to step 1");
        assert_eq!(
            std::fs::read_to_string(work.path().join("calc.py")).unwrap(),
            "one\n"
        );
        assert!(!work.path().join("extra.txt").exists());
        assert!(work.path().join("docs/notes.md").exists());
        let start = checkpoints.restore(0).await.unwrap().unwrap();
        assert_eq!(start.number, 4);
        assert_eq!(
            std::fs::read_to_string(work.path().join("calc.py")).unwrap(),
            "def add(a, b):\n    return a - b\n"
        );
        let labels: Vec<String> = checkpoints
            .list()
            .await
            .unwrap()
            .into_iter()
            .map(|c| format!("{} {}", c.number, c.label))
            .collect();
        assert_eq!(
            labels,
            [
                "0 start",
                "1 step 1",
                "2 step 2",
                "3 back to step 1",
                "4 back to step 0"
            ]
        );
        assert!(checkpoints.restore(9).await.is_err());
    }

    #[tokio::test]
    async fn what_the_agent_plants_in_the_work_trees_git_is_never_run() {
        let (work, git, checkpoints) = setup();
        // A repository of the agent's own in the work tree, with a hook and a config
        // that would run a command if lucid's git read them.
        let planted = work.path().join(".git");
        std::fs::create_dir_all(planted.join("hooks")).unwrap();
        let marker = git.path().join("pwned");
        let hook = format!("#!/bin/sh\ntouch {}\n", marker.display());
        std::fs::write(planted.join("hooks/pre-commit"), &hook).unwrap();
        std::fs::write(planted.join("hooks/post-index-change"), &hook).unwrap();
        std::fs::write(
            planted.join("config"),
            format!("[core]\n\tfsmonitor = touch {}\n", marker.display()),
        )
        .unwrap();
        checkpoints.start().await.unwrap();
        write(work.path(), "calc.py", "changed\n");
        let step = checkpoints.record("step").await.unwrap().unwrap();
        assert!(!marker.exists(), "a planted hook or config ran");
        assert!(
            step.changes.iter().all(|c| !c.path.starts_with(".git")),
            "{:?}",
            step.changes
        );
    }
}
