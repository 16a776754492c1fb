//! The sandbox port on the Docker Engine API (bollard). Containers are created from
//! an explicit spec, commands and files go through exec, a long-lived process gets an
//! exec of its own, and a warm pool keeps containers ready so a session starts at once.
//! A repository's setup is run in a container of its own and kept as a prepared image
//! ([`prepared`]); a sandbox then swaps its container for one made from it.

mod address;
mod alive;
mod container;
mod exec;
mod files;
mod marker;
mod pool;
mod prepared;
mod process;
mod prune;
mod reaper;
mod registries;
pub use registries::registries_ready;
mod shell;

use self::exec::{Exec, docker_error};
use self::pool::Pool;
use super::proxy::{HostReached, RegistryProxy};
use super::setup::{Prepared, Setup, SetupNews};
use super::spec::{CommandSpec, ProcessSpec, SandboxSpec};
use super::workspace::{SandboxUser, Workspace};
use super::{
    CommandResult, DockerEngine, FileEntry, Outcome, OutputChunk, Sandbox, SandboxError,
    SandboxProcess, Sandboxes,
};
use crate::core::SessionId;
use async_trait::async_trait;
use bollard::query_parameters::{CreateContainerOptions, RemoveContainerOptions};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The labels every lucid container carries, so lucid can find its own.
pub mod labels {
    pub const MANAGED: &str = "lucid.managed";
    pub const SESSION: &str = "lucid.session";
    pub const WORKSPACE: &str = "lucid.workspace";
    pub const POOL: &str = "lucid.pool";
    /// The session label of a warm container no session has taken yet.
    pub const POOL_SESSION: &str = "pool";
    /// On a prepared image: lucid made it, and may remove it.
    pub const PREPARED: &str = "lucid.prepared";
    /// On a prepared image: the repository it was prepared for.
    pub const PREPARED_REPOSITORY: &str = "lucid.prepared.repository";
    /// On a prepared image: the hash of the repository and its setup inputs.
    pub const PREPARED_KEY: &str = "lucid.prepared.key";
    /// On a prepared image: the id of the image its setup ran in.
    pub const PREPARED_BASE: &str = "lucid.prepared.base";
    /// On a prepared image: the bytes of its own layer (what the setup left).
    pub const PREPARED_BYTES: &str = "lucid.prepared.bytes";
}

#[derive(Clone, Debug)]
pub struct SandboxSettings {
    /// What a session's sandbox is made of unless it asks otherwise.
    pub spec: SandboxSpec,
    /// Where the workspaces live on the host.
    pub workspaces: PathBuf,
    /// Warm containers kept ready.
    pub pool_size: usize,
    /// A sandbox unused this long is destroyed.
    pub idle_timeout: Duration,
}

/// Creates and tracks sandboxes on one Docker engine.
#[derive(Clone)]
pub struct DockerSandboxes {
    shared: Arc<Shared>,
}

struct Shared {
    engine: Arc<DockerEngine>,
    settings: SandboxSettings,
    user: SandboxUser,
    /// Every sandbox handed out and not yet destroyed, by container id.
    live: Mutex<HashMap<String, Arc<Container>>>,
    pool: Pool,
    /// The registry proxy, started with the first sandbox on the registries network;
    /// it stops when the last clone of this `DockerSandboxes` goes.
    registries: tokio::sync::OnceCell<Arc<RegistryProxy>>,
    /// One preparation per key at a time (a second session waits and reuses the
    /// first's image); a key held here is never pruned.
    preparing: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Whether old prepared images were pruned since this process started.
    pruned_at_start: AtomicBool,
}

