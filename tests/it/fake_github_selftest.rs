//! The fake GitHub checked against the real git CLI and plain HTTP, so a failing
//! end-to-end test points at lucid, not at the fake.

use crate::fake_github::{Auth, CommentKind, FakeGithub};
use crate::harness::within;
use base64::Engine;
use serde_json::{Value, json};
use std::path::Path;
use std::process::Output;

const TOKEN: &str = "ghp_fake_pat_0123456789";
const BOT: &str = "lucid-bot";

async fn github() -> FakeGithub {
    let github = FakeGithub::start(BOT).await;
    github.accept_token(TOKEN);
    github.add_repo(
        "acme/app",
        &[("README.md", "# app\n"), ("src/lib.rs", "pub fn f() {}\n")],
    );
    github
}

/// The git CLI with `token` (if any) sent as GitHub wants it, never in the URL, and
/// nothing from the machine's git configuration.
async fn git(dir: &Path, token: Option<&str>, args: &[&str]) -> Output {
    git_with(dir, token, &[], args).await
}

async fn git_with(dir: &Path, token: Option<&str>, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = tokio::process::Command::new("git");
    cmd.current_dir(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Ada")
        .env("GIT_AUTHOR_EMAIL", "ada@example.com")
        .env("GIT_COMMITTER_NAME", "Ada")
        .env("GIT_COMMITTER_EMAIL", "ada@example.com")
        .env_remove("GIT_ASKPASS")
        .env_remove("SSH_ASKPASS")
        .envs(env.iter().copied())
        .kill_on_drop(true);
    if let Some(token) = token {
        let basic =
            base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{token}"));
        cmd.env("GIT_CONFIG_COUNT", "1")
            .env("GIT_CONFIG_KEY_0", "http.extraHeader")
            .env(
                "GIT_CONFIG_VALUE_0",
                format!("Authorization: Basic {basic}"),
            );
    }
    within(&format!("git {args:?}"), cmd.output())
        .await
        .unwrap()
}

fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "git failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Clones `acme/app` into `{dir}/app`.
async fn clone(github: &FakeGithub, dir: &Path, token: Option<&str>) -> Output {
    let url = format!("{}/acme/app.git", github.origin);
    git(dir, token, &["clone", "-q", &url, "app"]).await
}

struct Api<'a> {
    github: &'a FakeGithub,
    http: reqwest::Client,
    token: String,
}

impl<'a> Api<'a> {
    fn new(github: &'a FakeGithub, token: &str) -> Self {
        Self {
            github,
            http: reqwest::Client::new(),
            token: token.to_owned(),
        }
    }

    async fn send(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.github.origin))
            .header("authorization", format!("Bearer {}", self.token))
            .header("accept", "application/vnd.github+json");
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = within(path, request.send()).await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.send("GET", path, None).await
    }
}

#[tokio::test]
async fn cloning_needs_a_known_token_sent_as_basic_auth() {
    let github = github().await;
    let dir = tempfile::tempdir().unwrap();

    let anonymous = clone(&github, dir.path(), None).await;
    assert!(!anonymous.status.success());
    let wrong = clone(&github, dir.path(), Some("ghp_wrong")).await;
    assert!(!wrong.status.success());
    assert!(!dir.path().join("app").exists());

    ok(&clone(&github, dir.path(), Some(TOKEN)).await);
    let readme = std::fs::read_to_string(dir.path().join("app/README.md")).unwrap();
    assert_eq!(readme, "# app\n");

    let requests = github.requests();
    let git: Vec<_> = requests
        .iter()
        .filter(|r| r.git_service.is_some())
        .collect();
    assert!(
        git.iter()
            .any(|r| r.status == 401 && r.auth == Auth::Missing)
    );
    assert!(
        git.iter()
            .any(|r| r.status == 401 && r.auth == Auth::Rejected)
    );
    assert!(git.iter().any(|r| r.status == 200
        && r.auth == Auth::Pat(TOKEN.into())
        && r.auth.accepted()
        && r.scheme.as_deref() == Some("Basic")
        && r.git_service.as_deref() == Some("git-upload-pack")
        && r.method == "POST"));
    // The token travels only in the Authorization header, which is not recorded.
    assert!(requests.iter().all(|r| !r.mentions(TOKEN)
        && !r.response.contains(TOKEN)
        && r.headers.iter().all(|(_, v)| !v.contains(TOKEN))));
    assert!(github.unrouted().is_empty());
}

