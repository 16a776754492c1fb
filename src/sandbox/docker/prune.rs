//! Pruning prepared images: by age, then oldest first beyond the size allowed. Only
//! images labelled `lucid.prepared=true` are ever removed, never one a container uses
//! (nor one whose key is being prepared), and never by force: the engine refuses to
//! remove an image a container holds.

use super::prepared::{labelled, remove_image, unix_seconds};
use super::{DockerSandboxes, docker_error, labels};
use crate::sandbox::SandboxError;
use bollard::query_parameters::ListContainersOptions;
use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

impl DockerSandboxes {
    /// Prunes old prepared images in the background, the first time it is asked in
    /// this process.
    pub(super) fn prune_once_in_background(&self) {
        if self.shared.pruned_at_start.swap(true, Ordering::SeqCst) {
            return;
        }
        let sandboxes = self.clone();
        crate::background::spawn(async move {
            match sandboxes.prune_prepared().await {
                Ok(0) => {}
                Ok(removed) => tracing::info!(removed, "pruned old prepared images"),
                Err(e) => tracing::warn!(error = %e, "could not prune prepared images"),
            }
        });
    }

    /// Removes prepared images older than the kept time, then the oldest until the
    /// rest fit in the size allowed; never one a container uses or whose key is being
    /// prepared. Answers how many were removed.
    pub async fn prune_prepared(&self) -> Result<usize, SandboxError> {
        let docker = self.shared.engine.client().await?;
        let policy = self.shared.settings.spec.prepared;
        let images = labelled(docker, &format!("{}=true", labels::PREPARED)).await?;
        let containers = docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                ..Default::default()
            }))
            .await
            .map_err(docker_error)?;
        let used: HashSet<String> = containers.into_iter().filter_map(|c| c.image_id).collect();
        let held = self.keys_held();
        let kept: Vec<PreparedImage> = images
            .iter()
            .map(|image| PreparedImage {
                id: image.id.clone(),
                created: image.created,
                bytes: image
                    .labels
                    .get(labels::PREPARED_BYTES)
                    .and_then(|b| b.parse().ok())
                    .unwrap_or_else(|| u64::try_from(image.size).unwrap_or(0)),
                in_use: used.contains(&image.id)
                    || image
                        .labels
                        .get(labels::PREPARED_KEY)
                        .is_some_and(|key| held.contains(key)),
            })
            .collect();
        let now = unix_seconds(SystemTime::now());
        let mut removed = 0;
        for id in choose_prunes(&kept, now, policy.max_age, policy.max_size) {
            if remove_image(docker, &id).await {
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// A prepared image, as pruning weighs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct PreparedImage {
    pub id: String,
    /// Unix seconds.
    pub created: i64,
    /// Its own layer's size.
    pub bytes: u64,
    /// A container runs from it, or its key is being prepared: never removed.
    pub in_use: bool,
}

/// The images to remove: those older than `max_age`, then, oldest first, as many of
/// the rest as it takes for all that stay (those in use included) to fit in
/// `max_size`. Images in use are never chosen.
pub(super) fn choose_prunes(
    images: &[PreparedImage],
    now: i64,
    max_age: Duration,
    max_size: u64,
) -> Vec<String> {
    let max_age = i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX);
    let too_old = |image: &PreparedImage| now.saturating_sub(image.created) > max_age;
    let mut chosen: Vec<String> = images
        .iter()
        .filter(|image| !image.in_use && too_old(image))
        .map(|image| image.id.clone())
        .collect();
    let mut staying: Vec<&PreparedImage> = images
        .iter()
        .filter(|image| !chosen.contains(&image.id))
        .collect();
    let mut total: u64 = staying.iter().map(|image| image.bytes).sum();
    staying.sort_by_key(|image| (image.created, image.id.clone()));
    for image in staying {
        if total <= max_size {
            break;
        }
        if image.in_use {
            continue;
        }
        total -= image.bytes;
        chosen.push(image.id.clone());
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 24 * 3600;

    fn image(id: &str, age_days: i64, gb: u64, in_use: bool) -> PreparedImage {
        PreparedImage {
            id: id.to_owned(),
            created: 100 * DAY - age_days * DAY,
            bytes: gb << 30,
            in_use,
        }
    }

    fn prunes(images: &[PreparedImage], max_days: u64, max_gb: u64) -> Vec<String> {
        let max_age = Duration::from_secs(max_days * 24 * 3600);
        choose_prunes(images, 100 * DAY, max_age, max_gb << 30)
    }

    #[test]
    fn pruning_takes_the_too_old_then_the_oldest_beyond_the_size_and_never_one_in_use() {
        let images = [
            image("new", 0, 4, false),
            image("old", 9, 1, false),
            image("old-in-use", 10, 1, true),
            image("middle", 3, 4, false),
            image("older", 5, 4, false),
        ];
        // Within both limits but for age: only the old one not in use.
        assert_eq!(prunes(&images, 7, 100), ["old"]);
        // 13 GB stay after it; 8 allowed: the oldest not in use go until it fits.
        assert_eq!(prunes(&images, 7, 8), ["old", "older", "middle"]);
        // In use counts toward the size but is never chosen.
        assert_eq!(prunes(&images, 30, 1), ["old", "older", "middle", "new"]);
        assert!(prunes(&[], 7, 1).is_empty());
    }
}
