//! The sandbox image: what every sandbox container runs (bash, coreutils, git,
//! ca-certificates, python3 and a C toolchain, as the user `sandbox`, 1000:1000).
//!
//! Two ways to build the same image. Where a registry answers: the Dockerfile in
//! `sandbox-image/`, on `debian:bookworm-slim`. Where none does (air-gapped engines,
//! mirrors only): a `debootstrap --variant=minbase` root filesystem from a Debian
//! mirror, imported into the engine. Both go through the Docker Engine API, never the
//! docker CLI.
//!
//! External agents (`--agents claude,gemini`, see `agents`) are one more layer on top of
//! either: Node.js and the agents' npm packages, fetched from the npm registry while
//! the image is built.

pub mod agents;
mod debootstrap;
mod dockerfile;
mod import;
mod rootfs;

use super::engine::{DockerEngine, EngineError};
use agents::KnownAgent;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// The image sandboxes run unless a deployment names another.
pub const DEFAULT_TAG: &str = "lucid-sandbox:latest";

/// What the image holds beyond Debian's required packages. `sandbox-image/Dockerfile`
/// installs the same list (a unit test checks).
pub const PACKAGES: &[&str] = &[
    "bash",
    "coreutils",
    "git",
    "ca-certificates",
    "python3",
    "gcc",
    "libc6-dev",
    "make",
    "procps",
    // setsid, which runs each command in its own session.
    "util-linux",
    "findutils",
    "grep",
    "sed",
    "diffutils",
    "patch",
    "less",
];

/// The user sandbox commands run as, with its home, and the working directory.
pub const SANDBOX_UID: u32 = 1000;
pub const SANDBOX_GID: u32 = 1000;
const SANDBOX_USER: &str = "sandbox";
const SANDBOX_HOME: &str = "/home/sandbox";
const WORKSPACE: &str = "/workspace";

/// The image's config, as Dockerfile instructions: the import API takes it in this
/// form, and `sandbox-image/Dockerfile` carries the same lines (a unit test checks).
const IMAGE_SETTINGS: &[&str] = &[
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
    "WORKDIR /workspace",
    "USER 1000:1000",
    r#"CMD ["sleep", "infinity"]"#,
];

/// How long `Auto` waits for a registry to start answering a pull of the base image
/// before it settles for debootstrap. A pull that has started runs to its end.
const REGISTRY_TIMEOUT: Duration = Duration::from_secs(20);

pub struct BuildOptions {
    /// The name the image gets, e.g. `lucid-sandbox:latest`.
    pub tag: String,
    pub method: BuildMethod,
    /// Where debootstrap assembles the root filesystem (about 1 GB while it builds,
    /// removed afterwards). It must allow device files and executables, so not a
    /// `nodev`/`noexec` tmpfs.
    pub scratch_dir: PathBuf,
    /// External agents to install on top (Node.js and their npm packages); none for
    /// the plain image.
    pub agents: Vec<&'static KnownAgent>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildMethod {
    /// The Dockerfile if its base image is on the engine or can be pulled, otherwise
    /// debootstrap.
    Auto,
    Dockerfile,
    Debootstrap,
}

impl fmt::Display for BuildMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BuildMethod::Auto => "auto",
            BuildMethod::Dockerfile => "dockerfile",
            BuildMethod::Debootstrap => "debootstrap",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltImage {
    pub tag: String,
    /// The engine's image id, `sha256:…`.
    pub id: String,
    /// `Dockerfile` or `Debootstrap`, never `Auto`.
    pub method_used: BuildMethod,
}

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("the Docker engine failed to {action}: {source}")]
    Docker {
        action: &'static str,
        source: bollard::errors::Error,
    },
    #[error(
        "the base image {image} is not on the engine and cannot be pulled ({reason}) -> \
         build with --method debootstrap where no registry can be reached"
    )]
    BaseImageUnavailable { image: &'static str, reason: String },
    #[error("building {tag} from sandbox-image/Dockerfile failed: {message}")]
    DockerfileBuild { tag: String, message: String },
    #[error("debootstrap is not installed -> apt-get install debootstrap (and run as root)")]
    DebootstrapMissing,
    #[error(
        "debootstrap failed ({status}) -> check the mirror {mirror} answers and lucid runs as root; its last lines:\n{log_tail}"
    )]
    Debootstrap {
        status: String,
        mirror: &'static str,
        log_tail: String,
    },
    #[error("cannot {action} {path}: {source}")]
    RootFs {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the engine refused the root filesystem for {tag}: {message}")]
    Import { tag: String, message: String },
    #[error(
        "the image {image} to add the agents to is not on the engine -> build it first (lucid sandbox build-image)"
    )]
    AgentsBaseMissing { image: String },
    #[error(
        "adding the agents to {tag} failed: {message} -> the engine's build containers fetch \
         Node.js and the agents' packages from the npm registry ({registry}) and must reach it",
        registry = agents::REGISTRY
    )]
    AgentsBuild { tag: String, message: String },
}