#[tokio::test]
async fn a_pushed_branch_lands_in_the_bare_repository() {
    let github = github().await;
    let dir = tempfile::tempdir().unwrap();
    ok(&clone(&github, dir.path(), Some(TOKEN)).await);
    let work = dir.path().join("app");
    ok(&git(&work, None, &["checkout", "-q", "-b", "lucid/fix"]).await);
    std::fs::write(work.join("NEW.md"), "new\n").unwrap();
    ok(&git(&work, None, &["add", "NEW.md"]).await);
    ok(&git(&work, None, &["commit", "-q", "-m", "Add NEW.md"]).await);
    let local = ok(&git(&work, None, &["rev-parse", "HEAD"]).await);

    // Pushing needs the token too.
    let denied = git(&work, None, &["push", "-q", "origin", "lucid/fix"]).await;
    assert!(!denied.status.success());
    assert_eq!(github.branch("acme/app", "lucid/fix"), None);

    ok(&git(&work, Some(TOKEN), &["push", "-q", "origin", "lucid/fix"]).await);
    assert_eq!(
        github.branch("acme/app", "lucid/fix").as_deref(),
        Some(local.trim())
    );
    let log = github.git("acme/app", &["log", "--format=%s", "lucid/fix"]);
    assert_eq!(log, "Add NEW.md\nInitial commit\n");
    assert!(github.requests().iter().any(|r| r.status == 200
        && r.method == "POST"
        && r.git_service.as_deref() == Some("git-receive-pack")));
}

#[tokio::test]
async fn rest_needs_a_known_token_and_answers_unknown_routes_404() {
    let github = github().await;
    let (status, body) = Api::new(&github, "ghp_wrong").get("/repos/acme/app").await;
    assert_eq!(status, 401);
    assert_eq!(body["message"], "Bad credentials");
    let anonymous = reqwest::get(format!("{}/repos/acme/app", github.origin))
        .await
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);

    let api = Api::new(&github, TOKEN);
    let (status, repo) = api.get("/repos/acme/app").await;
    assert_eq!(status, 200);
    assert_eq!(repo["full_name"], "acme/app");
    assert_eq!(repo["default_branch"], "main");
    assert_eq!(repo["owner"]["login"], "acme");
    assert_eq!(repo["clone_url"], format!("{}/acme/app.git", github.origin));
    assert_eq!(api.get("/repos/acme/nope").await.0, 404);

    let (status, body) = api.get("/repos/acme/app/releases").await;
    assert_eq!((status, body["message"].as_str()), (404, Some("Not Found")));
    let unrouted = github.unrouted();
    assert_eq!(unrouted.len(), 1);
    assert_eq!(unrouted[0].path, "/repos/acme/app/releases");
}

#[tokio::test]
async fn comments_are_posted_edited_with_history_and_reacted_to() {
    let github = github().await;
    let mention = github.add_comment("acme/app", 7, "ada", "@lucid-bot fix it");
    let api = Api::new(&github, TOKEN);

    let (status, reaction) = api
        .send(
            "POST",
            &format!("/repos/acme/app/issues/comments/{mention}/reactions"),
            Some(json!({"content": "eyes"})),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(reaction["content"], "eyes");
    assert_eq!(reaction["user"]["login"], BOT);
    let again = api
        .send(
            "POST",
            &format!("/repos/acme/app/issues/comments/{mention}/reactions"),
            Some(json!({"content": "eyes"})),
        )
        .await;
    assert_eq!(again.0, 200, "the same reaction again is 200");
    assert_eq!(
        api.send(
            "POST",
            "/repos/acme/app/issues/comments/1/reactions",
            Some(json!({"content": "eyes"}))
        )
        .await
        .0,
        404
    );
    let reactions = github.reactions();
    assert_eq!(reactions.len(), 1);
    assert_eq!(
        (reactions[0].comment_id, reactions[0].kind),
        (mention, CommentKind::Issue)
    );

    let (status, posted) = api
        .send(
            "POST",
            "/repos/acme/app/issues/7/comments",
            Some(json!({"body": "On it."})),
        )
        .await;
    assert_eq!(status, 201);
    let id = posted["id"].as_u64().unwrap();
    assert!(id > mention);
    assert_eq!(posted["user"]["login"], BOT);
    assert_eq!(posted["body"], "On it.");
    assert_eq!(
        posted["issue_url"],
        format!("{}/repos/acme/app/issues/7", github.origin)
    );

    let path = format!("/repos/acme/app/issues/comments/{id}");
    let (status, edited) = api
        .send("PATCH", &path, Some(json!({"body": "Done."})))
        .await;
    assert_eq!((status, edited["body"].as_str()), (200, Some("Done.")));
    let too_long = "x".repeat(65537);
    let (status, error) = api
        .send("PATCH", &path, Some(json!({"body": too_long})))
        .await;
    assert_eq!(status, 422);
    assert_eq!(error["message"], "Validation Failed");

    let comments = github.comments("acme/app", 7);
    assert_eq!(comments.len(), 2);
    assert!(
        comments
            .iter()
            .all(|c| c.repo == "acme/app" && c.issue == 7)
    );
    assert_eq!(comments[0].author, "ada");
    assert_eq!(comments[1].body, "Done.");
    assert_eq!(comments[1].history, ["On it.", "Done."]);
    assert_eq!(comments[1].edits(), 1);

    let (status, listed) = api.get("/repos/acme/app/issues/7/comments").await;
    assert_eq!(status, 200);
    let bodies: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["@lucid-bot fix it", "Done."]);
}