/// One container and its workspace.
struct Container {
    id: String,
    engine: Arc<DockerEngine>,
    workspace: Workspace,
    user: String,
    last_used: Mutex<Instant>,
    expires_at: Mutex<Instant>,
    /// The shell commands run through, started at the first command.
    shell: tokio::sync::Mutex<Option<shell::Shell>>,
    /// OOM kills seen in this container's cgroup so far.
    oom_kills: AtomicU64,
    destroyed: AtomicBool,
    /// On the registries network: the proxy and the address it knows this container by.
    registry: OnceLock<registries::RegistryLink>,
    /// Its address as the host reaches it, when it has a network (for previews).
    address: OnceLock<address::Addresses>,
    /// The workspace is another container's (a sandbox's old container after a
    /// swap, or a new one until the swap is done): destroying this one leaves it.
    keeps_workspace: AtomicBool,
}

impl DockerSandboxes {
    pub fn new(engine: Arc<DockerEngine>, mut settings: SandboxSettings) -> Self {
        // Docker binds only absolute paths; a relative setting means "here".
        if let Ok(absolute) = std::path::absolute(&settings.workspaces) {
            settings.workspaces = absolute;
        }
        let pool = Pool::new(settings.pool_size);
        Self {
            shared: Arc::new(Shared {
                engine,
                settings,
                user: SandboxUser::for_this_process(),
                live: Mutex::new(HashMap::new()),
                pool,
                registries: tokio::sync::OnceCell::new(),
                preparing: Mutex::new(HashMap::new()),
                pruned_at_start: AtomicBool::new(false),
            }),
        }
    }

    pub fn settings(&self) -> &SandboxSettings {
        &self.shared.settings
    }

