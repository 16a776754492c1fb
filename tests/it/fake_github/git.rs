//! The bare repositories behind the fake and git's smart HTTP protocol, served by the
//! real `git http-backend` CGI.

use super::{Answer, Auth, Credential, Shared};
use axum::body::Bytes;
use axum::http::{HeaderMap, Method};
use base64::Engine;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;

pub fn repo_path(root: &Path, owner: &str, name: &str) -> PathBuf {
    root.join(owner).join(format!("{name}.git"))
}

/// git with no system or user configuration and nothing inherited that could point it
/// elsewhere, with a fixed author, committer and date.
fn command(dir: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new("git");
    cmd.current_dir(dir);
    isolate(&mut cmd);
    cmd
}

fn isolate(cmd: &mut std::process::Command) {
    for var in [
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_OBJECT_DIRECTORY",
        "GIT_CONFIG",
        "GIT_CONFIG_COUNT",
        "GIT_CONFIG_PARAMETERS",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_AUTHOR_NAME", "Fake GitHub")
        .env("GIT_AUTHOR_EMAIL", "fake@github.invalid")
        .env("GIT_AUTHOR_DATE", "2024-01-01T00:00:00Z")
        .env("GIT_COMMITTER_NAME", "Fake GitHub")
        .env("GIT_COMMITTER_EMAIL", "fake@github.invalid")
        .env("GIT_COMMITTER_DATE", "2024-01-01T00:00:00Z");
}

fn check(cmd: &mut std::process::Command) -> String {
    let output = cmd.output().expect("cannot run git");
    assert!(
        output.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `{root}/{owner}/{name}.git`, bare, with one commit on `main` holding `files`.
pub fn create_bare_repo(root: &Path, owner: &str, name: &str, files: &[(&str, &str)]) {
    let bare = repo_path(root, owner, name);
    assert!(!bare.exists(), "the fake already has {owner}/{name}");
    std::fs::create_dir_all(&bare).unwrap();
    check(command(&bare).args(["init", "-q", "--bare", "-b", "main", "."]));
    let work = tempfile::tempdir().unwrap();
    check(command(work.path()).args(["init", "-q", "-b", "main", "."]));
    for (path, content) in files {
        let file = work.path().join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, content).unwrap();
    }
    check(command(work.path()).args(["add", "-A"]));
    check(command(work.path()).args(["commit", "-q", "--allow-empty", "-m", "Initial commit"]));
    check(
        command(work.path())
            .arg("push")
            .arg("-q")
            .arg(&bare)
            .arg("main:main"),
    );
}

pub fn run_sync(dir: &Path, args: &[&str]) -> String {
    check(command(dir).args(args))
}

pub fn resolve_sync(dir: &Path, reference: &str) -> Option<String> {
    let output = command(dir)
        .args(["rev-parse", "--verify", "-q", reference])
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

async fn run(dir: &Path, args: &[&str]) -> Option<String> {
    let mut cmd = command(dir);
    cmd.args(args);
    let output = tokio::process::Command::from(cmd).output().await.ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

pub async fn resolve(dir: &Path, reference: &str) -> Option<String> {
    run(dir, &["rev-parse", "--verify", "-q", reference])
        .await
        .map(|s| s.trim().to_owned())
}

/// Commits on `head` that `base` lacks.
pub async fn count_commits(dir: &Path, base: &str, head: &str) -> u64 {
    run(dir, &["rev-list", "--count", &format!("{base}..{head}")])
        .await
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

pub struct DiffStats {
    pub commits: u64,
    pub additions: u64,
    pub deletions: u64,
    pub changed_files: u64,
}

/// What a pull request from `head` into `base` changes (three-dot diff, as GitHub shows).
pub async fn diff_stats(dir: &Path, base: &str, head: &str) -> DiffStats {
    let numstat = run(dir, &["diff", "--numstat", &format!("{base}...{head}")])
        .await
        .unwrap_or_default();
    let mut stats = DiffStats {
        commits: count_commits(dir, base, head).await,
        additions: 0,
        deletions: 0,
        changed_files: 0,
    };
    for line in numstat.lines() {
        let mut fields = line.split('\t');
        // Binary files show `-`.
        stats.additions += fields.next().and_then(|n| n.parse().ok()).unwrap_or(0);
        stats.deletions += fields.next().and_then(|n| n.parse().ok()).unwrap_or(0);
        stats.changed_files += 1;
    }
    stats
}

fn git_answer(status: u16, text: &str, service: Option<&str>) -> Answer {
    Answer {
        status,
        headers: vec![("content-type".into(), "text/plain; charset=utf-8".into())],
        body: text.as_bytes().to_vec(),
        textual: true,
        git_service: service.map(str::to_owned),
        unrouted: false,
    }
}

/// `/{owner}/{repo}.git/info/refs?service=...`, `/{owner}/{repo}.git/git-upload-pack`
/// and `/{owner}/{repo}.git/git-receive-pack`, authorized like GitHub: HTTP Basic
/// whose password is a token the fake knows.
pub(super) async fn serve(
    state: &Arc<Shared>,
    method: &Method,
    segments: &[&str],
    query: &str,
    headers: &HeaderMap,
    credential: &Credential,
    body: &Bytes,
) -> Answer {
    let service_in_query = url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "service")
        .map(|(_, v)| v.into_owned());
    let service = match (method, &segments[2..]) {
        (&Method::GET, ["info", "refs"]) => service_in_query,
        (&Method::POST, [service]) => Some((*service).to_owned()),
        _ => None,
    }
    .filter(|s| s == "git-upload-pack" || s == "git-receive-pack");
    let Some(service) = service else {
        let mut answer = git_answer(404, "Not Found", None);
        answer.unrouted = true;
        return answer;
    };
    let service = Some(service.as_str());

    let basic = credential
        .scheme
        .as_deref()
        .is_some_and(|s| s.eq_ignore_ascii_case("basic"));
    if !basic || !matches!(credential.auth, Auth::Pat(_) | Auth::Installation(_)) {
        let mut answer = git_answer(401, "Unauthorized", service);
        answer
            .headers
            .push(("www-authenticate".into(), "Basic realm=\"GitHub\"".into()));
        return answer;
    }
    let full_name = format!("{}/{}", segments[0], segments[1].trim_end_matches(".git"));
    let canonical = {
        let inner = state.inner();
        inner
            .repos
            .get(&full_name.to_lowercase())
            .map(|r| (r.owner.clone(), r.name.clone()))
    };
    let Some((owner, name)) = canonical else {
        return git_answer(404, "Repository not found.\n", service);
    };
    if !state.may_reach(&credential.auth, &format!("{owner}/{name}")) {
        return git_answer(404, "Repository not found.\n", service);
    }
    let user = basic_user(headers).unwrap_or_else(|| "x-access-token".into());
    let path_info = format!("/{owner}/{name}.git/{}", segments[2..].join("/"));
    let mut answer = http_backend(
        &state.root,
        method.as_str(),
        &path_info,
        query,
        headers,
        body,
        &user,
    )
    .await;
    answer.git_service = service.map(str::to_owned);
    answer
}

fn basic_user(headers: &HeaderMap) -> Option<String> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let encoded = value.split_once(' ')?.1.trim();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let pair = String::from_utf8(raw).ok()?;
    Some(pair.split_once(':')?.0.to_owned())
}

/// Runs `git http-backend` as a CGI script for one request.
async fn http_backend(
    root: &Path,
    method: &str,
    path_info: &str,
    query: &str,
    headers: &HeaderMap,
    body: &Bytes,
    remote_user: &str,
) -> Answer {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let mut cmd = std::process::Command::new("git");
    isolate(&mut cmd);
    cmd.arg("http-backend")
        .current_dir(root)
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("SERVER_PROTOCOL", "HTTP/1.1")
        .env("REMOTE_USER", remote_user)
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("REQUEST_METHOD", method)
        .env("PATH_INFO", path_info)
        .env("QUERY_STRING", query)
        .env("CONTENT_TYPE", header("content-type"))
        .env("CONTENT_LENGTH", body.len().to_string());
    let encoding = header("content-encoding");
    if !encoding.is_empty() {
        cmd.env("HTTP_CONTENT_ENCODING", encoding);
    }
    // Protocol v2 is asked for in a header that the CGI passes on as GIT_PROTOCOL.
    let protocol = header("git-protocol");
    if !protocol.is_empty() {
        cmd.env("HTTP_GIT_PROTOCOL", &protocol)
            .env("GIT_PROTOCOL", &protocol);
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut cmd = tokio::process::Command::from(cmd);
    cmd.kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => return git_answer(500, &format!("cannot run git http-backend: {e}"), None),
    };
    let mut stdin = child.stdin.take().unwrap();
    let input = body.clone();
    // Fed from a task of its own, so a large body cannot deadlock against the output.
    let feeder = tokio::spawn(async move {
        let _ = stdin.write_all(&input).await;
    });
    let output = match child.wait_with_output().await {
        Ok(output) => output,
        Err(e) => return git_answer(500, &format!("git http-backend failed: {e}"), None),
    };
    let _ = feeder.await;
    parse_cgi(&output.stdout, &output.stderr)
}

/// A CGI response: headers (with `Status:`), a blank line, the body.
fn parse_cgi(stdout: &[u8], stderr: &[u8]) -> Answer {
    let split = stdout
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| (at, at + 4))
        .or_else(|| {
            stdout
                .windows(2)
                .position(|w| w == b"\n\n")
                .map(|at| (at, at + 2))
        });
    let Some((head_end, body_start)) = split else {
        return git_answer(
            500,
            &format!(
                "git http-backend wrote no headers: {}",
                String::from_utf8_lossy(stderr)
            ),
            None,
        );
    };
    let mut status = 200;
    let mut headers = Vec::new();
    for line in String::from_utf8_lossy(&stdout[..head_end]).lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            status = value
                .split_whitespace()
                .next()
                .and_then(|code| code.parse().ok())
                .unwrap_or(500);
        } else {
            headers.push((name.trim().to_owned(), value.to_owned()));
        }
    }
    Answer {
        status,
        headers,
        body: stdout[body_start..].to_vec(),
        textual: status >= 400,
        git_service: None,
        unrouted: false,
    }
}
