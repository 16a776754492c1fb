//! Getting to a registry: the policy asked, the name resolved once, every address it
//! resolves to checked, and a connection made to one of those very addresses (never
//! looked up a second time, so a name cannot rebind between the check and the
//! connection).

use super::server::ProxyLimits;
use super::{RegistryPolicy, addr};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::timeout;

pub(super) enum Unreachable {
    /// The policy says no.
    Refused(String),
    /// Allowed, but it did not answer.
    Failed(String),
}

/// Checks `host` against the policy, resolves it once, checks every address it
/// resolves to, and connects to one of those very addresses.
pub(super) async fn reach(
    policy: &RegistryPolicy,
    host: &str,
    port: u16,
    limits: &ProxyLimits,
) -> Result<TcpStream, Unreachable> {
    let addrs = match policy.pinned(host) {
        // The operator's explicit choice: private addresses too.
        Some(pinned) => vec![pinned],
        None => checked_addresses(policy, host, port, limits.connect_timeout).await?,
    };
    let connect = async {
        let mut last = io::Error::from(io::ErrorKind::AddrNotAvailable);
        for addr in &addrs {
            match TcpStream::connect(addr).await {
                Ok(stream) => return Ok(stream),
                Err(e) => last = e,
            }
        }
        Err(last)
    };
    match timeout(limits.connect_timeout, connect).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(e)) => Err(Unreachable::Failed(format!(
            "cannot connect to {host}: {e}"
        ))),
        Err(_) => Err(Unreachable::Failed(format!(
            "{host} did not answer in time"
        ))),
    }
}

async fn checked_addresses(
    policy: &RegistryPolicy,
    host: &str,
    port: u16,
    limit: Duration,
) -> Result<Vec<SocketAddr>, Unreachable> {
    if !policy.allows(host) {
        return Err(Unreachable::Refused(format!(
            "{host} is not on the registry allow-list"
        )));
    }
    let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => match timeout(limit, tokio::net::lookup_host((host, port))).await {
            Ok(Ok(found)) => found.collect(),
            Ok(Err(e)) => return Err(Unreachable::Failed(format!("{host} does not resolve: {e}"))),
            Err(_) => {
                return Err(Unreachable::Failed(format!(
                    "{host} did not resolve in time"
                )));
            }
        },
    };
    // One address that is not public refuses them all: a name pointing both ways is
    // someone trying their luck.
    for ip in addrs.iter().map(SocketAddr::ip) {
        if let Some(kind) = addr::refusal(ip) {
            let what = if host == ip.to_string() {
                format!("{ip} is a {kind} address")
            } else {
                format!("{host} resolves to {ip}, a {kind} address")
            };
            return Err(Unreachable::Refused(what));
        }
    }
    if addrs.is_empty() {
        return Err(Unreachable::Failed(format!(
            "{host} resolves to no address"
        )));
    }
    Ok(addrs)
}
