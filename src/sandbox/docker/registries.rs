//! The `registries` network on the engine, and the proxy that is its only way out.
//!
//! The network is a Docker *internal* bridge: the engine drops whatever a container
//! on it sends beyond its subnet, so there is no route to the internet. The bridge's
//! interface on the host still holds the network's gateway address, and a container
//! reaches a listener bound to it (seen on Docker 20.10; Docker 25.0.0 dropped that
//! address from internal bridges and 25.0.4 restored it, so 28 has it too). So lucid's
//! registry proxy listens on exactly that address, on a port of its own, and a
//! sandbox's HTTP(S)_PROXY points there. lucid must therefore run on the Docker host
//! itself, not in a container of its own or against a remote engine.
//!
//! Containers on the network cannot reach each other (`enable_icc=false`), so one
//! session's sandbox cannot reach another's. What the internal network does not
//! stop: services of the host listening on all addresses answer on the gateway
//! address too (and, before Docker 25, on the host's other addresses, through the
//! default route internal networks then had). Bind such services to loopback, or
//! drop input from the bridge `lucid-reg0` but to the proxy's port in the host's
//! firewall.

use super::{Container, DockerSandboxes, docker_error, labels};
use crate::sandbox::SandboxError;
use crate::sandbox::proxy::{ProxyLimits, RegistryProxy};
use crate::sandbox::spec::{Network, SandboxSpec};
use bollard::Docker;
use bollard::models::{NetworkCreateRequest, NetworkInspect};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

pub(super) const NETWORK: &str = "lucid-registries";
/// The bridge's interface name on the host (at most 15 characters), for firewall
/// rules. The engine refuses a second network with the same bridge, so two lucids
/// making the network at once cannot end up with two of that name.
const BRIDGE: &str = "lucid-reg0";

/// Where a sandbox's connections to the proxy come from.
pub(super) struct RegistryLink {
    pub proxy: Arc<RegistryProxy>,
    pub ip: IpAddr,
}

impl DockerSandboxes {
    /// The proxy for a spec on the registries network, started (and the network made)
    /// the first time one is asked for; None for other networks.
    pub(super) async fn proxy_for(
        &self,
        spec: &SandboxSpec,
    ) -> Result<Option<Arc<RegistryProxy>>, SandboxError> {
        if spec.network != Network::Registries {
            return Ok(None);
        }
        let proxy = self
            .shared
            .registries
            .get_or_try_init(|| async {
                let docker = self.shared.engine.client().await?;
                let gateway = ensure_network(docker).await?;
                let listen = SocketAddr::new(gateway, 0);
                let proxy = RegistryProxy::bind(listen, ProxyLimits::default())
                    .await
                    .map_err(|e| {
                        SandboxError::Registries(format!(
                            "cannot listen on {gateway}, the gateway of {NETWORK}: {e} \
                             (lucid must run on the Docker host itself)"
                        ))
                    })?;
                tracing::info!(address = %proxy.addr(), "registry proxy listening");
                Ok::<_, SandboxError>(Arc::new(proxy))
            })
            .await?;
        Ok(Some(proxy.clone()))
    }
}

/// Whether sandboxes on the registries network can be served here: the network is
/// made if missing and a listener bound on its gateway (then let go). Answers the
/// gateway, for `lucid doctor`.
pub async fn registries_ready(
    engine: &crate::sandbox::DockerEngine,
) -> Result<IpAddr, SandboxError> {
    let docker = engine.client().await?;
    let gateway = ensure_network(docker).await?;
    tokio::net::TcpListener::bind(SocketAddr::new(gateway, 0))
        .await
        .map_err(|e| {
            SandboxError::Registries(format!(
                "cannot listen on {gateway}, the gateway of {NETWORK}: {e}"
            ))
        })?;
    Ok(gateway)
}

/// Notes where `container` connects from, so the proxy can tell whose it is.
pub(super) async fn link(
    container: &Container,
    docker: &Docker,
    proxy: Arc<RegistryProxy>,
) -> Result<(), SandboxError> {
    let inspected = docker
        .inspect_container(&container.id, None)
        .await
        .map_err(docker_error)?;
    let ip = inspected
        .network_settings
        .and_then(|settings| settings.networks)
        .and_then(|networks| networks.get(NETWORK)?.ip_address.clone())
        .and_then(|ip| ip.parse::<IpAddr>().ok())
        .ok_or_else(|| {
            SandboxError::Registries(format!("the container has no address on {NETWORK}"))
        })?;
    let _ = container.registry.set(RegistryLink { proxy, ip });
    Ok(())
}

/// The network's gateway address, after making the network if it is missing.
async fn ensure_network(docker: &Docker) -> Result<IpAddr, SandboxError> {
    let network = match docker.inspect_network(NETWORK, None).await {
        Ok(network) => network,
        Err(e) => {
            let missing = docker_error(e);
            if !matches!(missing, SandboxError::Gone(_)) {
                return Err(missing);
            }
            let created = docker.create_network(network_request()).await;
            // Made by another lucid meanwhile is as good as made here.
            match docker.inspect_network(NETWORK, None).await {
                Ok(network) => network,
                Err(e) => return Err(docker_error(created.err().unwrap_or(e))),
            }
        }
    };
    gateway(&network)
}

fn network_request() -> NetworkCreateRequest {
    NetworkCreateRequest {
        name: NETWORK.to_owned(),
        driver: Some("bridge".to_owned()),
        internal: Some(true),
        labels: Some(HashMap::from([(
            labels::MANAGED.to_owned(),
            "true".to_owned(),
        )])),
        options: Some(HashMap::from([
            (
                "com.docker.network.bridge.name".to_owned(),
                BRIDGE.to_owned(),
            ),
            (
                "com.docker.network.bridge.enable_icc".to_owned(),
                "false".to_owned(),
            ),
        ])),
        ..Default::default()
    }
}

/// The IPv4 gateway of an internal network; a network of that name that is not
/// internal is refused, since a sandbox on it would reach everything.
fn gateway(network: &NetworkInspect) -> Result<IpAddr, SandboxError> {
    if network.internal != Some(true) {
        return Err(SandboxError::Registries(format!(
            "a network named {NETWORK} exists and is not internal: remove it \
             (`docker network rm {NETWORK}`) and lucid makes its own"
        )));
    }
    network
        .ipam
        .as_ref()
        .and_then(|ipam| ipam.config.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|config| config.gateway.as_deref()?.parse::<IpAddr>().ok())
        .find(IpAddr::is_ipv4)
        .ok_or_else(|| SandboxError::Registries(format!("{NETWORK} has no IPv4 gateway address")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{Ipam, IpamConfig};

    fn network(internal: bool, gateway: &str) -> NetworkInspect {
        NetworkInspect {
            internal: Some(internal),
            ipam: Some(Ipam {
                config: Some(vec![IpamConfig {
                    gateway: Some(gateway.to_owned()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn the_proxy_listens_on_the_gateway_of_an_internal_network_only() {
        assert_eq!(
            gateway(&network(true, "172.18.0.1")).unwrap(),
            IpAddr::from([172, 18, 0, 1])
        );
        assert!(gateway(&network(false, "172.18.0.1")).is_err());
        assert!(gateway(&network(true, "")).is_err());
        let request = network_request();
        assert_eq!(request.internal, Some(true));
        assert_eq!(
            request.options.unwrap()["com.docker.network.bridge.enable_icc"],
            "false"
        );
    }
}
