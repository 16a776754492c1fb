//! The registry proxy of the `registries` network mode: an HTTP(S) proxy lucid runs
//! on the host, the only way out of a sandbox on an internal network. It tunnels
//! `CONNECT host:port` and forwards plain `GET http://host/...` requests only to the
//! hosts on a sandbox's allow-list, never to an address that is not public (whatever
//! a name resolves to) unless an operator pinned that name there, and reports every
//! host reached or refused, with the bytes each way, to the sandbox's session.
//!
//! What it does not do: look inside TLS. A tunnel to an allowed host carries whatever
//! the sandbox sends it, so a CDN that serves many sites from one address could be
//! asked for another site inside the tunnel; the allow-list bounds where connections
//! go, not what they carry.

mod addr;
mod allow;
mod head;
mod pipe;
mod reach;
mod server;
#[cfg(test)]
mod tests;

pub use addr::refusal as address_refusal;
pub use allow::{AllowList, DEFAULT_HOSTS, DEFAULTS_WORD, normalize_host};
pub use server::{ProxyLimits, RegistryProxy};

use std::collections::BTreeMap;
use std::net::SocketAddr;

/// One connection a sandbox made (or tried to make) through the proxy, reported when
/// it ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostReached {
    /// As the sandbox named it, normalised: lower case, no trailing dot.
    pub host: String,
    pub port: u16,
    /// Bytes sent to the host: request heads and bodies, or the tunnel's bytes.
    pub bytes_up: u64,
    /// Bytes the host sent back.
    pub bytes_down: u64,
    /// Why the proxy refused (not on the allow-list, a private address...): nothing
    /// reached the host.
    pub refused: Option<String>,
    /// Allowed, but it went wrong: the host did not answer, or the connection was cut
    /// for idleness.
    pub error: Option<String>,
}

impl HostReached {
    fn new(host: &str, port: u16) -> Self {
        Self {
            host: host.to_owned(),
            port,
            bytes_up: 0,
            bytes_down: 0,
            refused: None,
            error: None,
        }
    }
}

/// Where one sandbox may go through the proxy.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct RegistryPolicy {
    pub hosts: AllowList,
    /// Names the operator pinned to an address (`registry.test=127.0.0.1:8080`, as
    /// curl's `--resolve`): allowed, and connected to at exactly that address, port
    /// included, even a private one. For an internal mirror, and for tests.
    pub pins: BTreeMap<String, SocketAddr>,
}

impl RegistryPolicy {
    pub fn hosts(mut self, hosts: AllowList) -> Self {
        self.hosts = hosts;
        self
    }

    /// Pins `name` to `addr`. A name that is not a host name never matches.
    pub fn pin(mut self, name: &str, addr: SocketAddr) -> Self {
        let name = normalize_host(name).unwrap_or_else(|| name.to_owned());
        self.pins.insert(name, addr);
        self
    }

    fn pinned(&self, host: &str) -> Option<SocketAddr> {
        self.pins.get(host).copied()
    }

    fn allows(&self, host: &str) -> bool {
        self.hosts.allows(host)
    }
}

/// A pin as the settings write it: `name=address:port`, `name=[v6]:port`.
pub fn parse_pin(text: &str) -> Result<(String, SocketAddr), String> {
    let bad = || format!("{text:?} is not a pin such as registry.internal=10.0.0.5:8080");
    let (name, addr) = text.split_once('=').ok_or_else(bad)?;
    let name = normalize_host(name.trim())
        .filter(|n| n.parse::<std::net::IpAddr>().is_err())
        .ok_or_else(bad)?;
    let addr = addr.trim().parse::<SocketAddr>().map_err(|_| bad())?;
    Ok((name, addr))
}
