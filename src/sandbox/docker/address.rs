//! A container's address as the host reaches it, on whichever network it is (the
//! bridge, or the registries network): what a live preview is served from.

use super::exec::docker_error;
use crate::sandbox::SandboxError;
use bollard::Docker;
use std::net::IpAddr;

/// The container's first IPv4 address on any of its networks; None on no network.
pub(super) async fn of(docker: &Docker, container: &str) -> Result<Option<IpAddr>, SandboxError> {
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
        .filter_map(|network| network.ip_address.as_deref()?.parse::<IpAddr>().ok())
        .find(IpAddr::is_ipv4))
}
