//! Prepared sandboxes on Docker. A session's container cannot be committed usefully
//! (its root is read-only, its HOME a tmpfs, its workspace a bind mount), so a
//! repository's setup runs in a short-lived setup container of its own: the sandbox
//! image with the session's limits, user and network (admitted to the registry proxy
//! like the session's), a writable root filesystem, HOME at `/home/sandbox`, and a
//! scratch copy of the session's work tree at `/workspace`, so the script sees the
//! repository and every session starts from the same checkout whether it ran the
//! setup or not. On success the container is committed as `lucid-prepared:<key>`,
//! labelled with the repository, the key, the image it ran in and its own layer's
//! size; the session's sandbox then swaps its container for one from that image
//! (the same workspace mounted, HOME on a fresh volume the engine fills from the
//! image, the root read-only as ever). A later session whose key is the same, within
//! the kept time and on the same sandbox image, only swaps.
//!
//! Old prepared images are pruned ([`super::prune`]) at start and after a new one is
//! made.

use super::container::{self, Flavor};
use super::{
    Container, DockerSandbox, DockerSandboxes, container_name, docker_error, labels, lock,
};
use crate::sandbox::setup::{Prepared, Setup, SetupNews};
use crate::sandbox::spec::CommandSpec;
use crate::sandbox::workspace::{SandboxUser, Workspace};
use crate::sandbox::{CommandResult, Outcome, OutputChunk, SandboxError};
use bollard::Docker;
use bollard::models::ContainerConfig;
use bollard::query_parameters::{
    CommitContainerOptions, InspectContainerOptions, ListImagesOptions, RemoveImageOptions,
    UploadToContainerOptions,
};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The repository part of every prepared image's name.
const REPOSITORY: &str = "lucid-prepared";

/// The name a prepared image is kept under.
pub(super) fn image_tag(key: &str) -> String {
    format!("{REPOSITORY}:{key}")
}

impl DockerSandbox {
    /// See [`crate::sandbox::Sandbox::prepare`].
    pub(super) async fn prepare_from_image(
        &self,
        setup: &Setup,
        live: Option<&mpsc::Sender<SetupNews>>,
        cancel: &CancellationToken,
    ) -> Result<Prepared, SandboxError> {
        let started = Instant::now();
        if !is_tag_safe(&setup.key) {
            return Err(SandboxError::Docker(format!(
                "{:?} cannot name an image",
                setup.key
            )));
        }
        let _one_at_a_time = self.preparing.lock().await;
        if self.replaced.get().is_some() {
            return Err(SandboxError::Unsupported("be prepared twice"));
        }
        self.first.check_alive()?;
        self.owner.prune_once_in_background();
        let docker = self.owner.shared.engine.client().await?;
        // A second session on the key waits here for the first's image.
        let key_lock = self.owner.key_lock(&setup.key);
        let held = tokio::select! {
            held = key_lock.lock() => held,
            () = cancel.cancelled() => {
                return Err(SandboxError::Gone(
                    "stopped while another session prepared the same setup".to_owned(),
                ));
            }
        };
        let base = base_image(docker, &self.spec.image).await?;
        let mut found = find(docker, &setup.key, &base, self.spec.prepared.max_age).await?;
        let mut ran = None;
        loop {
            let image = match found.take() {
                Some(image) => image,
                None => {
                    let (image, result) =
                        self.run_setup(docker, setup, &base, live, cancel).await?;
                    ran = Some(result);
                    image
                }
            };
            match self.swap_to(&image).await {
                Ok(()) => break,
                // Removed between finding and using it: make it again.
                Err(SandboxError::ImageMissing { .. }) if ran.is_none() => continue,
                Err(e) => return Err(e),
            }
        }
        drop(held);
        let took = started.elapsed();
        if ran.is_some() {
            match self.owner.prune_prepared().await {
                Ok(0) => {}
                Ok(removed) => tracing::info!(removed, "pruned old prepared images"),
                Err(e) => tracing::warn!(error = %e, "could not prune prepared images"),
            }
        }
        Ok(Prepared {
            image: image_tag(&setup.key),
            reused: ran.is_none(),
            took,
            setup: ran,
        })
    }

