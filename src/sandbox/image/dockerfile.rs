//! The sandbox image from `sandbox-image/Dockerfile`, for engines that can reach a
//! registry for its base image.

use super::{ImageError, is_not_found};
use bollard::Docker;
use bollard::query_parameters::{BuildImageOptionsBuilder, CreateImageOptionsBuilder};
use futures::StreamExt;
use std::collections::HashMap;
use std::time::Duration;

/// Embedded, so the binary builds the image without a checkout of the repository.
pub(super) const DOCKERFILE: &str = include_str!("../../../sandbox-image/Dockerfile");
pub(super) const BASE_IMAGE: &str = "debian:bookworm-slim";

/// Makes sure the base image is on the engine, pulling it if need be. With a limit,
/// the registry must start answering within it; once a pull is under way it runs to its
/// end, so a slow but working registry still counts.
pub(super) async fn ensure_base(
    docker: &Docker,
    first_answer_within: Option<Duration>,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<(), ImageError> {
    match docker.inspect_image(BASE_IMAGE).await {
        Ok(_) => return Ok(()),
        Err(e) if is_not_found(&e) => {}
        Err(source) => {
            return Err(ImageError::Docker {
                action: "inspect the base image",
                source,
            });
        }
    }
    progress(&format!("pulling {BASE_IMAGE}…"));
    let unavailable = |reason: String| ImageError::BaseImageUnavailable {
        image: BASE_IMAGE,
        reason,
    };
    let options = CreateImageOptionsBuilder::new()
        .from_image(BASE_IMAGE)
        .build();
    let mut pull = docker.create_image(Some(options), None, None);
    let mut next = match first_answer_within {
        Some(limit) => tokio::time::timeout(limit, pull.next())
            .await
            .map_err(|_| {
                unavailable(format!("no registry answered within {} s", limit.as_secs()))
            })?,
        None => pull.next().await,
    };
    while let Some(message) = next {
        message.map_err(|e| unavailable(e.to_string()))?;
        next = pull.next().await;
    }
    Ok(())
}

/// Builds `tag` from the Dockerfile, passing the build's output on line by line.
pub(super) async fn build(
    docker: &Docker,
    tag: &str,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<(), ImageError> {
    let failed = |message: String| ImageError::DockerfileBuild {
        tag: tag.to_owned(),
        message,
    };
    let context = context().map_err(|e| failed(format!("cannot pack the build context: {e}")))?;
    build_from(docker, tag, context, &[], progress)
        .await
        .map_err(|e| match e {
            BuildFailed::Step(message) => failed(message),
            BuildFailed::Engine(e) => e,
        })
}

/// Why a build from a context failed: a step of the Dockerfile (the engine's message
/// says which and why), or the engine itself.
pub(super) enum BuildFailed {
    Step(String),
    Engine(ImageError),
}

/// Builds `tag` from a build context (a tar archive with a `Dockerfile`) and the
/// values of its `ARG`s, passing the build's output on line by line.
pub(super) async fn build_from(
    docker: &Docker,
    tag: &str,
    context: Vec<u8>,
    args: &[(&str, &str)],
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<(), BuildFailed> {
    let args: HashMap<&str, &str> = args.iter().copied().collect();
    let options = BuildImageOptionsBuilder::new()
        .t(tag)
        .rm(true)
        .forcerm(true)
        .buildargs(&args)
        .build();
    let mut output = docker.build_image(options, None, Some(bollard::body_full(context.into())));
    while let Some(message) = output.next().await {
        match message {
            Ok(info) => {
                for line in info.stream.iter().flat_map(|text| text.lines()) {
                    let line = line.trim_end();
                    if !line.is_empty() {
                        progress(line);
                    }
                }
            }
            Err(bollard::errors::Error::DockerStreamError { error }) => {
                return Err(BuildFailed::Step(error));
            }
            Err(source) => {
                return Err(BuildFailed::Engine(ImageError::Docker {
                    action: "build the image",
                    source,
                }));
            }
        }
    }
    Ok(())
}

/// The build context: a tar archive holding only the Dockerfile. The Docker API takes
/// the context as a tar body; it is made in memory because it is one small file.
pub(super) fn context() -> std::io::Result<Vec<u8>> {
    context_of(DOCKERFILE)
}

/// A build context holding only this Dockerfile, byte-identical from one build to the
/// next.
pub(super) fn context_of(dockerfile: &str) -> std::io::Result<Vec<u8>> {
    context_of_files(&[("Dockerfile", dockerfile.as_bytes())])
}

/// A build context holding these files (name, content), byte-identical from one build
/// to the next.
pub(super) fn context_of_files(files: &[(&str, &[u8])]) -> std::io::Result<Vec<u8>> {
    let mut archive = tar::Builder::new(Vec::new());
    for (name, content) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        // A fixed time keeps the context byte-identical from one build to the next.
        header.set_mtime(0);
        header.set_cksum();
        archive.append_data(&mut header, name, *content)?;
    }
    archive.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn the_build_context_holds_only_the_dockerfile() {
        let bytes = context().unwrap();
        let mut archive = tar::Archive::new(bytes.as_slice());
        let mut entries: Vec<(String, u32, String)> = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let mut text = String::new();
            entry.read_to_string(&mut text).unwrap();
            entries.push((
                entry.path().unwrap().display().to_string(),
                entry.header().mode().unwrap(),
                text,
            ));
        }
        assert_eq!(
            entries,
            [("Dockerfile".to_owned(), 0o644, DOCKERFILE.to_owned())]
        );
        assert_eq!(context().unwrap(), bytes, "the context is not reproducible");
    }

    #[test]
    fn the_dockerfile_builds_on_the_base_image() {
        let from = DOCKERFILE.lines().find(|l| l.starts_with("FROM ")).unwrap();
        assert_eq!(from, format!("FROM {BASE_IMAGE}"));
    }
}