    /// How many sandboxes are handed out and not destroyed.
    pub fn live_count(&self) -> usize {
        self.live().len()
    }

    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Container>>> {
        self.shared
            .live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Creates and starts a container for `session_label` from `spec`, with a new
    /// workspace.
    async fn start_container(
        &self,
        spec: &SandboxSpec,
        session_label: &str,
    ) -> Result<Arc<Container>, SandboxError> {
        let name = container_name(session_label, None);
        let workspace =
            Workspace::create(&self.shared.settings.workspaces, &name, self.shared.user)?;
        self.launch(
            spec,
            session_label,
            &name,
            workspace,
            container::Flavor::Session,
        )
        .await
    }

    /// Creates and starts container `name` for `session_label` from `spec`, made for
    /// what `flavor` says, with `workspace` mounted. The workspace is the container's
    /// (removed with it, and on a failed start) unless it is a prepared sandbox's,
    /// which the caller hands over once the swap is done.
    async fn launch(
        &self,
        spec: &SandboxSpec,
        session_label: &str,
        name: &str,
        workspace: Workspace,
        flavor: container::Flavor<'_>,
    ) -> Result<Arc<Container>, SandboxError> {
        let borrowed_workspace = matches!(flavor, container::Flavor::Prepared { .. });
        let forget_workspace = |workspace: &Workspace| {
            if !borrowed_workspace {
                let _ = workspace.remove();
            }
        };
        let docker = match self.shared.engine.client().await {
            Ok(docker) => docker,
            Err(e) => {
                forget_workspace(&workspace);
                return Err(e.into());
            }
        };
        let proxy = match self.proxy_for(spec).await {
            Ok(proxy) => proxy,
            Err(e) => {
                forget_workspace(&workspace);
                return Err(e);
            }
        };
        let proxy_addr = proxy.as_ref().map(|p| p.addr());
        let body = container::container_body_for(
            spec,
            &workspace,
            self.shared.user,
            session_label,
            proxy_addr,
            flavor,
        );
        let options = CreateContainerOptions {
            name: Some(name.to_owned()),
            ..Default::default()
        };
        let created = match docker.create_container(Some(options), body).await {
            Ok(created) => created,
            Err(e) => {
                forget_workspace(&workspace);
                let image = match flavor {
                    container::Flavor::Prepared { image } => image.to_owned(),
                    _ => spec.image.clone(),
                };
                return Err(match docker_error(e) {
                    SandboxError::Gone(_) => SandboxError::ImageMissing { image },
                    other => other,
                });
            }
        };
        let container = Arc::new(Container {
            id: created.id,
            engine: self.shared.engine.clone(),
            workspace,
            user: self.shared.user.docker_user(),
            last_used: Mutex::new(Instant::now()),
            expires_at: Mutex::new(Instant::now() + spec.lifetime),
            shell: tokio::sync::Mutex::new(None),
            oom_kills: AtomicU64::new(0),
            destroyed: AtomicBool::new(false),
            registry: OnceLock::new(),
            address: OnceLock::new(),
            keeps_workspace: AtomicBool::new(borrowed_workspace),
        });
        if flavor == container::Flavor::Setup
            && let Err(e) = prepared::make_home(docker, &container.id, self.shared.user).await
        {
            let _ = container.destroy().await;
            return Err(e);
        }
        if let Err(e) = docker.start_container(&container.id, None).await {
            let _ = container.destroy().await;
            return Err(docker_error(e));
        }
        if let Some(proxy) = proxy
            && let Err(e) = registries::link(&container, docker, proxy).await
        {
            let _ = container.destroy().await;
            return Err(e);
        }
        if spec.network != super::spec::Network::Off {
            match address::of(docker, &container.id).await {
                Ok(Some(addresses)) => {
                    let _ = container.address.set(addresses);
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "a sandbox's address is unknown"),
            }
        }
        Ok(container)
    }

    fn hand_out(
        &self,
        container: Arc<Container>,
        spec: &SandboxSpec,
        session: SessionId,
    ) -> Arc<dyn Sandbox> {
        *lock(&container.expires_at) = Instant::now() + spec.lifetime;
        container.touch();
        self.live().insert(container.id.clone(), container.clone());
        // From here on, what the container reaches through the proxy is this session's
        // (and so is what a container that replaces it, or runs its setup, reaches).
        let (reports, network_log) = match container.registry.get() {
            Some(link) => {
                let (reports, network_log) = mpsc::unbounded_channel();
                link.proxy
                    .admit_reporting(link.ip, spec.registries.clone(), reports.clone());
                (Some(reports), Some(network_log))
            }
            None => (None, None),
        };
        Arc::new(DockerSandbox {
            first: container,
            replaced: OnceLock::new(),
            preparing: tokio::sync::Mutex::new(()),
            owner: self.clone(),
            spec: spec.clone(),
            session_label: session.to_string(),
            network_log: Mutex::new(network_log),
            reports,
        })
    }
}

#[async_trait]
impl Sandboxes for DockerSandboxes {
    async fn create(
        &self,
        session: SessionId,
        spec: &SandboxSpec,
    ) -> Result<Arc<dyn Sandbox>, SandboxError> {
        let asked = Instant::now();
        if spec.same_container_as(&self.shared.settings.spec)
            && let Some(warm) = self.take_warm(session).await
        {
            crate::metrics::sandbox_started(true, asked.elapsed());
            return Ok(self.hand_out(warm, spec, session));
        }
        let container = self.start_container(spec, &session.to_string()).await?;
        crate::metrics::sandbox_started(false, asked.elapsed());
        Ok(self.hand_out(container, spec, session))
    }

