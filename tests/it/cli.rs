//! The `lucid` binary itself: `serve` with no settings at all, a start with bad
//! settings, JSON logs, and `doctor`.

use crate::harness::{Backend, DEADLINE, docker_host, fresh_db, within};
use lucid::store::Store;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

fn lucid(dir: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lucid"));
    // Nothing from the test's own environment: only what each test sets.
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(dir)
        .stdin(Stdio::null());
    command
}

/// Kills the server if the test fails before stopping it.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads the server's log until a line contains `needle`, with a deadline.
fn wait_for_line(child: &mut Child, needle: &str) -> Vec<String> {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // Keeps draining after the test stops listening, so the server never
        // writes into a closed pipe.
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + DEADLINE;
    let mut seen = Vec::new();
    while let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        let found = line.contains(needle);
        seen.push(line);
        if found {
            return seen;
        }
    }
    panic!(
        "the server never logged {needle:?}; it logged:\n{}",
        seen.join("\n")
    );
}

fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    child.wait().unwrap()
}

#[tokio::test]
async fn serve_with_no_settings_listens_on_8080_with_a_sqlite_file_here() {
    let dir = tempfile::tempdir().unwrap();
    let child = lucid(dir.path())
        .arg("serve")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut server = Server(child);
    wait_for_line(&mut server.0, "lucid listening on http://127.0.0.1:8080");
    assert!(
        dir.path().join("lucid.db").exists(),
        "no lucid.db in the working directory"
    );

    let health = within("healthz", reqwest::get("http://127.0.0.1:8080/healthz"))
        .await
        .expect("nothing answered on 127.0.0.1:8080");
    assert_eq!(health.status(), 200);
    let api = within("api", reqwest::get("http://127.0.0.1:8080/api/v1/sessions"))
        .await
        .unwrap();
    assert_eq!(api.status(), 401);

    assert!(
        terminate(&mut server.0).success(),
        "lucid did not stop cleanly on SIGTERM"
    );
}

#[test]
fn a_start_with_bad_settings_names_every_problem_and_touches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let output = lucid(dir.path())
        .arg("serve")
        .env("LUCID_LISTEN", "everywhere")
        .env("LUCID_LOG_FORMAT", "xml")
        .env("LUCID_BOGUS", "1")
        .env("LUCID_SLACK_BOT_TOKEN", "xoxb-secret-value")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    for needle in [
        "invalid settings (5 problems)",
        "LUCID_LISTEN (listen): \"everywhere\" is not an address",
        "LUCID_LOG_FORMAT (log_format)",
        "LUCID_BOGUS: unknown setting",
        "LUCID_SLACK_SIGNING_SECRET (slack.signing_secret): missing",
        "LUCID_SLACK_TEAMS (slack.teams): missing",
    ] {
        assert!(
            stderr.contains(needle),
            "stderr lacks {needle:?}:\n{stderr}"
        );
    }
    assert!(
        !stderr.contains("xoxb-secret-value"),
        "a secret was printed:\n{stderr}"
    );
    assert!(!dir.path().join("lucid.db").exists());
}

#[test]
fn a_settings_file_with_an_unknown_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("lucid.toml"),
        "listen = \"127.0.0.1:0\"\nlisten_port = 1\n",
    )
    .unwrap();
    let output = lucid(dir.path())
        .args(["--config", "lucid.toml", "serve"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("lucid.toml: unknown setting `listen_port`"),
        "{stderr}"
    );
}

#[tokio::test]
async fn json_logs_are_one_json_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let child = lucid(dir.path())
        .arg("serve")
        .env("LUCID_LISTEN", "127.0.0.1:0")
        .env("LUCID_LOG_FORMAT", "json")
        .env("DATABASE_URL", "sqlite://json.db")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut server = Server(child);
    let lines = wait_for_line(&mut server.0, "lucid listening");
    for line in &lines {
        let parsed: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        assert!(parsed["level"].is_string(), "{line}");
    }
    assert!(dir.path().join("json.db").exists());
    assert!(terminate(&mut server.0).success());
}

