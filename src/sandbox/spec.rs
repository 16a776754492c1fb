//! What a sandbox is made of, spelled out: image, limits, network, lifetime. Safe
//! defaults; every change is a named builder call.

use super::proxy::RegistryPolicy;
use std::time::Duration;

pub const DEFAULT_IMAGE: &str = "lucid-sandbox:latest";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Network {
    /// No network at all: only a loopback interface.
    Off,
    /// Docker's bridge network: everything, the host's and the cloud's metadata
    /// addresses included.
    Bridge,
    /// An internal network with no route out, and lucid's registry proxy on the host
    /// as the only way out: package registries on the spec's allow-list, nothing else.
    Registries,
}

/// How prepared sandboxes (a repository's setup, run once and kept as an image) are
/// made and kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PreparedPolicy {
    /// A prepared image older than this is made again, and removed.
    pub max_age: Duration,
    /// The prepared images together take at most this many bytes of the engine's
    /// disk (their own layers); the oldest go first beyond it.
    pub max_size: u64,
    /// The setup is killed, and the session fails, after this long.
    pub setup_timeout: Duration,
}

impl Default for PreparedPolicy {
    fn default() -> Self {
        Self {
            max_age: Duration::from_secs(7 * 24 * 60 * 60),
            max_size: 20 * 1024 * 1024 * 1024,
            setup_timeout: Duration::from_secs(30 * 60),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct SandboxSpec {
    pub image: String,
    pub memory_bytes: u64,
    /// Thousandths of a CPU: 1000 is one whole CPU.
    pub cpu_millis: u32,
    pub pids_limit: u32,
    pub network: Network,
    /// Wall-clock limit for the whole sandbox; it is destroyed when it runs out.
    pub lifetime: Duration,
    pub tmp_bytes: u64,
    /// Where the registry proxy lets the sandbox go, with `Network::Registries`.
    /// Applied when the sandbox is handed out, so a warm container serves any policy.
    pub registries: RegistryPolicy,
    /// How a repository's setup is run and its prepared image kept.
    pub prepared: PreparedPolicy,
    /// Setups the operator declares, by repository (`owner/name`, lower case): a bash
    /// command line, for repositories without a `.lucid/setup.sh` of their own.
    pub repo_setup: std::collections::BTreeMap<String, String>,
}

impl Default for SandboxSpec {
    fn default() -> Self {
        Self {
            image: DEFAULT_IMAGE.to_owned(),
            memory_bytes: 2 * 1024 * 1024 * 1024,
            cpu_millis: 1000,
            pids_limit: 512,
            network: Network::Off,
            lifetime: Duration::from_secs(2 * 60 * 60),
            tmp_bytes: 512 * 1024 * 1024,
            registries: RegistryPolicy::default(),
            prepared: PreparedPolicy::default(),
            repo_setup: std::collections::BTreeMap::new(),
        }
    }
}

impl SandboxSpec {
    pub fn image(mut self, image: impl Into<String>) -> Self {
        self.image = image.into();
        self
    }

    pub fn memory_bytes(mut self, bytes: u64) -> Self {
        self.memory_bytes = bytes;
        self
    }

    pub fn cpu_millis(mut self, millis: u32) -> Self {
        self.cpu_millis = millis;
        self
    }

    pub fn pids_limit(mut self, pids: u32) -> Self {
        self.pids_limit = pids;
        self
    }

    pub fn network(mut self, network: Network) -> Self {
        self.network = network;
        self
    }

    pub fn lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    pub fn registries(mut self, policy: RegistryPolicy) -> Self {
        self.registries = policy;
        self
    }

    pub fn prepared(mut self, policy: PreparedPolicy) -> Self {
        self.prepared = policy;
        self
    }

    pub fn repo_setup(mut self, setups: std::collections::BTreeMap<String, String>) -> Self {
        self.repo_setup = setups;
        self
    }

    /// Whether a container made from `other` can serve this spec: a warm container is
    /// only handed out when nothing that matters differs.
    pub fn same_container_as(&self, other: &SandboxSpec) -> bool {
        self.image == other.image
            && self.memory_bytes == other.memory_bytes
            && self.cpu_millis == other.cpu_millis
            && self.pids_limit == other.pids_limit
            && self.network == other.network
            && self.tmp_bytes == other.tmp_bytes
    }
}

/// One command to run in a sandbox.
#[derive(Clone, Debug, PartialEq)]
pub struct CommandSpec {
    /// A bash command line.
    pub command: String,
    /// Where it runs, inside the sandbox.
    pub cwd: String,
    /// Killed after this long.
    pub timeout: Duration,
    /// Killed after this long without printing anything.
    pub no_output_timeout: Option<Duration>,
    /// At most this many bytes of output are kept (head and tail); the rest is counted.
    pub output_cap: usize,
}

impl CommandSpec {
    pub fn new(command: impl Into<String>) -> Self {
        Self {
            command: command.into(),
            cwd: "/workspace".to_owned(),
            timeout: Duration::from_secs(10 * 60),
            no_output_timeout: None,
            output_cap: 64 * 1024,
        }
    }

    pub fn cwd(mut self, cwd: impl Into<String>) -> Self {
        self.cwd = cwd.into();
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn no_output_timeout(mut self, quiet: Duration) -> Self {
        self.no_output_timeout = Some(quiet);
        self
    }

    pub fn output_cap(mut self, bytes: usize) -> Self {
        self.output_cap = bytes;
        self
    }
}

/// A long-lived process to start in a sandbox (an external agent speaking a protocol
/// over its stdin and stdout): the same container and user as a command, its own
/// process group, and only the environment named here on top of the sandbox's own.
///
/// Its `HOME` is the sandbox's, `/tmp`: writable (the root filesystem is read-only),
/// a tmpfs, so what an agent keeps there stays out of the workspace and the
/// repository, counts against the sandbox's memory, and goes with the container. In
/// a sandbox made from a repository's prepared image it is `/home/sandbox` instead,
/// on a volume filled from the image that goes with the container too.
#[derive(Clone, Debug, PartialEq)]
pub struct ProcessSpec {
    /// The program and its arguments, run as they are: no shell unless `argv[0]` is
    /// one.
    pub argv: Vec<String>,
    /// Variables set for it, on top of the sandbox's fixed ones (`PATH`, `HOME`,
    /// `LANG`, `TERM`, ...), which a name given here replaces. Nothing of lucid's own
    /// environment is passed.
    pub env: Vec<(String, String)>,
    /// Where it runs, inside the sandbox.
    pub cwd: String,
    /// Killed after this long. None: it lives until it exits, is killed or cancelled,
    /// or its sandbox is destroyed (the sandbox's lifetime bounds it either way).
    pub timeout: Option<Duration>,
    /// At most this many bytes of its stderr are kept (head and tail); the rest is
    /// counted.
    pub stderr_cap: usize,
}

impl ProcessSpec {
    pub fn new<I, S>(argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            argv: argv.into_iter().map(Into::into).collect(),
            env: Vec::new(),
            cwd: "/workspace".to_owned(),
            timeout: None,
            stderr_cap: 64 * 1024,
        }
    }

    /// Sets one environment variable for the process.
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }

    pub fn cwd(mut self, cwd: impl Into<String>) -> Self {
        self.cwd = cwd.into();
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    pub fn stderr_cap(mut self, bytes: usize) -> Self {
        self.stderr_cap = bytes;
        self
    }

    /// Why this spec cannot be started, if it cannot: no program, a variable name
    /// that is empty or holds `=`, or a NUL byte anywhere (none can reach `execve`).
    pub fn problem(&self) -> Option<String> {
        if self.argv.is_empty() {
            return Some("no program to run".to_owned());
        }
        if let Some((name, _)) = self
            .env
            .iter()
            .find(|(name, _)| name.is_empty() || name.contains('='))
        {
            return Some(format!("{name:?} is not an environment variable name"));
        }
        let has_nul = self
            .argv
            .iter()
            .chain(self.env.iter().flat_map(|(name, value)| [name, value]))
            .chain([&self.cwd])
            .any(|s| s.contains('\0'));
        if has_nul {
            return Some("a NUL byte in its arguments, environment or directory".to_owned());
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_safe_ones() {
        let spec = SandboxSpec::default();
        assert_eq!(spec.memory_bytes, 2 << 30);
        assert_eq!(spec.cpu_millis, 1000);
        assert_eq!(spec.pids_limit, 512);
        assert_eq!(spec.network, Network::Off);
        assert_eq!(spec.image, "lucid-sandbox:latest");
    }

    #[test]
    fn a_warm_container_serves_only_an_identical_spec() {
        let base = SandboxSpec::default();
        assert!(base.same_container_as(&base.clone().lifetime(Duration::from_secs(5))));
        assert!(!base.same_container_as(&base.clone().network(Network::Bridge)));
        assert!(!base.same_container_as(&base.clone().memory_bytes(1 << 30)));
        let registries = base.clone().network(Network::Registries);
        assert!(!base.same_container_as(&registries));
        let pinned = RegistryPolicy::default().pin("r.test", ([10, 0, 0, 5], 80).into());
        assert!(registries.same_container_as(&registries.clone().registries(pinned)));
    }

    #[test]
    fn a_process_runs_in_the_workspace_with_no_extra_environment_by_default() {
        let spec = ProcessSpec::new(["claude", "--acp"]);
        assert_eq!(spec.argv, ["claude", "--acp"]);
        assert_eq!(spec.cwd, "/workspace");
        assert!(spec.env.is_empty());
        assert_eq!(spec.timeout, None);
        assert_eq!(spec.problem(), None);
        let spec = spec
            .env("A", "1")
            .env("B", "x=y")
            .cwd("/tmp")
            .stderr_cap(10);
        assert_eq!(
            spec.env,
            [("A".into(), "1".into()), ("B".into(), "x=y".into())]
        );
        assert_eq!((spec.cwd.as_str(), spec.stderr_cap), ("/tmp", 10));
    }

    #[test]
    fn a_process_spec_that_cannot_reach_execve_says_why() {
        let empty: [&str; 0] = [];
        assert!(ProcessSpec::new(empty).problem().is_some());
        assert!(ProcessSpec::new(["cat"]).env("", "x").problem().is_some());
        assert!(
            ProcessSpec::new(["cat"])
                .env("A=B", "x")
                .problem()
                .is_some()
        );
        assert!(
            ProcessSpec::new(["cat"])
                .env("A", "x\0y")
                .problem()
                .is_some()
        );
        assert!(ProcessSpec::new(["c\0at"]).problem().is_some());
        assert!(ProcessSpec::new(["cat"]).cwd("/w\0").problem().is_some());
    }
}
