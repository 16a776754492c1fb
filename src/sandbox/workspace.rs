//! A session's workspace: a directory on the host, mounted at `/workspace` in its
//! sandbox. The host prepares it (clones the repository into it, so a git token
//! never enters the sandbox); the sandbox's user owns what is in it.

use std::path::{Path, PathBuf};

/// The uid and gid the sandbox runs as. Never root.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SandboxUser {
    pub uid: u32,
    pub gid: u32,
}

impl SandboxUser {
    /// lucid's own user when it is not root, so both sides own the workspace's files;
    /// uid 1000 when lucid runs as root, since the sandbox never does.
    pub fn for_this_process() -> Self {
        let (uid, gid) = (current_uid(), current_gid());
        if uid == 0 {
            Self {
                uid: 1000,
                gid: 1000,
            }
        } else {
            Self { uid, gid }
        }
    }

    pub fn docker_user(self) -> String {
        format!("{}:{}", self.uid, self.gid)
    }
}

fn current_uid() -> u32 {
    // SAFETY: getuid cannot fail and has no preconditions.
    unsafe { libc::getuid() }
}

fn current_gid() -> u32 {
    // SAFETY: getgid cannot fail and has no preconditions.
    unsafe { libc::getgid() }
}

#[derive(Clone, Debug)]
pub struct Workspace {
    path: PathBuf,
    user: SandboxUser,
}

impl Workspace {
    /// Makes a new, empty workspace under `root`, named `name`.
    pub fn create(root: &Path, name: &str, user: SandboxUser) -> std::io::Result<Self> {
        std::fs::create_dir_all(root)?;
        let path = root.join(name);
        std::fs::create_dir(&path)?;
        let workspace = Self { path, user };
        workspace.hand_over()?;
        Ok(workspace)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Gives everything in the workspace to the sandbox's user, after the host has
    /// written into it (as root, lucid's files would not be the sandbox's to edit).
    pub fn hand_over(&self) -> std::io::Result<()> {
        if current_uid() != 0 {
            return Ok(());
        }
        chown_tree(&self.path, self.user)
    }

    /// Removes the workspace and everything in it.
    pub fn remove(&self) -> std::io::Result<()> {
        match std::fs::remove_dir_all(&self.path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }
}

fn chown_tree(path: &Path, user: SandboxUser) -> std::io::Result<()> {
    // lchown: a symlink is changed itself, never what it points to.
    std::os::unix::fs::lchown(path, Some(user.uid), Some(user.gid))?;
    if std::fs::symlink_metadata(path)?.is_dir() {
        for entry in std::fs::read_dir(path)? {
            chown_tree(&entry?.path(), user)?;
        }
    }
    Ok(())
}