/// Builds the sandbox image, reporting what it does through `progress`, one line at a
/// time. A build from debootstrap takes minutes; from the Dockerfile, less.
pub async fn build(
    engine: &DockerEngine,
    options: &BuildOptions,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<BuiltImage, ImageError> {
    let docker = engine.client().await?;
    let method = match options.method {
        BuildMethod::Auto => {
            match dockerfile::ensure_base(docker, Some(REGISTRY_TIMEOUT), progress).await {
                Ok(()) => BuildMethod::Dockerfile,
                Err(ImageError::BaseImageUnavailable { image, reason }) => {
                    progress(&format!(
                        "{image} is not available ({reason}); building from debootstrap instead"
                    ));
                    BuildMethod::Debootstrap
                }
                Err(other) => return Err(other),
            }
        }
        BuildMethod::Dockerfile => {
            // Asked for explicitly, so a slow registry gets the whole pull.
            dockerfile::ensure_base(docker, None, progress).await?;
            BuildMethod::Dockerfile
        }
        BuildMethod::Debootstrap => BuildMethod::Debootstrap,
    };
    match method {
        BuildMethod::Dockerfile => dockerfile::build(docker, &options.tag, progress).await?,
        _ => debootstrap::build(docker, &options.tag, &options.scratch_dir, progress).await?,
    }
    let mut id = image_id(docker, &options.tag).await?;
    if !options.agents.is_empty() {
        // On the image just built, by id: the tag moves to the image with the agents.
        agents::add(docker, &id, &options.tag, &options.agents, progress).await?;
        id = image_id(docker, &options.tag).await?;
    }
    Ok(BuiltImage {
        tag: options.tag.clone(),
        id,
        method_used: method,
    })
}

/// Builds `tag` from the image `base` already on the engine, with Node.js and `agents`
/// added (see `agents`), and gives the new image's id. `tag` may be `base` itself.
pub async fn add_agents(
    engine: &DockerEngine,
    base: &str,
    tag: &str,
    agents: &[&'static KnownAgent],
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<String, ImageError> {
    let docker = engine.client().await?;
    let base_id = match docker.inspect_image(base).await {
        Ok(inspect) => inspect.id.unwrap_or_else(|| base.to_owned()),
        Err(e) if is_not_found(&e) => {
            return Err(ImageError::AgentsBaseMissing {
                image: base.to_owned(),
            });
        }
        Err(source) => {
            return Err(ImageError::Docker {
                action: "inspect the image to add the agents to",
                source,
            });
        }
    };
    agents::add(docker, &base_id, tag, agents, progress).await?;
    image_id(docker, tag).await
}

/// Whether the engine has an image by this name.
pub async fn exists(engine: &DockerEngine, tag: &str) -> Result<bool, ImageError> {
    let docker = engine.client().await?;
    match docker.inspect_image(tag).await {
        Ok(_) => Ok(true),
        Err(e) if is_not_found(&e) => Ok(false),
        Err(source) => Err(ImageError::Docker {
            action: "inspect an image",
            source,
        }),
    }
}

async fn image_id(docker: &bollard::Docker, tag: &str) -> Result<String, ImageError> {
    let inspect = docker
        .inspect_image(tag)
        .await
        .map_err(|source| ImageError::Docker {
            action: "inspect the image it just built",
            source,
        })?;
    Ok(inspect.id.unwrap_or_default())
}

fn is_not_found(error: &bollard::errors::Error) -> bool {
    matches!(
        error,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dockerfile_installs_the_packages_and_carries_the_settings_the_import_sets() {
        let dockerfile = dockerfile::DOCKERFILE;
        let install = dockerfile
            .lines()
            .skip_while(|l| !l.contains("apt-get install"))
            .nth(1)
            .expect("the Dockerfile has no package list after apt-get install");
        let listed: Vec<&str> = install
            .split_whitespace()
            .filter(|word| *word != "\\")
            .collect();
        assert_eq!(listed, PACKAGES, "the Dockerfile's packages differ");
        for setting in IMAGE_SETTINGS {
            assert!(
                dockerfile.lines().any(|l| l == *setting),
                "the Dockerfile lacks {setting:?}"
            );
        }
        assert!(IMAGE_SETTINGS.contains(&format!("USER {SANDBOX_UID}:{SANDBOX_GID}").as_str()));
        assert!(dockerfile.contains(&format!("--uid {SANDBOX_UID} --gid {SANDBOX_GID} ")));
        assert!(dockerfile.contains(&format!("groupadd --gid {SANDBOX_GID} {SANDBOX_USER}")));
        assert!(dockerfile.contains(&format!("--home-dir {SANDBOX_HOME} ")));
        assert!(dockerfile.contains(&format!("mkdir {WORKSPACE}")));
    }
}