    /// Runs the setup in a container of its own and commits it; answers the new
    /// image's id and the setup's run.
    async fn run_setup(
        &self,
        docker: &Docker,
        setup: &Setup,
        base: &str,
        live: Option<&mpsc::Sender<SetupNews>>,
        cancel: &CancellationToken,
    ) -> Result<(String, CommandResult), SandboxError> {
        let owner = &self.owner;
        let name = container_name(&self.session_label, Some("setup"));
        let scratch =
            Workspace::create(&owner.shared.settings.workspaces, &name, owner.shared.user)?;
        let (from, to) = (
            self.first.workspace.path().to_owned(),
            scratch.path().to_owned(),
        );
        let copied = tokio::task::spawn_blocking(move || copy_tree(&from, &to))
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)))
            .and_then(|()| scratch.hand_over());
        if let Err(e) = copied {
            let _ = scratch.remove();
            return Err(e.into());
        }
        let container = owner
            .launch(
                &self.spec,
                &self.session_label,
                &name,
                scratch,
                Flavor::Setup,
            )
            .await?;
        let ran = self
            .setup_in(&container, docker, setup, base, live, cancel)
            .await;
        // With its scratch work tree; what the setup left is in the image (or gone).
        if let Err(e) = container.destroy().await {
            tracing::warn!(container = %container.id, error = %e, "could not remove a setup's container");
        }
        ran
    }

    async fn setup_in(
        &self,
        container: &Container,
        docker: &Docker,
        setup: &Setup,
        base: &str,
        live: Option<&mpsc::Sender<SetupNews>>,
        cancel: &CancellationToken,
    ) -> Result<(String, CommandResult), SandboxError> {
        let mut command = String::new();
        if let Some(link) = container.registry.get() {
            // What the setup reaches is the session's to see.
            match &self.reports {
                Some(reports) => link.proxy.admit_reporting(
                    link.ip,
                    self.spec.registries.clone(),
                    reports.clone(),
                ),
                None => drop(link.proxy.admit(link.ip, self.spec.registries.clone())),
            }
            // On the command line, not in the container: the image keeps no proxy.
            for variable in container::proxy_environment(link.proxy.addr()) {
                let quoted = shlex::try_quote(&variable)
                    .map_err(|e| SandboxError::Docker(format!("the proxy's setting: {e}")))?;
                command.push_str(&format!("export {quoted}\n"));
            }
        }
        command.push_str(&setup.command);
        if let Some(live) = live {
            let _ = live.send(SetupNews::Started).await;
        }
        let spec = CommandSpec::new(command).timeout(self.spec.prepared.setup_timeout);
        let result = self.run_watched(container, &spec, live, cancel).await?;
        if result.outcome != Outcome::Exited(0) {
            return Err(SandboxError::SetupFailed(Box::new(result)));
        }
        let image = commit(docker, container, setup, base).await?;
        supersede(docker, &setup.key, &image).await;
        Ok((image, result))
    }

    /// Runs `spec` in `container`, passing its output on to `live`, and keeps the
    /// sandbox from counting as idle meanwhile.
    async fn run_watched(
        &self,
        container: &Container,
        spec: &CommandSpec,
        live: Option<&mpsc::Sender<SetupNews>>,
        cancel: &CancellationToken,
    ) -> Result<CommandResult, SandboxError> {
        let (chunks, mut printed) = mpsc::channel::<OutputChunk>(64);
        let running = async move {
            let result = container.run(spec, Some(&chunks), cancel).await;
            drop(chunks);
            result
        };
        let passing_on = async {
            let mut tick = tokio::time::interval(Duration::from_secs(10));
            loop {
                tokio::select! {
                    chunk = printed.recv() => match chunk {
                        Some(chunk) => {
                            if let Some(live) = live {
                                let _ = live.send(SetupNews::Output(chunk)).await;
                            }
                        }
                        None => break,
                    },
                    _ = tick.tick() => self.first.touch(),
                }
            }
        };
        let (result, ()) = tokio::join!(running, passing_on);
        self.first.touch();
        result
    }

    /// Puts a container from `image` in the first's place, with its workspace; the
    /// first goes.
    async fn swap_to(&self, image: &str) -> Result<(), SandboxError> {
        let old = &self.first;
        old.check_alive()?;
        let name = container_name(&self.session_label, None);
        let new = self
            .owner
            .launch(
                &self.spec,
                &self.session_label,
                &name,
                old.workspace.clone(),
                Flavor::Prepared { image },
            )
            .await?;
        // Reaped meanwhile (past its lifetime), with the workspace: nothing to keep.
        if let Err(e) = old.check_alive() {
            let _ = new.destroy().await;
            return Err(e);
        }
        *lock(&new.expires_at) = *lock(&old.expires_at);
        new.touch();
        if let (Some(link), Some(reports)) = (new.registry.get(), &self.reports) {
            link.proxy
                .admit_reporting(link.ip, self.spec.registries.clone(), reports.clone());
        }
        // The workspace is the new container's from here on.
        old.keeps_workspace.store(true, Ordering::SeqCst);
        new.keeps_workspace.store(false, Ordering::SeqCst);
        {
            let mut live = self.owner.live();
            live.remove(&old.id);
            live.insert(new.id.clone(), new.clone());
        }
        let _ = self.replaced.set(new);
        // Not waited for: the sandbox is ready without it.
        let old = old.clone();
        tokio::spawn(async move {
            if let Err(e) = old.destroy().await {
                tracing::warn!(container = %old.id, error = %e, "could not remove a replaced sandbox");
            }
        });
        Ok(())
    }
}

