//! The container a sandbox is: every setting spelled out, nothing inherited from the
//! host. No credential, no Docker socket, no host path but the session's workspace.

use super::{labels, registries};
use crate::sandbox::spec::{Network, SandboxSpec};
use crate::sandbox::workspace::{SandboxUser, Workspace};
use bollard::models::{ContainerCreateBody, HostConfig};
use std::collections::HashMap;
use std::net::SocketAddr;

/// The environment inside, in full. Nothing from lucid's own environment is passed.
/// No bytecode caches: Python keys them on mtime in seconds and size, so an edit that
/// keeps a file's size, re-run within the second, would run the old code.
const ENV: [&str; 5] = [
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME=/tmp",
    "LANG=C.UTF-8",
    "TERM=dumb",
    "PYTHONDONTWRITEBYTECODE=1",
];

/// The names pip, npm, pnpm, yarn (1 and 2+), cargo, go, gem, apt, git and Node's
/// own fetch read a proxy from, so they use the registry proxy unchanged.
const PROXY_URL_NAMES: [&str; 9] = [
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "http_proxy",
    "https_proxy",
    "npm_config_proxy",
    "npm_config_https_proxy",
    "YARN_HTTP_PROXY",
    "YARN_HTTPS_PROXY",
    "CARGO_HTTP_PROXY",
];

/// Where HOME is in a setup's container and in a sandbox from a prepared image: in
/// the image (the sandbox image's user has it), kept when the setup is committed.
pub(super) const PREPARED_HOME: &str = "/home/sandbox";

/// What a container is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Flavor<'a> {
    /// A session's sandbox from the sandbox image: HOME on the `/tmp` tmpfs.
    Session,
    /// A repository's setup, run once and committed as a prepared image: the root
    /// filesystem writable (what the setup leaves in HOME is what is kept), HOME at
    /// [`PREPARED_HOME`], and no proxy settings in its environment, which the image
    /// would keep (the setup's command line is given them).
    Setup,
    /// A session's sandbox from a prepared image: the root filesystem read-only as
    /// ever, HOME at [`PREPARED_HOME`] on an anonymous volume, which the engine fills
    /// from the image and removes with the container.
    Prepared { image: &'a str },
}

impl Flavor<'_> {
    fn home(self) -> &'static str {
        match self {
            Flavor::Session => "/tmp",
            Flavor::Setup | Flavor::Prepared { .. } => PREPARED_HOME,
        }
    }
}

/// The fixed environment, and with the registries network what points every package
/// tool at `proxy`.
fn environment(proxy: Option<SocketAddr>) -> Vec<String> {
    environment_at(proxy, "/tmp")
}

fn environment_at(proxy: Option<SocketAddr>, home: &str) -> Vec<String> {
    let mut env: Vec<String> = ENV
        .iter()
        .map(|e| match e.strip_prefix("HOME=") {
            Some(_) => format!("HOME={home}"),
            None => (*e).to_owned(),
        })
        .collect();
    if let Some(proxy) = proxy {
        env.extend(proxy_environment(proxy));
    }
    env
}

/// What points every package tool at the registry proxy at `proxy`.
pub(super) fn proxy_environment(proxy: SocketAddr) -> Vec<String> {
    let mut env = Vec::new();
    env.extend(
        PROXY_URL_NAMES
            .iter()
            .map(|name| format!("{name}=http://{proxy}")),
    );
    env.extend(["NO_PROXY", "no_proxy"].map(|name| format!("{name}=localhost,127.0.0.1")));
    // Node 24+ applies HTTP(S)_PROXY to its own fetch only when asked.
    env.push("NODE_USE_ENV_PROXY=1".to_owned());
    // The JVM reads no proxy variable; Maven, Gradle and sbt take these properties.
    let (host, port) = (proxy.ip(), proxy.port());
    env.push(format!(
        "JAVA_TOOL_OPTIONS=-Dhttp.proxyHost={host} -Dhttp.proxyPort={port} \
         -Dhttps.proxyHost={host} -Dhttps.proxyPort={port} -Dhttp.nonProxyHosts=localhost|127.0.0.1"
    ));
    env
}

