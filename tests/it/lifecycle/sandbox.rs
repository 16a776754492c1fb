//! A sandbox without Docker: each session's workspace is a directory on the host, and
//! commands run in it with bash (environment cleared but `PATH`, `HOME` the
//! workspace), in a process group of their own that a stop or a timeout kills. Files
//! are only reached under `/workspace`. It says which commands are running, so a
//! test can wait for one to start.

use async_trait::async_trait;
use lucid::core::SessionId;
use lucid::sandbox::capture::OutputCapture;
use lucid::sandbox::workspace::SandboxUser;
use lucid::sandbox::{
    CommandResult, CommandSpec, FileEntry, Outcome, OutputChunk, Sandbox, SandboxError,
    SandboxSpec, Sandboxes, Workspace,
};
use std::path::{Component, Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::io::AsyncReadExt;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

pub struct LocalSandboxes {
    /// Where workspaces are made (a forge keeps its git directories beside them).
    root: PathBuf,
    /// The commands running now, in every sandbox.
    running: Arc<watch::Sender<Vec<String>>>,
    made: Mutex<Vec<(SessionId, Arc<LocalSandbox>)>>,
}

pub struct LocalSandbox {
    id: String,
    workspace: Workspace,
    running: Arc<watch::Sender<Vec<String>>>,
    destroyed: AtomicBool,
}

impl LocalSandboxes {
    pub fn new(root: &Path) -> Arc<LocalSandboxes> {
        Arc::new(LocalSandboxes {
            root: root.to_owned(),
            running: Arc::new(watch::channel(Vec::new()).0),
            made: Mutex::new(Vec::new()),
        })
    }

    /// The commands running now.
    pub fn running(&self) -> watch::Receiver<Vec<String>> {
        self.running.subscribe()
    }

    /// The sandboxes made for `session`, and whether each was destroyed.
    pub fn made_for(&self, session: SessionId) -> Vec<bool> {
        self.made
            .lock()
            .unwrap()
            .iter()
            .filter(|(s, _)| *s == session)
            .map(|(_, sandbox)| sandbox.destroyed.load(Ordering::SeqCst))
            .collect()
    }
}

#[async_trait]
impl Sandboxes for LocalSandboxes {
    async fn create(
        &self,
        session: SessionId,
        _spec: &SandboxSpec,
    ) -> Result<Arc<dyn Sandbox>, SandboxError> {
        let mut made = self.made.lock().unwrap();
        let name = format!("{session}-{}", made.len());
        let workspace = Workspace::create(&self.root, &name, SandboxUser::for_this_process())?;
        let sandbox = Arc::new(LocalSandbox {
            id: name,
            workspace,
            running: self.running.clone(),
            destroyed: AtomicBool::new(false),
        });
        made.push((session, sandbox.clone()));
        Ok(sandbox)
    }
}

impl LocalSandbox {
    /// `path` inside the sandbox (under `/workspace`) as a host path.
    fn host_path(&self, path: &str) -> Result<PathBuf, SandboxError> {
        if self.destroyed.load(Ordering::SeqCst) {
            return Err(SandboxError::Gone(format!(
                "sandbox {} was destroyed",
                self.id
            )));
        }
        let outside = || SandboxError::File {
            path: path.to_owned(),
            message: "outside the workspace".to_owned(),
        };
        let rest = Path::new(path)
            .strip_prefix("/workspace")
            .map_err(|_| outside())?;
        if rest
            .components()
            .any(|c| !matches!(c, Component::Normal(_)))
        {
            return Err(outside());
        }
        Ok(self.workspace.path().join(rest))
    }
}

fn file_error(path: &str, e: std::io::Error) -> SandboxError {
    SandboxError::File {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

#[async_trait]
impl Sandbox for LocalSandbox {
    fn id(&self) -> &str {
        &self.id
    }

    /// The built-in agent runs commands only.
    async fn spawn(
        &self,
        _: &lucid::sandbox::ProcessSpec,
        _: &CancellationToken,
    ) -> Result<lucid::sandbox::SandboxProcess, SandboxError> {
        Err(SandboxError::Unsupported("start a process"))
    }

    fn workspace(&self) -> &Workspace {
        &self.workspace
    }

    async fn run(
        &self,
        command: &CommandSpec,
        _live: Option<&mpsc::Sender<OutputChunk>>,
        cancel: &CancellationToken,
    ) -> Result<CommandResult, SandboxError> {
        let cwd = self.host_path(&command.cwd)?;
        let started = Instant::now();
        let mut child = tokio::process::Command::new("bash")
            .arg("-c")
            // Output and errors in the order written, as a terminal shows them.
            .arg(format!("exec 2>&1\n{}", command.command))
            .current_dir(&cwd)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.workspace.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()?;
        let group = child.id().map(|pid| pid as i32);
        let kill = || {
            if let Some(group) = group {
                // SAFETY: a signal to the process group this command runs in.
                unsafe { libc::kill(-group, libc::SIGKILL) };
            }
        };
        self.running
            .send_modify(|r| r.push(command.command.clone()));
        let mut stdout = child.stdout.take().expect("stdout is piped");
        let mut capture = OutputCapture::new(command.output_cap);
        let ran = async {
            let mut buf = [0u8; 8192];
            loop {
                match stdout.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => capture.push(&buf[..n]),
                }
            }
            child.wait().await
        };
        let outcome = tokio::select! {
            status = ran => Outcome::Exited(status.map_or(-1, |s| i64::from(s.code().unwrap_or(-1)))),
            () = cancel.cancelled() => { kill(); Outcome::Cancelled }
            () = tokio::time::sleep(command.timeout) => { kill(); Outcome::TimedOut(command.timeout) }
        };
        self.running.send_modify(|r| {
            if let Some(at) = r.iter().position(|c| *c == command.command) {
                r.remove(at);
            }
        });
        Ok(CommandResult {
            outcome,
            output: capture.finish(),
            duration: started.elapsed(),
        })
    }

    async fn read_file(&self, path: &str) -> Result<Vec<u8>, SandboxError> {
        let host = self.host_path(path)?;
        tokio::fs::read(host).await.map_err(|e| file_error(path, e))
    }

    async fn write_file(&self, path: &str, contents: &[u8]) -> Result<(), SandboxError> {
        let host = self.host_path(path)?;
        if let Some(dir) = host.parent() {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|e| file_error(path, e))?;
        }
        tokio::fs::write(host, contents)
            .await
            .map_err(|e| file_error(path, e))
    }

    async fn list_files(&self, dir: &str) -> Result<Vec<FileEntry>, SandboxError> {
        let host = self.host_path(dir)?;
        let mut entries = Vec::new();
        let mut read = tokio::fs::read_dir(host)
            .await
            .map_err(|e| file_error(dir, e))?;
        while let Some(entry) = read.next_entry().await.map_err(|e| file_error(dir, e))? {
            let meta = entry.metadata().await.map_err(|e| file_error(dir, e))?;
            entries.push(FileEntry {
                name: entry.file_name().to_string_lossy().into_owned(),
                is_dir: meta.is_dir(),
                size: meta.len(),
            });
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    async fn destroy(&self) -> Result<(), SandboxError> {
        if self.destroyed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        self.workspace.remove()?;
        Ok(())
    }
}
