//! Cleaning up: containers a killed lucid left behind, and sandboxes left idle or
//! past their lifetime.

use super::{DockerSandboxes, docker_error, labels, lock};
use crate::sandbox::SandboxError;
use bollard::query_parameters::{ListContainersOptions, RemoveContainerOptions};
use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

impl DockerSandboxes {
    /// Removes every container of this lucid (its workspace is under this lucid's
    /// workspaces directory) that this process does not hold and whose session
    /// `is_live` does not claim (a session another replica runs). Another lucid on
    /// the same engine, with its own workspaces, is left alone. Returns how many
    /// were removed.
    pub async fn reap_orphans(
        &self,
        is_live: impl Fn(&str) -> bool,
    ) -> Result<usize, SandboxError> {
        let docker = self.shared.engine.client().await?;
        let filters = HashMap::from([(
            "label".to_owned(),
            vec![format!("{}=true", labels::MANAGED)],
        )]);
        let containers = docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(filters),
                ..Default::default()
            }))
            .await
            .map_err(docker_error)?;
        let mut removed = 0;
        for summary in containers {
            let Some(id) = summary.id else { continue };
            if self.live().contains_key(&id) || self.shared.pool.contains(&id).await {
                continue;
            }
            let container_labels = summary.labels.unwrap_or_default();
            let Some(workspace) = container_labels.get(labels::WORKSPACE).map(Path::new) else {
                continue;
            };
            if !self.owns_workspace(workspace) {
                continue;
            }
            let session = container_labels
                .get(labels::SESSION)
                .map(String::as_str)
                .unwrap_or("");
            if session != labels::POOL_SESSION && is_live(session) {
                continue;
            }
            remove(docker, &id, workspace).await?;
            removed += 1;
            tracing::info!(container = %id, session, "removed an orphaned sandbox");
        }
        Ok(removed)
    }

    /// Removes the containers of `session` this process does not hold (left by a
    /// lucid that died while running it), with their workspaces. Answers how many.
    pub async fn reap_session(&self, session: &str) -> Result<usize, SandboxError> {
        let docker = self.shared.engine.client().await?;
        let filters = HashMap::from([(
            "label".to_owned(),
            vec![
                format!("{}=true", labels::MANAGED),
                format!("{}={session}", labels::SESSION),
            ],
        )]);
        let containers = docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(filters),
                ..Default::default()
            }))
            .await
            .map_err(docker_error)?;
        let mut removed = 0;
        for summary in containers {
            let Some(id) = summary.id else { continue };
            if self.live().contains_key(&id) {
                continue;
            }
            let container_labels = summary.labels.unwrap_or_default();
            let Some(workspace) = container_labels.get(labels::WORKSPACE).map(Path::new) else {
                continue;
            };
            if !self.owns_workspace(workspace) {
                continue;
            }
            remove(docker, &id, workspace).await?;
            removed += 1;
            tracing::info!(container = %id, session, "removed a sandbox left by a run that died");
        }
        Ok(removed)
    }

    /// Whether `workspace` is one of this lucid's: directly inside its workspaces
    /// directory. Nothing outside it is ever removed, whatever a label says.
    fn owns_workspace(&self, workspace: &Path) -> bool {
        let root = &self.shared.settings.workspaces;
        workspace.parent() == Some(root.as_path())
            && workspace
                .file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with("lucid-"))
    }

    /// Destroys sandboxes idle longer than the idle timeout or past their lifetime.
    /// Returns how many.
    pub async fn reap_expired(&self, now: Instant) -> usize {
        let idle_timeout = self.shared.settings.idle_timeout;
        let expired: Vec<_> = self
            .live()
            .values()
            .filter(|c| {
                now.saturating_duration_since(*lock(&c.last_used)) >= idle_timeout
                    || now >= *lock(&c.expires_at)
            })
            .cloned()
            .collect();
        for container in &expired {
            self.live().remove(&container.id);
            if let Err(e) = container.destroy().await {
                tracing::warn!(container = %container.id, error = %e, "could not reap a sandbox");
            }
        }
        expired.len()
    }

    /// Reaps idle sandboxes every `every` until the process ends.
    pub fn reap_expired_in_background(&self, every: std::time::Duration) {
        let sandboxes = self.clone();
        crate::background::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let reaped = sandboxes.reap_expired(Instant::now()).await;
                if reaped > 0 {
                    tracing::info!(reaped, "destroyed idle or expired sandboxes");
                }
            }
        });
    }
}

/// Removes container `id` (gone already is as good) and its workspace.
async fn remove(docker: &bollard::Docker, id: &str, workspace: &Path) -> Result<(), SandboxError> {
    let options = RemoveContainerOptions {
        force: true,
        v: true,
        ..Default::default()
    };
    match docker
        .remove_container(id, Some(options))
        .await
        .map_err(docker_error)
    {
        Ok(()) | Err(SandboxError::Gone(_)) => {}
        Err(e) => return Err(e),
    }
    if let Err(e) = std::fs::remove_dir_all(workspace) {
        tracing::warn!(path = %workspace.display(), error = %e, "could not remove a workspace");
    }
    Ok(())
}
