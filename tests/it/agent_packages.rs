//! A real agent from the npm registry in a sandbox: lucid adds Node.js and Gemini CLI's
//! package to the sandbox image (`image::add_agents`, what `lucid sandbox build-image
//! --agents gemini` does), then starts the agent in a sandbox with no network and
//! speaks the Agent Client Protocol to it: `initialize`, then `session/new`.
//!
//! Gemini CLI, because it answers both without a login and without calling a model
//! (a key must be set before `session/new`: a dummy one, never used), and is the
//! smallest of the catalog's packages (about 100 MB, against 400 for Claude's
//! adapter, whose `session/new` also takes some 20 s).
//!
//! The image is built once per engine and kept, under a tag naming a digest of its
//! Dockerfile (which holds the base image's id and every pin): a second run reuses it,
//! a changed catalog or base makes a new one. The first build fetches about 150 MB from
//! the npm registry and takes a minute or two.

use crate::harness::{docker_host, within};
use bollard::query_parameters::{ListImagesOptionsBuilder, RemoveImageOptions};
use lucid::core::SessionId;
use lucid::sandbox::image::agents::{self, KnownAgent};
use lucid::sandbox::image::{self, DEFAULT_TAG};
use lucid::sandbox::{
    CommandSpec, DockerEngine, DockerSandboxes, Outcome, Sandbox, SandboxSettings, SandboxSpec,
    Sandboxes,
};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const MISSING: &str = "the sandbox image is not built: run \
    `source scripts/services.sh && ensure_docker && ensure_sandbox_image` (scripts/test does)";

/// The test image's repository; its tag is a digest of the layer's Dockerfile.
const TEST_REPOSITORY: &str = "lucid-sandbox-agents-test";
/// Building the layer the first time: Node.js, npm and the agent from the registry.
const BUILD_DEADLINE: Duration = Duration::from_secs(15 * 60);
/// One answer from the agent. Node.js starting Gemini CLI's bundle on one CPU takes a
/// few seconds; the deadline leaves room for a loaded machine.
const ANSWER_DEADLINE: Duration = Duration::from_secs(90);

fn gemini() -> &'static KnownAgent {
    agents::known_agent("gemini").expect("gemini is in the catalog")
}

/// The image with Node.js and Gemini CLI on lucid-sandbox:latest, built if the engine
/// does not have it yet.
async fn agent_image(engine: &DockerEngine) -> String {
    let docker = engine.client().await.unwrap();
    let base = docker
        .inspect_image(DEFAULT_TAG)
        .await
        .unwrap_or_else(|e| panic!("{MISSING} ({e})"));
    let base_id = base.id.expect("an image id");
    let arch = docker.version().await.unwrap().arch.unwrap_or_default();
    let dockerfile = agents::dockerfile(&base_id, &arch, &[gemini()], true).unwrap();
    let digest = hex::encode(Sha256::digest(dockerfile.as_bytes()));
    let tag = format!("{TEST_REPOSITORY}:{}", &digest[..16]);
    if image::exists(engine, &tag).await.unwrap() {
        return tag;
    }
    remove_earlier_test_images(docker).await;
    let started = std::time::Instant::now();
    let mut log = Vec::new();
    let mut progress = |line: &str| log.push(line.to_owned());
    let built = tokio::time::timeout(
        BUILD_DEADLINE,
        image::add_agents(engine, &base_id, &tag, &[gemini()], &mut progress),
    )
    .await;
    let tail = log[log.len().saturating_sub(30)..].join("\n");
    match built {
        Ok(Ok(_)) => eprintln!("built {tag} in {} s", started.elapsed().as_secs()),
        Ok(Err(e)) => panic!("building {tag} failed: {e}\n{tail}"),
        Err(_) => panic!("building {tag} took over {BUILD_DEADLINE:?}; its last lines:\n{tail}"),
    }
    tag
}