    async fn clear_leftovers(&self, session: SessionId) -> Result<usize, SandboxError> {
        self.reap_session(&session.to_string()).await
    }
}

/// A name for a new container of `session_label`: `lucid-<session>-<random>`, or
/// with `role` between them.
fn container_name(session_label: &str, role: Option<&str>) -> String {
    let short = &uuid::Uuid::now_v7().simple().to_string()[24..];
    match role {
        Some(role) => format!("lucid-{session_label}-{role}-{short}"),
        None => format!("lucid-{session_label}-{short}"),
    }
}

/// A sandbox handed to a session.
pub struct DockerSandbox {
    /// The container it was handed out with.
    first: Arc<Container>,
    /// The container from a prepared image that took the first's place, keeping its
    /// workspace (a sandbox is prepared once, before the agent starts).
    replaced: OnceLock<Arc<Container>>,
    /// One preparation at a time.
    preparing: tokio::sync::Mutex<()>,
    owner: DockerSandboxes,
    /// What it was made from, for a container that replaces the first.
    spec: SandboxSpec,
    session_label: String,
    /// Until the caller takes it.
    network_log: Mutex<Option<mpsc::UnboundedReceiver<HostReached>>>,
    /// Where the proxy reports this sandbox's connections (on the registries network).
    reports: Option<mpsc::UnboundedSender<HostReached>>,
}

impl DockerSandbox {
    /// The container the sandbox is now.
    fn container(&self) -> &Arc<Container> {
        self.replaced.get().unwrap_or(&self.first)
    }
}

impl Container {
    /// Runs a command through the container's shell (started at the first).
    async fn run(
        &self,
        command: &CommandSpec,
        live: Option<&mpsc::Sender<OutputChunk>>,
        cancel: &CancellationToken,
    ) -> Result<CommandResult, SandboxError> {
        self.check_alive()?;
        self.touch();
        let docker = self.engine.client().await?;
        let exec = self.exec(docker);
        // One command at a time: they share the shell.
        let mut shell = self.shell.lock().await;
        if shell.is_none() {
            match shell::Shell::start(&exec).await {
                Ok(started) => *shell = Some(started),
                Err(e) => {
                    self.check_still_running(docker).await?;
                    return Err(e);
                }
            }
        }
        let running = shell.as_mut().expect("started above");
        let outcome = running.run(&exec, command, live, cancel).await;
        // A shell that broke or died: the container may have gone with it.
        let result = match outcome {
            Ok((result, shell::ShellAfter::Ready)) => result,
            Ok((result, shell::ShellAfter::Dead)) => {
                *shell = None;
                self.check_still_running(docker).await?;
                result
            }
            Err(e) => {
                *shell = None;
                self.check_still_running(docker).await?;
                return Err(e);
            }
        };
        drop(shell);
        let outcome = self.classify(result.outcome, &exec).await;
        self.touch();
        Ok(CommandResult { outcome, ..result })
    }

    fn touch(&self) {
        *lock(&self.last_used) = Instant::now();
    }

    fn exec<'a>(&'a self, docker: &'a bollard::Docker) -> Exec<'a> {
        Exec {
            docker,
            container: &self.id,
            user: &self.user,
        }
    }

    fn is_destroyed(&self) -> bool {
        self.destroyed.load(Ordering::SeqCst)
    }

    fn check_alive(&self) -> Result<(), SandboxError> {
        if self.is_destroyed() {
            return Err(SandboxError::Gone(format!(
                "sandbox {} was destroyed",
                &self.id[..12.min(self.id.len())]
            )));
        }
        Ok(())
    }

    /// An exit by SIGKILL that lucid did not cause: was it the kernel's OOM killer?
    async fn classify(&self, outcome: Outcome, exec: &Exec<'_>) -> Outcome {
        if outcome != Outcome::Exited(137) {
            return outcome;
        }
        // Read right after the kill, the counter can come back empty (the reading
        // exec starts while the kernel is still reclaiming): a few tries, briefly.
        let mut counters = None;
        for attempt in 0..5 {
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            let read = exec
                .read_any(&[
                    "/sys/fs/cgroup/memory.events",
                    "/sys/fs/cgroup/memory/memory.oom_control",
                ])
                .await;
            if let Ok(bytes) = read
                && String::from_utf8_lossy(&bytes).contains("oom_kill ")
            {
                counters = Some(bytes);
                break;
            }
        }
        let Some(bytes) = counters else {
            return outcome;
        };
        let kills = oom_kill_count(&String::from_utf8_lossy(&bytes));
        let before = self.oom_kills.swap(kills, Ordering::SeqCst);
        if kills > before {
            Outcome::OutOfMemory
        } else {
            outcome
        }
    }