impl DockerSandboxes {
    /// The lock that makes one preparation of `key` at a time.
    fn key_lock(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut preparing = lock(&self.shared.preparing);
        // Forget the keys no one holds or waits for.
        preparing.retain(|_, held| Arc::strong_count(held) > 1);
        preparing.entry(key.to_owned()).or_default().clone()
    }

    /// The keys being prepared now.
    pub(super) fn keys_held(&self) -> HashSet<String> {
        lock(&self.shared.preparing)
            .iter()
            .filter(|(_, held)| held.try_lock().is_err())
            .map(|(key, _)| key.clone())
            .collect()
    }
}

/// Whether `key` can be an image tag as it is (what lucid's keys are: hex).
fn is_tag_safe(key: &str) -> bool {
    !key.is_empty() && key.len() <= 128 && key.bytes().all(|b| b.is_ascii_hexdigit())
}

pub(super) fn unix_seconds(at: SystemTime) -> i64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The id of the image sandboxes run (prepared images are made on it, and kept for
/// it only).
async fn base_image(docker: &Docker, image: &str) -> Result<String, SandboxError> {
    match docker.inspect_image(image).await.map_err(docker_error) {
        Ok(inspected) => inspected.id.ok_or_else(|| SandboxError::ImageMissing {
            image: image.to_owned(),
        }),
        Err(SandboxError::Gone(_)) => Err(SandboxError::ImageMissing {
            image: image.to_owned(),
        }),
        Err(e) => Err(e),
    }
}

/// The prepared image for `key`, made on `base` less than `max_age` ago, if there is
/// one.
async fn find(
    docker: &Docker,
    key: &str,
    base: &str,
    max_age: Duration,
) -> Result<Option<String>, SandboxError> {
    let tag = image_tag(key);
    let now = unix_seconds(SystemTime::now());
    let max_age = i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX);
    let images = images_of(docker, key).await?;
    Ok(images
        .into_iter()
        .filter(|image| image.repo_tags.contains(&tag))
        .filter(|image| image.labels.get(labels::PREPARED_BASE).map(String::as_str) == Some(base))
        .find(|image| now.saturating_sub(image.created) <= max_age)
        .map(|image| image.id))
}

/// Every prepared image of `key`, tagged or left untagged by a newer one.
async fn images_of(
    docker: &Docker,
    key: &str,
) -> Result<Vec<bollard::models::ImageSummary>, SandboxError> {
    labelled(docker, &format!("{}={key}", labels::PREPARED_KEY)).await
}

/// The engine's images with `label` (`name=value`).
pub(super) async fn labelled(
    docker: &Docker,
    label: &str,
) -> Result<Vec<bollard::models::ImageSummary>, SandboxError> {
    docker
        .list_images(Some(ListImagesOptions {
            filters: Some(HashMap::from([(
                "label".to_owned(),
                vec![label.to_owned()],
            )])),
            ..Default::default()
        }))
        .await
        .map_err(docker_error)
}

/// Commits the setup's container as the prepared image of `setup`; answers its id.
async fn commit(
    docker: &Docker,
    container: &Container,
    setup: &Setup,
    base: &str,
) -> Result<String, SandboxError> {
    // What the setup left: the container's own layer.
    let inspected = docker
        .inspect_container(&container.id, Some(InspectContainerOptions { size: true }))
        .await
        .map_err(docker_error)?;
    let bytes = inspected.size_rw.unwrap_or(0).max(0);
    let image_labels = HashMap::from([
        (labels::PREPARED.to_owned(), "true".to_owned()),
        (
            labels::PREPARED_REPOSITORY.to_owned(),
            setup.repository.clone(),
        ),
        (labels::PREPARED_KEY.to_owned(), setup.key.clone()),
        (labels::PREPARED_BASE.to_owned(), base.to_owned()),
        (labels::PREPARED_BYTES.to_owned(), bytes.to_string()),
    ]);
    let options = CommitContainerOptions {
        container: Some(container.id.clone()),
        repo: Some(REPOSITORY.to_owned()),
        tag: Some(setup.key.clone()),
        comment: Some(format!("lucid: the setup of {}", setup.repository)),
        author: Some("lucid".to_owned()),
        pause: true,
        ..Default::default()
    };
    let config = ContainerConfig {
        labels: Some(image_labels),
        ..Default::default()
    };
    let committed = docker
        .commit_container(options, config)
        .await
        .map_err(docker_error)?;
    Ok(committed.id)
}