#[tokio::test]
async fn review_comments_take_reactions_on_their_own_route() {
    let github = github().await;
    let review = github.add_review_comment("acme/app", 3, "ada", "@lucid-bot rename this");
    let api = Api::new(&github, TOKEN);
    let path = format!("/repos/acme/app/pulls/comments/{review}/reactions");
    let (status, _) = api
        .send("POST", &path, Some(json!({"content": "eyes"})))
        .await;
    assert_eq!(status, 201);
    // It is not an issue comment.
    let wrong = format!("/repos/acme/app/issues/comments/{review}/reactions");
    assert_eq!(
        api.send("POST", &wrong, Some(json!({"content": "eyes"})))
            .await
            .0,
        404
    );
    let (status, _) = api
        .send("POST", &path, Some(json!({"content": "wave"})))
        .await;
    assert_eq!(status, 422);
    assert_eq!(github.reactions()[0].kind, CommentKind::Review);
}

/// Pushes a branch `name` with one commit onto the fake.
async fn push_branch(github: &FakeGithub, dir: &Path, name: &str) -> String {
    ok(&clone(github, dir, Some(TOKEN)).await);
    let work = dir.join("app");
    ok(&git(&work, None, &["checkout", "-q", "-b", name]).await);
    std::fs::write(work.join("fix.txt"), "fixed\n").unwrap();
    ok(&git(&work, None, &["add", "fix.txt"]).await);
    ok(&git(&work, None, &["commit", "-q", "-m", "Fix"]).await);
    ok(&git(&work, Some(TOKEN), &["push", "-q", "origin", name]).await);
    github.branch("acme/app", name).unwrap()
}

#[tokio::test]
async fn pull_requests_are_created_once_per_head_and_listed_by_head() {
    let github = github().await;
    let dir = tempfile::tempdir().unwrap();
    let api = Api::new(&github, TOKEN);
    let new_pull = json!({"title": "Fix", "head": "lucid/fix", "base": "main", "body": "Fixes #7"});

    let (status, error) = api
        .send("POST", "/repos/acme/app/pulls", Some(new_pull.clone()))
        .await;
    assert_eq!(status, 422, "the head branch does not exist yet: {error}");

    let sha = push_branch(&github, dir.path(), "lucid/fix").await;
    let (status, pull) = api
        .send("POST", "/repos/acme/app/pulls", Some(new_pull.clone()))
        .await;
    assert_eq!(status, 201, "{pull}");
    assert_eq!(pull["state"], "open");
    assert_eq!(pull["head"]["ref"], "lucid/fix");
    assert_eq!(pull["head"]["sha"], sha.as_str());
    assert_eq!(pull["head"]["label"], "acme:lucid/fix");
    assert_eq!(pull["base"]["ref"], "main");
    assert_eq!(pull["user"]["login"], BOT);
    assert_eq!(pull["commits"], 1);
    assert_eq!(pull["changed_files"], 1);
    let number = pull["number"].as_u64().unwrap();
    assert_eq!(
        pull["html_url"],
        format!("{}/acme/app/pull/{number}", github.origin)
    );

    let (status, error) = api
        .send("POST", "/repos/acme/app/pulls", Some(new_pull))
        .await;
    assert_eq!(status, 422);
    assert_eq!(
        error["errors"][0]["message"],
        "A pull request already exists for acme:lucid/fix."
    );

    let (_, listed) = api
        .get("/repos/acme/app/pulls?head=acme:lucid/fix&state=open")
        .await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["number"], number);
    let (_, other) = api
        .get("/repos/acme/app/pulls?head=acme:other&state=open")
        .await;
    assert_eq!(other, json!([]));

    let path = format!("/repos/acme/app/pulls/{number}");
    let (status, patched) = api
        .send(
            "PATCH",
            &path,
            Some(json!({"title": "Fix it", "body": "Better"})),
        )
        .await;
    assert_eq!((status, patched["title"].as_str()), (200, Some("Fix it")));
    let (_, fetched) = api.get(&path).await;
    assert_eq!(fetched["body"], "Better");

    let pulls = github.pulls("acme/app");
    assert_eq!(pulls.len(), 1);
    let pull = &pulls[0];
    assert_eq!(
        (pull.number, pull.title.as_str(), pull.body.as_deref()),
        (number, "Fix it", Some("Better"))
    );
    assert_eq!(
        (
            pull.head_owner.as_str(),
            pull.head.as_str(),
            pull.base.as_str()
        ),
        ("acme", "lucid/fix", "main")
    );
    assert_eq!(
        (pull.state.as_str(), pull.draft, pull.author.as_str()),
        ("open", false, BOT)
    );
    assert_eq!((pull.edits, pull.head_sha.as_str()), (1, sha.as_str()));
}

