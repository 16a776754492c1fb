//! What a sandbox on the `registries` network reached through lucid's proxy (and what
//! it was refused), each connection logged as a session event while the run goes on.

use crate::core::{EventBody, SessionId};
use crate::sandbox::HostReached;
use crate::store::Store;
use std::future::Future;
use tokio::sync::mpsc::UnboundedReceiver;

/// Runs `work`, logging each report from `reports` as it comes (and those left when
/// the work is done).
pub async fn logging_hosts<T>(
    store: &Store,
    session: SessionId,
    reports: Option<UnboundedReceiver<HostReached>>,
    work: impl Future<Output = T>,
) -> T {
    let Some(mut reports) = reports else {
        return work.await;
    };
    tokio::pin!(work);
    loop {
        tokio::select! {
            out = &mut work => {
                while let Ok(report) = reports.try_recv() {
                    log(store, session, report).await;
                }
                return out;
            }
            report = reports.recv() => match report {
                Some(report) => log(store, session, report).await,
                // The proxy let go of this sandbox: only the work is left.
                None => return work.await,
            },
        }
    }
}

async fn log(store: &Store, session: SessionId, report: HostReached) {
    let body = EventBody::HostReached {
        host: report.host,
        port: report.port,
        bytes_up: report.bytes_up,
        bytes_down: report.bytes_down,
        refused: report.refused,
        error: report.error,
    };
    if let Err(e) = store.append_event(session, body).await {
        tracing::warn!(session = %session, error = %e, "a host reached is not in the log");
    }
}
