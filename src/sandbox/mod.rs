//! Sandboxes: where an agent's commands run, one per session, with nothing of lucid's
//! inside. The port is in lucid's own terms (create, run, spawn, read, write, list,
//! destroy);
//! `docker` implements it on the Docker Engine API, and no bollard type leaves it.

pub mod capture;
pub mod docker;
pub mod engine;
pub mod image;
pub mod process;
pub mod proxy;
pub mod setup;
pub mod spec;
pub mod workspace;

pub use capture::CapturedOutput;
pub use docker::{DockerSandboxes, SandboxSettings};
pub use engine::{DockerEngine, EngineError, EngineInfo};
pub use process::{
    ExitReporter, ProcessExit, ProcessHandle, ProcessStdin, ProcessStdout, SandboxProcess,
};
pub use proxy::{HostReached, RegistryPolicy};
pub use setup::{Prepared, Setup, SetupNews};
pub use spec::{CommandSpec, Network, PreparedPolicy, ProcessSpec, SandboxSpec};
pub use workspace::Workspace;

use crate::core::SessionId;
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Output as it comes, for the live view: stdout and stderr together, in the order
/// the command wrote them, as a terminal shows them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputChunk {
    pub bytes: Vec<u8>,
}

/// How a command ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Exited(i64),
    /// Killed at its timeout.
    TimedOut(Duration),
    /// Killed by the kernel for using more memory than the sandbox has.
    OutOfMemory,
    /// Killed after printing nothing for this long.
    NoOutputFor(Duration),
    /// Stopped because the caller asked (the session was stopped).
    Cancelled,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandResult {
    pub outcome: Outcome,
    pub output: CapturedOutput,
    pub duration: Duration,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileEntry {
    pub name: String,
    pub is_dir: bool,
    pub size: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("the Docker engine refused: {0}")]
    Docker(String),
    #[error("the image {image} is not on the engine: build it with `lucid sandbox build-image`")]
    ImageMissing { image: String },
    #[error("the sandbox is gone: {0}")]
    Gone(String),
    /// The container stopped under its session, or its engine stopped answering
    /// (restarted, or stopped): nothing more can run in it.
    #[error("the sandbox stopped: {0}")]
    Stopped(String),
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("the workspace: {0}")]
    Workspace(#[from] std::io::Error),
    #[error("the process cannot start: {0}")]
    InvalidProcess(String),
    #[error("this sandbox cannot {0}")]
    Unsupported(&'static str),
    #[error("the registries network: {0}")]
    Registries(String),
    /// The repository's setup ran and did not succeed; nothing of it was kept.
    #[error("the setup ended with {}", crate::messages::setup_ending(&.0.outcome))]
    SetupFailed(Box<CommandResult>),
}

/// One session's sandbox.
#[async_trait]
pub trait Sandbox: Send + Sync {
    fn id(&self) -> &str;

    /// The host directory mounted at `/workspace`.
    fn workspace(&self) -> &Workspace;

    /// Runs a bash command line, sending output to `live` as it comes.
    async fn run(
        &self,
        command: &CommandSpec,
        live: Option<&mpsc::Sender<OutputChunk>>,
        cancel: &CancellationToken,
    ) -> Result<CommandResult, SandboxError>;

    /// Starts a long-lived process whose stdin lucid writes and whose stdout lucid
    /// reads as it comes (an external agent speaking a protocol over stdio). It runs
    /// as commands do: same container and user, no capability, none of lucid's
    /// environment, in a process group of its own. Killing it through its handle, a
    /// cancelled `cancel`, or `destroy()` ends everything it started in that group.
    async fn spawn(
        &self,
        process: &ProcessSpec,
        cancel: &CancellationToken,
    ) -> Result<SandboxProcess, SandboxError>;

    async fn read_file(&self, path: &str) -> Result<Vec<u8>, SandboxError>;

    /// Writes a file, creating its directory if needed.
    async fn write_file(&self, path: &str, contents: &[u8]) -> Result<(), SandboxError>;

    /// The entries of a directory (not recursive), sorted by name.
    async fn list_files(&self, dir: &str) -> Result<Vec<FileEntry>, SandboxError>;

    /// Makes this sandbox ready from the repository's prepared state: the one kept for
    /// `setup.key` when there is one young enough, or else one made now by running
    /// the setup (in the sandbox's image, with its limits and network, seeing the
    /// workspace's files) and keeping what it left in the home directory. The sandbox
    /// then runs from it, the same workspace mounted, its home writable. Says
    /// [`SetupNews::Started`] to `live` when the setup starts, and what it prints.
    /// A setup that fails is [`SandboxError::SetupFailed`] (the sandbox is left as it
    /// was, nothing kept); a cancelled `cancel` stops it.
    async fn prepare(
        &self,
        setup: &Setup,
        live: Option<&mpsc::Sender<SetupNews>>,
        cancel: &CancellationToken,
    ) -> Result<Prepared, SandboxError> {
        let _ = (setup, live, cancel);
        Err(SandboxError::Unsupported("prepare a setup"))
    }

    /// Removes the container and its workspace. Safe to call twice.
    async fn destroy(&self) -> Result<(), SandboxError>;

    /// The hosts this sandbox reaches through the registry proxy (and those it is
    /// refused), one report per connection as it ends. Only a sandbox on the
    /// `registries` network has one, and it is handed out once: later calls get None.
    fn network_log(&self) -> Option<mpsc::UnboundedReceiver<HostReached>> {
        None
    }

    /// The sandbox's address as the host reaches it (for a live preview of a port);
    /// None when it has no network.
    fn address(&self) -> Option<std::net::IpAddr> {
        None
    }

    /// Where the sandbox reaches the host (its network's gateway), for services lucid
    /// runs there for it (the model gateway); None when it has no network.
    fn host_address(&self) -> Option<std::net::IpAddr> {
        None
    }
}

/// Where sandboxes come from.
#[async_trait]
pub trait Sandboxes: Send + Sync {
    async fn create(
        &self,
        session: SessionId,
        spec: &SandboxSpec,
    ) -> Result<Arc<dyn Sandbox>, SandboxError>;

    /// Removes what an earlier run of `session` left behind (a lucid killed while it
    /// ran): called before a session taken over gets its sandbox. Answers how many
    /// sandboxes went.
    async fn clear_leftovers(&self, session: SessionId) -> Result<usize, SandboxError> {
        let _ = session;
        Ok(0)
    }
}