#[tokio::test]
async fn permissions_answer_per_login() {
    let github = github().await;
    github.set_permission("acme/app", "ada", "admin");
    github.set_permission("acme/app", "bob", "maintain");
    github.set_permission("acme/app", "eve", "none");
    let api = Api::new(&github, TOKEN);
    let permission = |login: &'static str| {
        let api = &api;
        async move {
            let (status, body) = api
                .get(&format!("/repos/acme/app/collaborators/{login}/permission"))
                .await;
            assert_eq!(status, 200);
            assert_eq!(body["user"]["login"], login);
            (
                body["permission"].as_str().unwrap().to_owned(),
                body["role_name"].as_str().unwrap().to_owned(),
            )
        }
    };
    assert_eq!(permission("ada").await, ("admin".into(), "admin".into()));
    assert_eq!(permission("bob").await, ("write".into(), "maintain".into()));
    assert_eq!(permission("eve").await.0, "none");
    assert_eq!(permission("mallory").await.0, "read");
    github.set_private("acme/app", true);
    assert_eq!(permission("mallory").await.0, "none");
}

fn jwt(app_id: u64) -> String {
    let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    format!(
        "{}.{}.c2lnbmF0dXJl",
        b64(json!({"alg": "RS256", "typ": "JWT"})),
        b64(json!({"iat": now - 60, "exp": now + 540, "iss": app_id.to_string()}))
    )
}

#[tokio::test]
async fn an_app_mints_scoped_installation_tokens_that_work_for_git_and_rest() {
    let github = FakeGithub::start("lucid-app[bot]").await;
    github.add_repo("acme/app", &[("README.md", "# app\n")]);
    github.add_repo("acme/other", &[("README.md", "# other\n")]);
    github.enable_app(42, 4242);

    let app = Api::new(&github, &jwt(42));
    let (status, installation) = app.get("/repos/acme/app/installation").await;
    assert_eq!(status, 200);
    assert_eq!(installation["id"], 4242);
    assert_eq!(installation["app_id"], 42);
    assert_eq!(installation["account"]["login"], "acme");
    assert_eq!(
        Api::new(&github, &jwt(41))
            .get("/repos/acme/app/installation")
            .await
            .0,
        401
    );
    assert_eq!(
        app.get("/repos/acme/app").await.0,
        401,
        "a JWT is not a token"
    );

    let (status, minted) = app
        .send(
            "POST",
            "/app/installations/4242/access_tokens",
            Some(json!({"repositories": ["app"], "permissions": {"contents": "write"}})),
        )
        .await;
    assert_eq!(status, 201, "{minted}");
    let token = minted["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("ghs_"));
    let mint = github
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("/access_tokens"))
        .unwrap();
    assert_eq!(
        (mint.auth, mint.scheme.as_deref()),
        (Auth::AppJwt, Some("Bearer"))
    );
    assert!(mint.response.contains(&token));
    assert_eq!(minted["repository_selection"], "selected");
    assert_eq!(minted["repositories"][0]["full_name"], "acme/app");
    let tokens = github.tokens_minted();
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0].repositories, ["acme/app"]);
    assert_eq!(tokens[0].installation_id, 4242);
    assert_eq!(
        tokens[0].permissions_requested,
        json!({"contents": "write"})
    );

    let dir = tempfile::tempdir().unwrap();
    ok(&clone(&github, dir.path(), Some(&token)).await);
    let other = format!("{}/acme/other.git", github.origin);
    let outside = git(dir.path(), Some(&token), &["clone", "-q", &other, "other"]).await;
    assert!(!outside.status.success(), "the token is scoped to acme/app");

    let api = Api::new(&github, &token);
    let (status, comment) = api
        .send(
            "POST",
            "/repos/acme/app/issues/1/comments",
            Some(json!({"body": "hi"})),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(comment["user"]["login"], "lucid-app[bot]");
    assert_eq!(comment["user"]["type"], "Bot");
    assert_eq!(comment["performed_via_github_app"]["id"], 42);
    assert_eq!(api.get("/repos/acme/other").await.0, 404);
    assert!(github.comments("acme/app", 1)[0].via_app);

    github.revoke_token(&token);
    assert_eq!(api.get("/repos/acme/app").await.0, 401);
}

