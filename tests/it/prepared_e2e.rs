//! Prepared sandboxes with the real `lucid serve`, the fake model and real sandboxes
//! on the real engine: a repository's `.lucid/setup.sh` runs once, its home is kept
//! as a `lucid-prepared:<key>` image, a later session starts from it without the
//! setup, a changed setup runs again under a new key, a repository without one logs
//! no preparation, and a failing setup fails its session and keeps nothing.

use crate::fake_llm::Reply;
use crate::harness::docker_host;
use crate::rig::{Lucid, REPO};
use bollard::query_parameters::ListImagesOptions;
use lucid::sandbox::DockerEngine;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

/// What the agent runs: the marker the setup left in $HOME, how many runs of the
/// setup that home has seen, where HOME is and that it is writable while the root is
/// not, and whether what the setup wrote into the work tree is there.
const LOOK: &str = "cat ~/.cache/prep/made; echo runs=$(wc -l < ~/.cache/prep/runs); \
                    echo home=$HOME; touch ~/.cache/prep/touched && echo home-writable; \
                    touch /usr/lucid-test 2>/dev/null || echo root-read-only; \
                    test -e setup-left-this && echo work-tree-kept || echo work-tree-clean";

/// A setup that takes a few seconds (the repository's own work: the test does not
/// wait on a clock), leaves a marker unique to its run in $HOME, counts its runs
/// there, and writes into the work tree.
fn setup_script(nonce: &str, version: u32) -> String {
    format!(
        "# {nonce} v{version}\n\
         set -e\n\
         mkdir -p ~/.cache/prep\n\
         date +%s%N > ~/.cache/prep/made\n\
         echo run >> ~/.cache/prep/runs\n\
         echo junk > setup-left-this\n\
         sleep 3\n\
         echo setup-ran\n"
    )
}

/// Removes the test's prepared images from the engine, however the test ends.
struct Images {
    repository: String,
}

impl Drop for Images {
    fn drop(&mut self) {
        let filter = format!("label=lucid.prepared.repository={}", self.repository);
        let Ok(listed) = Command::new("docker")
            .args(["image", "ls", "-q", "--filter", &filter])
            .output()
        else {
            return;
        };
        let ids: Vec<String> = String::from_utf8_lossy(&listed.stdout)
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        if !ids.is_empty() {
            let _ = Command::new("docker")
                .args(["image", "rm", "-f"])
                .args(&ids)
                .output();
        }
    }
}

/// Starts a session on `repo` through the API and waits for it to end in `state`;
/// answers its events.
async fn run_to(lucid: &Lucid, repo: &str, state: &'static str) -> Vec<Value> {
    let (session, events) = lucid.run_session(repo, "look around").await;
    assert_eq!(session["state"], state, "{session}\n{events:#?}");
    events
}

fn of_kind<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["kind"] == kind).collect()
}

fn setup_commands(events: &[Value]) -> usize {
    events
        .iter()
        .filter(|e| e["kind"] == "command" && e["command"] == "bash .lucid/setup.sh")
        .count()
}

/// The one `prepared` event of a run, and the output the agent's look printed.
fn prepared_and_look(events: &[Value]) -> (&Value, String) {
    let prepared = of_kind(events, "prepared");
    assert_eq!(prepared.len(), 1, "{events:#?}");
    let look = events
        .iter()
        .position(|e| e["kind"] == "command" && e["command"] == LOOK)
        .expect("the agent's look");
    let output = events[look + 1]["text"].as_str().unwrap().to_owned();
    (prepared[0], output)
}