#[test]
fn doctor_passes_on_a_working_setup_and_says_what_is_off() {
    let dir = tempfile::tempdir().unwrap();
    // A first start creates and migrates the database.
    let migrate = lucid(dir.path())
        .args(["serve"])
        .env("LUCID_LISTEN", "127.0.0.1:0")
        .env("DOCKER_HOST", docker_host())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut server = Server(migrate);
    wait_for_line(&mut server.0, "lucid listening");
    terminate(&mut server.0);

    let output = lucid(dir.path())
        .arg("doctor")
        .env("DOCKER_HOST", docker_host())
        .env("LUCID_API_TOKEN", "a-token-of-sixteen-chars")
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success(), "doctor failed:\n{stdout}");
    for prefix in [
        "ok    settings",
        "ok    database  sqlite://lucid.db reachable, ",
        "ok    docker    ",
        "ok    sandbox   image lucid-sandbox:latest is on the engine",
        "ok    network   registries: the proxy can listen on ",
        "ok    api       ",
        "ok    pages     the API token signs in; the links lucid posts open their session read-only",
        "warn  secrets   LUCID_SECRET_KEY is not set",
        "off   github    not configured -> set LUCID_GITHUB_WEBHOOK_SECRETS",
        "off   slack",
    ] {
        assert!(
            stdout.lines().any(|l| l.starts_with(prefix)),
            "no line starts {prefix:?}:\n{stdout}"
        );
    }
}

#[test]
fn doctor_fails_when_a_required_part_is_down_and_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let output = lucid(dir.path())
        .arg("doctor")
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .env("DATABASE_URL", "postgres://lucid:hunter2@127.0.0.1:1/lucid")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8(output.stdout).unwrap();
    let line = |part: &str| {
        stdout
            .lines()
            .find(|l| l.contains(part))
            .unwrap_or_else(|| panic!("no {part} line:\n{stdout}"))
            .to_owned()
    };
    let database = line("database");
    assert!(
        database.starts_with("FAIL  database  postgres://lucid:***@127.0.0.1:1/lucid"),
        "{database}"
    );
    assert!(database.contains("-> check DATABASE_URL"), "{database}");
    let docker = line("docker");
    assert!(docker.starts_with("FAIL  docker"), "{docker}");
    assert!(docker.contains("-> start the Docker engine"), "{docker}");
    let pages = line("pages");
    assert!(
        pages.starts_with("warn  pages     nobody can sign in to lucid's pages")
            && pages.ends_with("-> set LUCID_API_TOKEN or LUCID_UI_PASSWORD"),
        "{pages}"
    );
    assert!(!stdout.contains("hunter2"));
}

#[test]
fn doctor_fails_when_the_sandbox_image_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let output = lucid(dir.path())
        .arg("doctor")
        .env("DOCKER_HOST", docker_host())
        .env("LUCID_SANDBOX_IMAGE", "lucid-no-such-image:never")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8(output.stdout).unwrap();
    let line = stdout
        .lines()
        .find(|l| l.contains("sandbox"))
        .unwrap_or_default();
    assert!(
        line.starts_with("FAIL  sandbox   image lucid-no-such-image:never is not on the engine"),
        "{stdout}"
    );
    assert!(line.contains("lucid sandbox build-image"), "{line}");
}

#[test]
fn doctor_warns_that_a_bridge_network_reaches_everything() {
    let dir = tempfile::tempdir().unwrap();
    let output = lucid(dir.path())
        .arg("doctor")
        .env("DOCKER_HOST", docker_host())
        .env("LUCID_SANDBOX_NETWORK", "bridge")
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let line = stdout
        .lines()
        .find(|l| l.contains("network"))
        .unwrap_or_default();
    assert!(
        line.starts_with("warn  network   bridge: sandboxes reach everything")
            && line.ends_with(
                "-> set LUCID_SANDBOX_NETWORK=registries for the package registries only"
            ),
        "{stdout}"
    );
}

#[test]
fn doctor_reports_bad_settings_as_failures() {
    let dir = tempfile::tempdir().unwrap();
    let output = lucid(dir.path())
        .arg("doctor")
        .env("LUCID_DISCORD_BOT_TOKEN", "t")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.starts_with("FAIL  settings"))
            .count(),
        3,
        "{stdout}"
    );
    assert!(stdout.contains("LUCID_DISCORD_PUBLIC_KEY"), "{stdout}");
}

#[tokio::test]
async fn serve_on_postgres_migrates_at_start_and_is_ready() {
    let db = fresh_db(Backend::Postgres).await;
    let dir = tempfile::tempdir().unwrap();
    let child = lucid(dir.path())
        .arg("serve")
        .env("DATABASE_URL", db.url.expose())
        .env("LUCID_LISTEN", "127.0.0.1:0")
        .env("DOCKER_HOST", docker_host())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut server = Server(child);
    let lines = wait_for_line(&mut server.0, "lucid listening on http://");
    let address = lines
        .last()
        .unwrap()
        .split("http://")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    let ready = within("readyz", reqwest::get(format!("http://{address}/readyz")))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200, "{}", ready.text().await.unwrap());
    assert!(
        !lines.iter().any(|l| l.contains("lucid-tests")),
        "the database password was logged"
    );

    let store = Store::connect(&db.url).await.unwrap();
    let (applied, known) = store.migration_status().await.unwrap();
    assert_eq!(applied, known);
    assert!(terminate(&mut server.0).success());
}