    async fn destroy(&self) -> Result<(), SandboxError> {
        if self.destroyed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        // Before the engine can give the address to another container.
        if let Some(link) = self.registry.get() {
            link.proxy.forget(link.ip);
        }
        let docker = self.engine.client().await?;
        let options = RemoveContainerOptions {
            force: true,
            v: true,
            ..Default::default()
        };
        match docker
            .remove_container(&self.id, Some(options))
            .await
            .map_err(docker_error)
        {
            Ok(()) | Err(SandboxError::Gone(_)) => {}
            Err(e) => return Err(e),
        }
        if !self.keeps_workspace.load(Ordering::SeqCst) {
            self.workspace.remove()?;
        }
        Ok(())
    }
}

/// `oom_kill N` from cgroup v2's memory.events or v1's memory.oom_control.
fn oom_kill_count(text: &str) -> u64 {
    text.lines()
        .filter_map(|line| line.strip_prefix("oom_kill "))
        .filter_map(|n| n.trim().parse::<u64>().ok())
        .sum()
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[async_trait]
impl Sandbox for DockerSandbox {
    fn id(&self) -> &str {
        &self.container().id
    }

    fn workspace(&self) -> &Workspace {
        &self.container().workspace
    }

    async fn run(
        &self,
        command: &CommandSpec,
        live: Option<&mpsc::Sender<OutputChunk>>,
        cancel: &CancellationToken,
    ) -> Result<CommandResult, SandboxError> {
        self.container().run(command, live, cancel).await
    }

    async fn spawn(
        &self,
        process: &ProcessSpec,
        cancel: &CancellationToken,
    ) -> Result<SandboxProcess, SandboxError> {
        let container = self.container();
        container.check_alive()?;
        if let Some(problem) = process.problem() {
            return Err(SandboxError::InvalidProcess(problem));
        }
        container.touch();
        process::start(container.clone(), process, cancel).await
    }

    async fn read_file(&self, path: &str) -> Result<Vec<u8>, SandboxError> {
        let container = self.container();
        container.check_alive()?;
        container.touch();
        let docker = container.engine.client().await?;
        container.exec(docker).read_file(path).await
    }

    async fn write_file(&self, path: &str, contents: &[u8]) -> Result<(), SandboxError> {
        let container = self.container();
        container.check_alive()?;
        container.touch();
        let docker = container.engine.client().await?;
        container.exec(docker).write_file(path, contents).await
    }

    async fn list_files(&self, dir: &str) -> Result<Vec<FileEntry>, SandboxError> {
        let container = self.container();
        container.check_alive()?;
        container.touch();
        let docker = container.engine.client().await?;
        container.exec(docker).list_files(dir).await
    }

    async fn prepare(
        &self,
        setup: &Setup,
        live: Option<&mpsc::Sender<SetupNews>>,
        cancel: &CancellationToken,
    ) -> Result<Prepared, SandboxError> {
        self.prepare_from_image(setup, live, cancel).await
    }

    async fn destroy(&self) -> Result<(), SandboxError> {
        // After a preparation under way: its container is the one to destroy.
        let _prepared = self.preparing.lock().await;
        let container = self.container();
        self.owner.live().remove(&container.id);
        container.destroy().await
    }

    fn network_log(&self) -> Option<mpsc::UnboundedReceiver<HostReached>> {
        lock(&self.network_log).take()
    }

    fn address(&self) -> Option<std::net::IpAddr> {
        Some(self.container().address.get()?.container)
    }

    fn host_address(&self) -> Option<std::net::IpAddr> {
        self.container().address.get()?.gateway
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oom_kills_are_read_from_either_cgroup_version() {
        assert_eq!(
            oom_kill_count("low 0\nhigh 0\nmax 3\noom 2\noom_kill 2\n"),
            2
        );
        assert_eq!(
            oom_kill_count("oom_kill_disable 0\nunder_oom 0\noom_kill 5\n"),
            5
        );
        assert_eq!(oom_kill_count(""), 0);
    }
}
