//! What a sandbox is made of, spelled out: image, limits, network, lifetime. Safe
//! defaults; every change is a named builder call.

use std::time::Duration;

pub const DEFAULT_IMAGE: &str = "lucid-sandbox:latest";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Network {
    /// No network at all: only a loopback interface.
    Off,
    /// Docker's bridge network, for sessions that must install packages.
    Bridge,
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
    }
}
