//! Live previews: a port of the sandbox published at `<public url>/preview/<session>/`
//! when a person ("@lucid preview 3000") or the agent asks, served by lucid's HTTP
//! server from the sandbox's address on the host's side of Docker's network (nothing
//! is published on the host), and closed when the sandbox goes.

use crate::agent::StepLog;
use crate::core::EventBody;
use crate::messages;
use crate::sandbox::Sandbox;
use crate::store::StoreError;
use crate::web::Previews;
use std::net::SocketAddr;

/// Where this run's previews are opened, and the link people get.
pub struct PreviewDoor<'a> {
    pub previews: &'a Previews,
    pub url: &'a str,
}

/// Opens `port` as the session's preview, or says why not; the link is logged (and so
/// posted) once a port, however often it is asked for.
pub async fn open(
    door: Option<&PreviewDoor<'_>>,
    steps: &StepLog<'_>,
    sandbox: &dyn Sandbox,
    port: u16,
    opened: &mut Option<u16>,
) -> Result<(), StoreError> {
    let Some(door) = door else {
        let reason = messages::previews_not_served();
        return steps.log(EventBody::PreviewRefused { reason }).await;
    };
    let Some(address) = sandbox.address() else {
        let reason = messages::preview_needs_network();
        return steps.log(EventBody::PreviewRefused { reason }).await;
    };
    door.previews
        .open(steps.session, SocketAddr::new(address, port));
    if *opened == Some(port) {
        return Ok(());
    }
    *opened = Some(port);
    steps
        .log(EventBody::PreviewOpened {
            port,
            url: door.url.to_owned(),
        })
        .await
}