/// Removes the images of `key` other than `current` (a newer setup replaced them),
/// those no container holds.
async fn supersede(docker: &Docker, key: &str, current: &str) {
    let images = match images_of(docker, key).await {
        Ok(images) => images,
        Err(e) => {
            tracing::warn!(error = %e, "could not list the prepared images of a key");
            return;
        }
    };
    for image in images.iter().filter(|image| image.id != current) {
        remove_image(docker, &image.id).await;
    }
}

/// Removes an image unless a container holds it; answers whether it went.
pub(super) async fn remove_image(docker: &Docker, id: &str) -> bool {
    let options = RemoveImageOptions {
        force: false,
        noprune: false,
        ..Default::default()
    };
    match docker.remove_image(id, Some(options), None).await {
        Ok(_) => true,
        Err(e) => {
            // In use (409) or gone already (404): nothing to do.
            tracing::debug!(image = id, error = %e, "a prepared image was not removed");
            false
        }
    }
}

/// Makes `/home/sandbox` in a created setup container the sandbox user's (the
/// sandbox image's user may have another uid than lucid's), before it starts.
pub(super) async fn make_home(
    docker: &Docker,
    container: &str,
    user: SandboxUser,
) -> Result<(), SandboxError> {
    let home = container::PREPARED_HOME.trim_start_matches('/');
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Directory);
    header
        .set_path(format!("{home}/"))
        .map_err(SandboxError::Workspace)?;
    header.set_mode(0o755);
    header.set_uid(u64::from(user.uid));
    header.set_gid(u64::from(user.gid));
    header.set_size(0);
    header.set_mtime(u64::try_from(unix_seconds(SystemTime::now())).unwrap_or(0));
    header.set_cksum();
    let mut archive = tar::Builder::new(Vec::new());
    archive
        .append(&header, std::io::empty())
        .map_err(SandboxError::Workspace)?;
    let archive = archive.into_inner().map_err(SandboxError::Workspace)?;
    docker
        .upload_to_container(
            container,
            Some(UploadToContainerOptions {
                path: "/".to_owned(),
                ..Default::default()
            }),
            bollard::body_full(archive.into()),
        )
        .await
        .map_err(docker_error)
}

/// Copies the tree at `from` into the (existing, empty) directory `to`: directories,
/// files with their modes, symlinks as links (never followed).
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type()?;
        if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&source)?, &target)?;
        } else if kind.is_dir() {
            std::fs::create_dir(&target)?;
            std::fs::set_permissions(&target, std::fs::metadata(&source)?.permissions())?;
            copy_tree(&source, &target)?;
        } else if kind.is_file() {
            std::fs::copy(&source, &target)?;
        }
        // Sockets and pipes are no part of a repository.
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_of_a_tree_keeps_its_files_modes_and_links() {
        use std::os::unix::fs::PermissionsExt;
        let from = tempfile::tempdir().unwrap();
        let to = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(from.path().join(".lucid")).unwrap();
        std::fs::write(from.path().join(".lucid/setup.sh"), "echo hi\n").unwrap();
        std::fs::set_permissions(
            from.path().join(".lucid/setup.sh"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        std::os::unix::fs::symlink("/etc/passwd", from.path().join("link")).unwrap();
        copy_tree(from.path(), to.path()).unwrap();
        let script = to.path().join(".lucid/setup.sh");
        assert_eq!(std::fs::read_to_string(&script).unwrap(), "echo hi\n");
        assert_eq!(
            std::fs::metadata(&script).unwrap().permissions().mode() & 0o777,
            0o755
        );
        assert_eq!(
            std::fs::read_link(to.path().join("link")).unwrap(),
            Path::new("/etc/passwd")
        );
    }

    #[test]
    fn only_hex_keys_name_an_image() {
        assert!(is_tag_safe(&"ab12".repeat(16)));
        assert!(!is_tag_safe(""));
        assert!(!is_tag_safe("../x"));
        assert_eq!(image_tag("ab"), "lucid-prepared:ab");
    }
}
