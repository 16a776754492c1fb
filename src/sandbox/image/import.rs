//! A root filesystem archive into an image, through the engine's import
//! (`POST /images/create?fromSrc=-`, what `docker import` does).
//!
//! Not bollard's `import_image`: that is `POST /images/load`, which takes the archive
//! `docker save` writes (manifest, config, layers), not a bare root filesystem.
//! `create_image` with `from_src: "-"` is the import, and its `changes` are Dockerfile
//! instructions that set the image's config (only CMD, ENTRYPOINT, ENV, EXPOSE,
//! ONBUILD, USER, VOLUME and WORKDIR).

use super::{IMAGE_SETTINGS, ImageError};
use bollard::Docker;
use bollard::query_parameters::{CreateImageOptions, CreateImageOptionsBuilder};
use futures::StreamExt;
use std::path::Path;
use tokio_util::io::ReaderStream;

pub(super) async fn import(
    docker: &Docker,
    tag: &str,
    archive: &Path,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<(), ImageError> {
    let unreadable = |source| ImageError::RootFs {
        action: "read",
        path: archive.to_owned(),
        source,
    };
    let file = tokio::fs::File::open(archive).await.map_err(unreadable)?;
    let size = file.metadata().await.map_err(unreadable)?.len();
    progress(&format!(
        "importing the {} MB root filesystem as {tag}…",
        size / 1_000_000
    ));
    // Streamed from disk: the archive is hundreds of megabytes.
    let body = bollard::body_try_stream(ReaderStream::new(file));
    let mut answers = docker.create_image(Some(options(tag)), Some(body), None);
    while let Some(answer) = answers.next().await {
        match answer {
            Ok(_) => {}
            Err(
                bollard::errors::Error::DockerStreamError { error: message }
                | bollard::errors::Error::DockerResponseServerError { message, .. },
            ) => {
                return Err(ImageError::Import {
                    tag: tag.to_owned(),
                    message,
                });
            }
            Err(source) => {
                return Err(ImageError::Docker {
                    action: "import the root filesystem",
                    source,
                });
            }
        }
    }
    Ok(())
}

fn options(tag: &str) -> CreateImageOptions {
    let (repo, tag) = split_reference(tag);
    CreateImageOptionsBuilder::new()
        .from_src("-")
        .repo(repo)
        .tag(tag)
        .message("lucid sandbox image, from a debootstrap root filesystem")
        .changes(IMAGE_SETTINGS.iter().map(|s| s.to_string()).collect())
        .build()
}

/// `name:tag` as the import wants it, in two parts; no tag means `latest`, as
/// everywhere in Docker. A colon before the last `/` belongs to a registry's port.
fn split_reference(reference: &str) -> (&str, &str) {
    let name_start = reference.rfind('/').map_or(0, |slash| slash + 1);
    match reference[name_start..].rfind(':') {
        Some(colon) => (
            &reference[..name_start + colon],
            &reference[name_start + colon + 1..],
        ),
        None => (reference, "latest"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_import_reads_the_body_and_sets_the_image_config() {
        let options = options("lucid-sandbox:latest");
        assert_eq!(options.from_src.as_deref(), Some("-"));
        assert_eq!(options.repo.as_deref(), Some("lucid-sandbox"));
        assert_eq!(options.tag.as_deref(), Some("latest"));
        assert_eq!(
            options.changes,
            [
                "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "ENV LANG=C.UTF-8",
                "WORKDIR /workspace",
                "USER 1000:1000",
                r#"CMD ["sleep", "infinity"]"#,
            ]
        );
    }

    #[test]
    fn a_reference_splits_into_repository_and_tag() {
        assert_eq!(
            split_reference("lucid-sandbox:latest"),
            ("lucid-sandbox", "latest")
        );
        assert_eq!(
            split_reference("lucid-sandbox"),
            ("lucid-sandbox", "latest")
        );
        assert_eq!(
            split_reference("registry.local:5000/team/sandbox:v2"),
            ("registry.local:5000/team/sandbox", "v2")
        );
        assert_eq!(
            split_reference("registry.local:5000/team/sandbox"),
            ("registry.local:5000/team/sandbox", "latest")
        );
    }
}
