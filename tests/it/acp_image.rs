//! The image external-agent tests run: the sandbox image plus the scripted ACP agent
//! (`lucid-acp-script`, tests/acp_script) at /usr/local/bin. Built once per test
//! process, through the engine's API from the local sandbox image (nothing is
//! pulled), and tagged by the agent binary's hash: a rebuilt binary gets a new image,
//! an unchanged one reuses the image already there.
//!
//! The test here drives the agent in a real sandbox without lucid's ACP client,
//! checking its answers as raw JSON: it speaks the protocol on its own.

use crate::harness::{docker_host, within};
use bollard::query_parameters::BuildImageOptionsBuilder;
use futures::StreamExt;
use lucid::core::SessionId;
use lucid::sandbox::image::DEFAULT_TAG;
use lucid::sandbox::{
    DockerEngine, DockerSandboxes, Outcome, ProcessSpec, Sandbox, SandboxProcess, SandboxSettings,
    SandboxSpec, Sandboxes,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;

/// The agent binary cargo built for these tests.
pub const ACP_SCRIPT: &str = env!("CARGO_BIN_EXE_lucid-acp-script");

/// Where the image holds it (on the sandbox's PATH).
pub const ACP_SCRIPT_IN_IMAGE: &str = "/usr/local/bin/lucid-acp-script";

/// The image's repository; its tag is the first 12 hex digits of the binary's SHA-256.
pub const ACP_IMAGE_REPO: &str = "lucid-sandbox-acp";

const MISSING: &str = "the sandbox image is not built: run \
    `source scripts/services.sh && ensure_docker && ensure_sandbox_image` (scripts/test does)";

static IMAGE: OnceCell<String> = OnceCell::const_new();

/// The ACP test image's tag (`lucid-sandbox-acp:<hash>`), built on first use.
pub async fn acp_image() -> String {
    IMAGE.get_or_init(build_acp_image).await.clone()
}

/// The argv that runs the scripted agent in the image with a scenario.
pub fn acp_script_argv(scenario: &str) -> Vec<String> {
    vec![
        ACP_SCRIPT_IN_IMAGE.to_owned(),
        "--scenario".to_owned(),
        scenario.to_owned(),
    ]
}

async fn build_acp_image() -> String {
    let binary = tokio::fs::read(ACP_SCRIPT)
        .await
        .unwrap_or_else(|e| panic!("cannot read the agent binary {ACP_SCRIPT}: {e}"));
    let hash = hex::encode(Sha256::digest(&binary));
    let tag = format!("{ACP_IMAGE_REPO}:{}", &hash[..12]);
    let engine = DockerEngine::new(&docker_host()).unwrap();
    let docker = engine.client().await.unwrap();
    if docker.inspect_image(&tag).await.is_ok() {
        return tag;
    }
    assert!(docker.inspect_image(DEFAULT_TAG).await.is_ok(), "{MISSING}");

    let dockerfile = format!(
        "FROM {DEFAULT_TAG}\n\
         LABEL lucid.test.acp-script.sha256={hash}\n\
         COPY lucid-acp-script {ACP_SCRIPT_IN_IMAGE}\n"
    );
    let context = build_context(&dockerfile, &binary).unwrap();
    let options = BuildImageOptionsBuilder::new()
        .t(&tag)
        .rm(true)
        .forcerm(true)
        .build();
    let mut output = docker.build_image(options, None, Some(bollard::body_full(context.into())));
    let built = tokio::time::timeout(Duration::from_secs(300), async {
        while let Some(message) = output.next().await {
            if let Err(e) = message {
                panic!("building {tag} failed: {e}");
            }
        }
    })
    .await;
    assert!(built.is_ok(), "building {tag} took over 5 minutes");
    tag
}

/// The build context, in memory: the Dockerfile and the binary, mode 0755 (COPY keeps
/// it; files in the image belong to root).
fn build_context(dockerfile: &str, binary: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut archive = tar::Builder::new(Vec::new());
    for (name, bytes, mode) in [
        ("Dockerfile", dockerfile.as_bytes(), 0o644),
        ("lucid-acp-script", binary, 0o755),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(mode);
        header.set_mtime(0);
        header.set_cksum();
        archive.append_data(&mut header, name, bytes)?;
    }
    archive.into_inner()
}

/// Sends one JSON-RPC message as a line.
async fn send(stdin: &mut lucid::sandbox::ProcessStdin, message: Value) {
    let line = format!("{message}\n");
    stdin.write_all(line.as_bytes()).await.unwrap();
    stdin.flush().await.unwrap();
}

/// The next line the agent writes, as JSON.
async fn next<R: tokio::io::AsyncBufRead + Unpin>(lines: &mut Lines<R>) -> Value {
    let line = within("a line from the agent", lines.next_line())
        .await
        .unwrap()
        .expect("the agent's stdout ended");
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn acp_image_runs_the_scripted_agent_which_speaks_acp_in_a_sandbox() {
    let image = acp_image().await;
    assert!(image.starts_with("lucid-sandbox-acp:"), "{image}");
    assert_eq!(acp_image().await, image, "built twice");

    let workspaces = tempfile::tempdir().unwrap();
    let engine = Arc::new(DockerEngine::new(&docker_host()).unwrap());
    let settings = SandboxSettings {
        spec: SandboxSpec::default(),
        workspaces: workspaces.path().to_owned(),
        pool_size: 0,
        idle_timeout: Duration::from_secs(30 * 60),
    };
    let sandboxes = DockerSandboxes::new(engine, settings);
    let spec = SandboxSpec::default().image(&image);
    let sandbox = within("a sandbox", sandboxes.create(SessionId::new(), &spec))
        .await
        .unwrap();
    let checks = talk_to_the_agent(&*sandbox).await;
    sandbox.destroy().await.unwrap();
    checks.unwrap();
}

/// The conversation, returning the first failure instead of panicking so that the
/// sandbox is destroyed either way.
async fn talk_to_the_agent(sandbox: &dyn Sandbox) -> Result<(), String> {
    let calc = "def add(a, b):\n    return a - b\n";
    let test = "from calc import add\nassert add(2, 3) == 5, add(2, 3)\nprint('ok')\n";
    for (path, text) in [
        ("/workspace/calc.py", calc),
        ("/workspace/test_calc.py", test),
    ] {
        sandbox.write_file(path, text.as_bytes()).await.unwrap();
    }

    // No gateway here: the turn skips asking the model.
    let mut argv = acp_script_argv("fix");
    argv.push("--no-model".to_owned());
    let SandboxProcess {
        mut stdin,
        stdout,
        handle,
    } = within(
        "the agent to start",
        sandbox.spawn(&ProcessSpec::new(argv), &CancellationToken::new()),
    )
    .await
    .unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let conversation = async {
        send(
            &mut stdin,
            json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                "protocolVersion": 1,
                "clientCapabilities": {"fs": {"readTextFile": false, "writeTextFile": false}, "terminal": false},
                "clientInfo": {"name": "acp_image test", "version": "0"},
            }}),
        )
        .await;
        let initialized = next(&mut lines).await;
        assert_eq!(
            initialized,
            json!({"jsonrpc": "2.0", "id": 0, "result": {
                "protocolVersion": 1,
                "agentCapabilities": {
                    "loadSession": false,
                    "promptCapabilities": {"image": false, "audio": false, "embeddedContext": false},
                    "mcpCapabilities": {"http": false, "sse": false},
                },
                "agentInfo": {"name": "lucid-acp-script", "version": "0.1.0"},
                "authMethods": [],
            }})
        );

        send(
            &mut stdin,
            json!({"jsonrpc": "2.0", "id": 1, "method": "session/new",
                   "params": {"cwd": "/workspace", "mcpServers": []}}),
        )
        .await;
        let created = next(&mut lines).await;
        assert_eq!(
            (&created["jsonrpc"], &created["id"]),
            (&json!("2.0"), &json!(1))
        );
        let session = created["result"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no sessionId: {created}"))
            .to_owned();
        assert!(session.starts_with("sess-"), "{created}");

        send(
            &mut stdin,
            json!({"jsonrpc": "2.0", "id": "two", "method": "session/new",
                   "params": {"cwd": "/tmp", "mcpServers": []}}),
        )
        .await;
        let refused = next(&mut lines).await;
        assert_eq!(refused["id"], "two");
        assert_eq!(refused["error"]["code"], -32602, "{refused}");

        send(
            &mut stdin,
            json!({"jsonrpc": "2.0", "id": 3, "method": "no/such_method", "params": {}}),
        )
        .await;
        let unknown = next(&mut lines).await;
        assert_eq!(unknown["id"], 3);
        assert_eq!(unknown["error"]["code"], -32601, "{unknown}");

        // A whole turn: the updates, then the answer.
        send(
            &mut stdin,
            json!({"jsonrpc": "2.0", "id": 4, "method": "session/prompt", "params": {
                "sessionId": session,
                "prompt": [{"type": "text", "text": "Fix the failing test"}],
            }}),
        )
        .await;
        let mut kinds = Vec::new();
        let mut updates = Vec::new();
        let answer = loop {
            let message = next(&mut lines).await;
            if message.get("id").is_some() {
                break message;
            }
            assert_eq!(message["method"], "session/update", "{message}");
            assert_eq!(message["params"]["sessionId"], session.as_str());
            let update = message["params"]["update"].clone();
            kinds.push(update["sessionUpdate"].as_str().unwrap().to_owned());
            updates.push(update);
        };
        assert_eq!(
            answer,
            json!({"jsonrpc": "2.0", "id": 4, "result": {"stopReason": "end_turn"}})
        );
        assert_eq!(
            kinds,
            [
                "plan",
                "tool_call",
                "tool_call_update",
                "tool_call",
                "tool_call_update",
                "tool_call",
                "tool_call_update",
                "tool_call",
                "tool_call_update",
                "plan",
                "agent_message_chunk",
                "agent_message_chunk",
            ]
        );
        let look = &updates[2]["content"][0]["content"]["text"];
        assert!(
            look.as_str().unwrap().contains("PATH="),
            "the look around shows no environment: {look}"
        );
        assert_eq!(updates[4]["content"][0]["content"]["text"], test);
        assert_eq!(
            updates[6]["content"],
            json!([{"type": "diff", "path": "/workspace/calc.py", "oldText": calc,
                    "newText": "def add(a, b):\n    return a + b\n"}])
        );
        assert_eq!(updates[7]["title"], "python3 test_calc.py");
        assert_eq!(updates[8]["status"], "completed", "{}", updates[8]);
        assert_eq!(updates[8]["content"][0]["content"]["text"], "ok\n");
        let said: String = updates[10..]
            .iter()
            .map(|u| u["content"]["text"].as_str().unwrap())
            .collect();
        assert_eq!(said, "Fixed add in calc.py; the test passes now.");

        // The file really changed in the workspace, and the agent ends with its stdin.
        let fixed = sandbox.read_file("/workspace/calc.py").await.unwrap();
        assert_eq!(
            String::from_utf8(fixed).unwrap(),
            "def add(a, b):\n    return a + b\n"
        );
        stdin.shutdown().await.unwrap();
        while within("the end of stdout", lines.next_line())
            .await
            .unwrap()
            .is_some()
        {}
    };
    let talked = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(conversation)).await;
    if let Err(panic) = talked {
        let _ = handle.kill().await;
        let stderr = handle
            .try_wait()
            .and_then(Result::ok)
            .map(|exit| exit.stderr.text)
            .unwrap_or_default();
        let why = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default();
        return Err(format!("{why}\nthe agent's stderr:\n{stderr}"));
    }
    let exit = within("the agent to exit", handle.wait()).await.unwrap();
    if exit.outcome != Outcome::Exited(0) {
        return Err(format!("{:?}: {}", exit.outcome, exit.stderr.text));
    }
    Ok(())
}