/// The container for `spec`, made for what `flavor` says.
pub(super) fn container_body_for(
    spec: &SandboxSpec,
    workspace: &Workspace,
    user: SandboxUser,
    session_label: &str,
    proxy: Option<SocketAddr>,
    flavor: Flavor<'_>,
) -> ContainerCreateBody {
    let mut container_labels = HashMap::from([
        (labels::MANAGED.to_owned(), "true".to_owned()),
        (labels::SESSION.to_owned(), session_label.to_owned()),
        (
            labels::WORKSPACE.to_owned(),
            workspace.path().display().to_string(),
        ),
    ]);
    if session_label == labels::POOL_SESSION {
        container_labels.insert(labels::POOL.to_owned(), "true".to_owned());
    }
    let memory = i64::try_from(spec.memory_bytes).unwrap_or(i64::MAX);
    let (image, env, volumes) = match flavor {
        Flavor::Session => (spec.image.clone(), environment(proxy), None),
        Flavor::Setup => (
            spec.image.clone(),
            environment_at(None, flavor.home()),
            None,
        ),
        Flavor::Prepared { image } => (
            image.to_owned(),
            environment_at(proxy, flavor.home()),
            Some(vec![PREPARED_HOME.to_owned()]),
        ),
    };
    ContainerCreateBody {
        image: Some(image),
        user: Some(user.docker_user()),
        env: Some(env),
        volumes,
        // The container only waits; commands come in through exec.
        entrypoint: Some(vec!["sleep".to_owned()]),
        cmd: Some(vec!["infinity".to_owned()]),
        working_dir: Some("/workspace".to_owned()),
        labels: Some(container_labels),
        network_disabled: Some(spec.network == Network::Off),
        host_config: Some(HostConfig {
            memory: Some(memory),
            // No swap: memory beyond the limit is an OOM, not a slow crawl.
            memory_swap: Some(memory),
            nano_cpus: Some(i64::from(spec.cpu_millis) * 1_000_000),
            pids_limit: Some(i64::from(spec.pids_limit)),
            cap_drop: Some(vec!["ALL".to_owned()]),
            security_opt: Some(vec!["no-new-privileges".to_owned()]),
            readonly_rootfs: Some(flavor != Flavor::Setup),
            tmpfs: Some(HashMap::from([(
                "/tmp".to_owned(),
                format!("rw,nosuid,nodev,size={}", spec.tmp_bytes),
            )])),
            binds: Some(vec![format!(
                "{}:/workspace:rw",
                workspace.path().display()
            )]),
            network_mode: Some(match spec.network {
                Network::Off => "none".to_owned(),
                Network::Bridge => "bridge".to_owned(),
                Network::Registries => registries::NETWORK.to_owned(),
            }),
            // A tiny init reaps orphaned processes, so killed commands leave no
            // zombies holding pids.
            init: Some(true),
            privileged: Some(false),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::workspace::SandboxUser;

    fn body(spec: &SandboxSpec) -> ContainerCreateBody {
        body_for(spec, Flavor::Session)
    }

    #[test]
    fn the_container_is_hardened_and_limited() {
        let body = body(&SandboxSpec::default());
        let host = body.host_config.unwrap();
        assert_eq!(host.cap_drop.unwrap(), ["ALL"]);
        assert_eq!(host.security_opt.unwrap(), ["no-new-privileges"]);
        assert_eq!(host.readonly_rootfs, Some(true));
        assert_eq!(host.network_mode.as_deref(), Some("none"));
        assert_eq!(host.memory, Some(2 << 30));
        assert_eq!(host.memory_swap, host.memory);
        assert_eq!(host.nano_cpus, Some(1_000_000_000));
        assert_eq!(host.pids_limit, Some(512));
        assert_eq!(host.privileged, Some(false));
        let binds = host.binds.unwrap();
        assert_eq!(binds.len(), 1, "only the workspace is mounted");
        assert!(binds[0].ends_with(":/workspace:rw"));
        assert_eq!(body.user.as_deref(), Some("1000:1000"));
        assert_eq!(body.labels.unwrap()["lucid.session"], "s-1");
    }

    fn body_for(spec: &SandboxSpec, flavor: Flavor<'_>) -> ContainerCreateBody {
        let dir = tempfile::tempdir().unwrap();
        let user = SandboxUser {
            uid: 1000,
            gid: 1000,
        };
        let workspace = Workspace::create(dir.path(), "w", user).unwrap();
        let proxy = (spec.network == Network::Registries).then(|| ([172, 18, 0, 1], 3128).into());
        container_body_for(spec, &workspace, user, "s-1", proxy, flavor)
    }

    #[test]
    fn a_setup_writes_its_root_and_home_and_its_environment_keeps_no_proxy() {
        let spec = SandboxSpec::default().network(Network::Registries);
        let body = body_for(&spec, Flavor::Setup);
        let env = body.env.unwrap();
        assert!(env.contains(&"HOME=/home/sandbox".to_owned()), "{env:?}");
        assert!(!env.iter().any(|e| e.contains("PROXY")), "{env:?}");
        let host = body.host_config.unwrap();
        assert_eq!(host.readonly_rootfs, Some(false));
        assert_eq!(host.cap_drop.unwrap(), ["ALL"]);
        assert_eq!(host.network_mode.as_deref(), Some("lucid-registries"));
        assert_eq!(host.tmpfs.unwrap().len(), 1, "/tmp is not kept");
    }

    #[test]
    fn a_prepared_sandbox_is_read_only_but_for_its_home_volume() {
        let spec = SandboxSpec::default().network(Network::Registries);
        let body = body_for(
            &spec,
            Flavor::Prepared {
                image: "lucid-prepared:k",
            },
        );
        assert_eq!(body.image.as_deref(), Some("lucid-prepared:k"));
        assert_eq!(body.volumes.unwrap(), ["/home/sandbox"]);
        let env = body.env.unwrap();
        assert!(env.contains(&"HOME=/home/sandbox".to_owned()), "{env:?}");
        assert!(env.contains(&"HTTPS_PROXY=http://172.18.0.1:3128".to_owned()));
        let host = body.host_config.unwrap();
        assert_eq!(host.readonly_rootfs, Some(true));
        assert_eq!(host.binds.unwrap().len(), 1);
    }

    #[test]
    fn the_environment_holds_nothing_from_the_host() {
        let env = body(&SandboxSpec::default()).env.unwrap();
        let names: Vec<&str> = env.iter().map(|e| e.split('=').next().unwrap()).collect();
        assert_eq!(
            names,
            ["PATH", "HOME", "LANG", "TERM", "PYTHONDONTWRITEBYTECODE"]
        );
    }

    #[test]
    fn a_bridge_network_is_only_there_when_asked_for() {
        let body = body(&SandboxSpec::default().network(Network::Bridge));
        assert_eq!(body.network_disabled, Some(false));
        assert_eq!(
            body.host_config.unwrap().network_mode.as_deref(),
            Some("bridge")
        );
    }

    #[test]
    fn the_registries_network_points_every_tool_at_the_proxy() {
        let body = body(&SandboxSpec::default().network(Network::Registries));
        assert_eq!(body.network_disabled, Some(false));
        let host = body.host_config.unwrap();
        assert_eq!(host.network_mode.as_deref(), Some("lucid-registries"));
        let env = body.env.unwrap();
        for name in [
            "HTTP_PROXY",
            "https_proxy",
            "npm_config_https_proxy",
            "CARGO_HTTP_PROXY",
        ] {
            assert!(
                env.contains(&format!("{name}=http://172.18.0.1:3128")),
                "{name}"
            );
        }
        assert!(env.contains(&"NO_PROXY=localhost,127.0.0.1".to_owned()));
        let java = env
            .iter()
            .find(|e| e.starts_with("JAVA_TOOL_OPTIONS="))
            .unwrap();
        assert!(
            java.contains("-Dhttps.proxyHost=172.18.0.1 -Dhttps.proxyPort=3128"),
            "{java}"
        );
    }
}