/// Commits `files` onto `main` of the fake's bare repository `repo`.
fn commit(lucid: &Lucid, repo: &str, files: &[(&str, &str)]) {
    let bare = lucid.github.repo_dir(repo);
    let work = tempfile::tempdir().unwrap();
    let git = |dir: &Path, args: &[&str]| {
        let output = Command::new("git")
            .current_dir(dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_AUTHOR_NAME", "Ada")
            .env("GIT_AUTHOR_EMAIL", "ada@example.test")
            .env("GIT_COMMITTER_NAME", "Ada")
            .env("GIT_COMMITTER_EMAIL", "ada@example.test")
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    let clone = work.path().join("clone");
    git(
        work.path(),
        &["clone", "-q", bare.to_str().unwrap(), "clone"],
    );
    for (path, contents) in files {
        std::fs::write(clone.join(path), contents).unwrap();
    }
    git(&clone, &["commit", "-qam", "Change the setup"]);
    git(&clone, &["push", "-q", "origin", "HEAD:main"]);
}

/// The engine's images labelled with `key`, by their tags.
async fn images_of_key(key: &str) -> Vec<Vec<String>> {
    let engine = DockerEngine::new(&docker_host()).unwrap();
    let docker = engine.client().await.unwrap();
    let filters = HashMap::from([(
        "label".to_owned(),
        vec![format!("lucid.prepared.key={key}")],
    )]);
    docker
        .list_images(Some(ListImagesOptions {
            filters: Some(filters),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_iter()
        .map(|image| image.repo_tags)
        .collect()
}

fn key_of(prepared: &Value) -> String {
    let image = prepared["image"].as_str().unwrap();
    let key = image.strip_prefix("lucid-prepared:").expect(image);
    assert_eq!(key.len(), 64, "{image}");
    key.to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_setup_runs_once_and_later_sessions_of_its_repository_start_from_the_prepared_image() {
    let look = json!({ "command": LOOK }).to_string();
    let finish = r#"{"summary": "Looked around"}"#;
    let lucid = Lucid::start_setting(
        vec![
            Reply::tool_call("a1", "run", &look),
            Reply::tool_call("a2", "finish", finish),
            Reply::tool_call("b1", "run", &look),
            Reply::tool_call("b2", "finish", finish),
            Reply::tool_call("c1", "run", &look),
            Reply::tool_call("c2", "finish", finish),
            Reply::tool_call("d1", "finish", finish),
        ],
        &[],
    )
    .await;
    let nonce = uuid::Uuid::now_v7().simple().to_string()[20..].to_owned();
    let repo = format!("acme/prep-{nonce}");
    let _images = Images {
        repository: repo.clone(),
    };
    lucid.github.add_repo(
        &repo,
        &[
            ("calc.py", "def add(a, b):\n    return a + b\n"),
            (".lucid/setup.sh", &setup_script(&nonce, 1)),
            ("requirements.txt", "requests==2.32.3\n"),
        ],
    );

    // The first session runs the setup, once, logged before the agent starts.
    let first = run_to(&lucid, &repo, "completed").await;
    assert_eq!(setup_commands(&first), 1, "{first:#?}");
    let setup_at = first
        .iter()
        .position(|e| e["command"] == "bash .lucid/setup.sh")
        .unwrap();
    let setup_output = &first[setup_at + 1];
    assert_eq!(setup_output["kind"], "output");
    assert_eq!(setup_output["exit_code"], 0, "{setup_output}");
    assert!(
        setup_output["text"].as_str().unwrap().contains("setup-ran"),
        "{setup_output}"
    );
    let (made, first_look) = prepared_and_look(&first);
    assert_eq!(made["reused"], false, "{made}");
    let made_ms = made["took_ms"].as_u64().unwrap();
    assert!(made_ms >= 3000, "the setup's own time is in it: {made}");
    let key = key_of(made);
    // Before the agent's first step, and before its checkpoint 0.
    let prepared_at = first.iter().position(|e| e["kind"] == "prepared").unwrap();
    let checkpoint_0 = first
        .iter()
        .position(|e| e["kind"] == "checkpoint")
        .unwrap();
    assert!(setup_at < prepared_at && prepared_at < checkpoint_0);
    let marker = first_look.lines().next().unwrap().to_owned();
    assert!(
        marker.len() >= 19 && marker.bytes().all(|b| b.is_ascii_digit()),
        "{first_look}"
    );
    assert!(first_look.contains("runs=1\n"), "{first_look}");
    assert!(first_look.contains("home=/home/sandbox\n"), "{first_look}");
    assert!(first_look.contains("home-writable\n"), "{first_look}");
    assert!(first_look.contains("root-read-only\n"), "{first_look}");
    // The setup ran on a copy of the checkout: the session's work tree is as checked out.
    assert!(first_look.contains("work-tree-clean"), "{first_look}");
    assert!(of_kind(&first, "file_edit").is_empty(), "{first:#?}");

    // The second session starts from the image: no setup, the same home, fast.
    let second = run_to(&lucid, &repo, "completed").await;
    assert_eq!(setup_commands(&second), 0, "{second:#?}");
    let (reused, second_look) = prepared_and_look(&second);
    assert_eq!(reused["reused"], true, "{reused}");
    assert_eq!(reused["image"], made["image"]);
    let reused_ms = reused["took_ms"].as_u64().unwrap();
    assert!(
        reused_ms * 2 < made_ms && reused_ms < 2500,
        "reused in {reused_ms} ms, made in {made_ms} ms"
    );
    assert_eq!(second_look, first_look, "the same home, the same marker");
    assert_eq!(
        images_of_key(&key).await,
        [[format!("lucid-prepared:{key}")]],
        "one image for the key"
    );

    // A changed setup is a new key: it runs again.
    commit(
        &lucid,
        &repo,
        &[(".lucid/setup.sh", &setup_script(&nonce, 2))],
    );
    let third = run_to(&lucid, &repo, "completed").await;
    assert_eq!(setup_commands(&third), 1, "{third:#?}");
    let (remade, third_look) = prepared_and_look(&third);
    assert_eq!(remade["reused"], false, "{remade}");
    let new_key = key_of(remade);
    assert_ne!(new_key, key);
    assert_ne!(
        third_look.lines().next(),
        Some(marker.as_str()),
        "{third_look}"
    );
    assert!(third_look.contains("runs=1\n"), "{third_look}");
    assert_eq!(images_of_key(&new_key).await.len(), 1);

    // A repository without a setup: nothing prepared.
    let plain = run_to(&lucid, REPO, "completed").await;
    assert!(of_kind(&plain, "prepared").is_empty(), "{plain:#?}");
    assert_eq!(setup_commands(&plain), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_setup_fails_its_session_with_its_exit_and_output_and_keeps_nothing() {
    let lucid = Lucid::start_setting(Vec::new(), &[]).await;
    let nonce = uuid::Uuid::now_v7().simple().to_string()[20..].to_owned();
    let repo = format!("acme/prep-fails-{nonce}");
    let _images = Images {
        repository: repo.clone(),
    };
    let script = format!(
        "# {nonce}\nmkdir -p ~/.cache && echo partial > ~/.cache/partial\n\
         echo 'resolving dependencies'\necho 'no matching distribution for left-pad' >&2\nexit 3\n"
    );
    lucid.github.add_repo(
        &repo,
        &[("calc.py", "x = 1\n"), (".lucid/setup.sh", &script)],
    );
    let events = run_to(&lucid, &repo, "failed").await;
    assert_eq!(setup_commands(&events), 1, "{events:#?}");
    let output = of_kind(&events, "output");
    assert_eq!(output.len(), 1);
    assert_eq!(output[0]["exit_code"], 3);
    assert!(of_kind(&events, "prepared").is_empty(), "{events:#?}");
    let error = of_kind(&events, "error");
    let message = error[0]["message"].as_str().unwrap();
    assert!(
        message.contains(".lucid/setup.sh")
            && message.contains("exit code 3")
            && message.contains("no matching distribution for left-pad"),
        "{message}"
    );
    // The agent never started, and nothing of the setup was kept.
    assert!(lucid.llm.received().is_empty());
    let engine = DockerEngine::new(&docker_host()).unwrap();
    let docker = engine.client().await.unwrap();
    let filters = HashMap::from([(
        "label".to_owned(),
        vec![format!("lucid.prepared.repository={repo}")],
    )]);
    let kept = docker
        .list_images(Some(ListImagesOptions {
            filters: Some(filters),
            ..Default::default()
        }))
        .await
        .unwrap();
    assert!(kept.is_empty(), "{kept:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_setup_the_operator_declares_for_a_repository_runs_as_its_own_would() {
    let nonce = uuid::Uuid::now_v7().simple().to_string()[20..].to_owned();
    let repo = format!("acme/prep-declared-{nonce}");
    let _images = Images {
        repository: repo.clone(),
    };
    let command = format!(
        "mkdir -p ~/.cache/prep && echo declared-{nonce} > ~/.cache/prep/made \
         && echo run >> ~/.cache/prep/runs && echo setup-ran"
    );
    let look = |id: &str| Reply::tool_call(id, "run", &json!({ "command": LOOK }).to_string());
    let done = |id: &str| Reply::tool_call(id, "finish", r#"{"summary": "Looked"}"#);
    let lucid = Lucid::start_setting(
        vec![look("d1"), done("d2"), look("d3"), done("d4")],
        &[("LUCID_REPO_SETUP", &format!("{repo}={command}"))],
    )
    .await;
    lucid.github.add_repo(&repo, &[("calc.py", "x = 1\n")]);

    let first = run_to(&lucid, &repo, "completed").await;
    let ran: Vec<&Value> = first
        .iter()
        .filter(|e| e["kind"] == "command" && e["command"] == command.as_str())
        .collect();
    assert_eq!(ran.len(), 1, "the declared command ran once: {first:#?}");
    let (prepared, output) = prepared_and_look(&first);
    assert_eq!(prepared["reused"], false);
    assert!(output.contains(&format!("declared-{nonce}")), "{output}");

    let second = run_to(&lucid, &repo, "completed").await;
    let (prepared, output) = prepared_and_look(&second);
    assert_eq!(prepared["reused"], true, "{second:#?}");
    assert!(output.contains("runs=1"), "{output}");
}