#[tokio::test]
async fn failures_can_be_injected_and_waited_for() {
    let github = github().await;
    github.fail_next(
        "post",
        "/repos/acme/app/issues/",
        502,
        json!({"message": "Server Error"}),
    );
    let waiter = {
        let api = Api::new(&github, TOKEN);
        async move {
            let path = "/repos/acme/app/issues/7/comments";
            let first = api.send("POST", path, Some(json!({"body": "a"}))).await.0;
            let second = api.send("POST", path, Some(json!({"body": "a"}))).await.0;
            (first, second)
        }
    };
    let (statuses, posted) = tokio::join!(
        waiter,
        github.wait_until("a comment on #7", |g| {
            g.comments("acme/app", 7).first().map(|c| c.id)
        })
    );
    assert_eq!(statuses, (502, 201));
    assert!(posted >= 9000);
    let requests = github.requests();
    assert!(requests[0].injected && requests[0].status == 502);
    assert!(!requests[1].injected);
}

#[tokio::test]
async fn big_pushes_and_fetches_survive_chunked_and_gzipped_bodies() {
    let github = github().await;
    let dir = tempfile::tempdir().unwrap();
    ok(&clone(&github, dir.path(), Some(TOKEN)).await);
    let work = dir.path().join("app");
    ok(&git(&work, None, &["checkout", "-q", "-b", "big"]).await);
    // 3 MB that does not compress: more than git's 1 MB post buffer, so it is chunked.
    let mut state = 0x2545_f491_u64;
    let noise: Vec<u8> = (0..3 << 20)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    std::fs::write(work.join("noise.bin"), noise).unwrap();
    ok(&git(&work, None, &["add", "noise.bin"]).await);
    ok(&git(&work, None, &["commit", "-q", "-m", "Noise"]).await);
    // Many local commits the server lacks, newer than what it has: a fetch then sends
    // a long list of haves before it reaches a common one, which git gzips.
    for n in 0..60 {
        let message = format!("local {n}");
        let date = format!("2030-01-01T00:{n:02}:00Z");
        let env = [("GIT_COMMITTER_DATE", date.as_str())];
        let args = ["commit", "-q", "--allow-empty", "-m", &message];
        ok(&git_with(&work, None, &env, &args).await);
    }
    ok(&git(
        &work,
        Some(TOKEN),
        &["push", "-q", "origin", "big~60:refs/heads/big"],
    )
    .await);
    let pushed = github.branch("acme/app", "big").unwrap();
    assert_eq!(
        github.git("acme/app", &["log", "-1", "--format=%s", &pushed]),
        "Noise\n"
    );

    // A commit only the server has, so the fetch must negotiate.
    let tree = format!("{pushed}^{{tree}}");
    let new = github.git(
        "acme/app",
        &["commit-tree", &tree, "-p", "main", "-m", "Server side"],
    );
    github.git("acme/app", &["update-ref", "refs/heads/moved", new.trim()]);
    ok(&git(&work, Some(TOKEN), &["fetch", "-q", "origin"]).await);
    let requests = github.requests();
    let posts = requests
        .iter()
        .filter(|r| r.method == "POST" && r.status == 200);
    let encodings: Vec<Option<&str>> = posts.map(|r| r.header("content-encoding")).collect();
    assert!(encodings.contains(&Some("gzip")), "{encodings:?}");
    let fetched = ok(&git(&work, None, &["rev-parse", "origin/moved"]).await);
    assert_eq!(fetched, new);
}