/// The test images of an earlier catalog or base, which no run will use again (one in
/// use by a container stays).
async fn remove_earlier_test_images(docker: &bollard::Docker) {
    let filters = HashMap::from([("reference", vec![TEST_REPOSITORY])]);
    let options = ListImagesOptionsBuilder::new().filters(&filters).build();
    for earlier in docker.list_images(Some(options)).await.unwrap() {
        for tag in &earlier.repo_tags {
            let _ = docker
                .remove_image(tag, None::<RemoveImageOptions>, None)
                .await;
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn gemini_cli_from_npm_starts_in_a_sandbox_and_answers_initialize_and_session_new() {
    let engine = Arc::new(DockerEngine::new(&docker_host()).unwrap());
    let tag = agent_image(&engine).await;

    // The image says what it holds.
    let docker = engine.client().await.unwrap();
    let labels = docker
        .inspect_image(&tag)
        .await
        .unwrap()
        .config
        .and_then(|c| c.labels)
        .unwrap_or_default();
    assert_eq!(
        labels.get(agents::LABEL_AGENTS).map(String::as_str),
        Some("gemini")
    );
    assert_eq!(
        labels.get(agents::LABEL_PACKAGES).map(String::as_str),
        Some(gemini().package)
    );
    assert_eq!(
        labels.get(agents::LABEL_NODE).map(String::as_str),
        Some(agents::NODE_VERSION)
    );

    let workspaces = tempfile::tempdir().unwrap();
    let spec = SandboxSpec::default().image(&tag);
    let sandboxes = DockerSandboxes::new(
        engine.clone(),
        SandboxSettings {
            spec: spec.clone(),
            workspaces: workspaces.path().to_owned(),
            pool_size: 0,
            idle_timeout: Duration::from_secs(30 * 60),
        },
    );
    let sandbox: Arc<dyn Sandbox> = within("a sandbox", sandboxes.create(SessionId::new(), &spec))
        .await
        .unwrap();

    // Node.js is the pinned one, on the sandbox user's PATH, as is the agent.
    let versions =
        CommandSpec::new("node --version && command -v gemini").timeout(Duration::from_secs(60));
    let versions = within(
        "node --version",
        sandbox.run(&versions, None, &CancellationToken::new()),
    )
    .await
    .unwrap();
    assert_eq!(
        versions.outcome,
        Outcome::Exited(0),
        "{}",
        versions.output.text
    );
    assert_eq!(
        versions.output.text,
        format!("v{}\n/usr/local/bin/gemini\n", agents::NODE_VERSION)
    );

    // lucid's own ACP client, as `lucid doctor` and a session start it, with the
    // catalog's command line. The key is a dummy: Gemini CLI wants one before it
    // makes a session, and calls no model until a prompt.
    let argv = shlex::split(gemini().command).unwrap();
    let env = vec![(
        "GEMINI_API_KEY".to_owned(),
        "lucid-test-not-a-key".to_owned(),
    )];
    let hello = lucid::agent::acp::probe::hello(&*sandbox, &argv, env, ANSWER_DEADLINE)
        .await
        .unwrap();
    assert_eq!(hello.seen.name.as_deref(), Some("gemini-cli"), "{hello:?}");
    assert_eq!(
        hello.seen.version.as_deref(),
        Some(gemini().package_version()),
        "{hello:?}"
    );
    assert_eq!(hello.seen.protocol_version, Some(1), "{hello:?}");
    assert!(!hello.session.is_empty(), "no session id: {hello:?}");
    sandbox.destroy().await.unwrap();
}

#[test]
fn build_image_refuses_an_unknown_agent_naming_the_known_ones() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_lucid"))
        .env_clear()
        .args(["sandbox", "build-image", "--agents", "claude,goose"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "\"goose\" is not a known agent -> the known agents are claude, gemini, codex, opencode"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("--agents <IDS>"), "{stderr}");

    // --base only goes with --agents.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_lucid"))
        .env_clear()
        .args(["sandbox", "build-image", "--base", "lucid-sandbox:latest"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--agents <IDS>"));
}
