//! A container's address as the host reaches it, on whichever network it is (the
//! bridge, or the registries network): what a live preview is served from; and the
//! network's gateway, where the container reaches lucid on the host (the model
//! gateway).

use super::exec::docker_error;
use crate::sandbox::SandboxError;
use bollard::Docker;
use std::net::IpAddr;

/// A container's address, and its network's gateway when the network has one.
#[derive(Clone, Copy, Debug)]
pub(super) struct Addresses {
    pub container: IpAddr,
    pub gateway: Option<IpAddr>,
}

/// The container's first IPv4 address on any of its networks; None on no network.
pub(super) async fn of(
    docker: &Docker,
    container: &str,
) -> Result<Option<Addresses>, SandboxError> {
    let inspected = docker
        .inspect_container(container, None)
        .await
        .map_err(docker_error)?;
    let networks = inspected
        .network_settings
        .and_then(|settings| settings.networks)
        .unwrap_or_default();
    Ok(networks
        .values()
        .filter_map(|network| {
            let container = network.ip_address.as_deref()?.parse::<IpAddr>().ok()?;
            let gateway = network.gateway.as_deref().and_then(|g| g.parse().ok());
            Some(Addresses { container, gateway })
        })
        .find(|addresses| addresses.container.is_ipv4()))
}
