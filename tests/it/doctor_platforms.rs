//! `lucid doctor` asks each platform about its token, against the fakes: a good
//! token, a revoked one, a Slack token missing a scope, a platform that does not
//! answer; each with its line and doctor's exit code. `--offline` asks nothing.
//! `/readyz` shows the same lines, asked in the background.

use crate::fake_github::FakeGithub;
use crate::fake_llm::FakeLlm;
use crate::fake_slack::FakeSlack;
use crate::rig::{APP_ID, LLM_KEY, Lucid, SLACK_TOKEN, TEAM, TOKEN};

/// The fakes doctor asks.
struct Platforms {
    github: FakeGithub,
    slack: FakeSlack,
    llm: FakeLlm,
}

impl Platforms {
    async fn start() -> Platforms {
        let github = FakeGithub::start("lucid").await;
        github.accept_token(TOKEN);
        github.add_repo("acme/calc", &[("README", "calc\n")]);
        Platforms {
            github,
            slack: FakeSlack::start(SLACK_TOKEN).await,
            llm: FakeLlm::start(vec![]).await,
        }
    }

    /// The settings that point lucid at the fakes.
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("LUCID_GITHUB_WEBHOOK_SECRETS", "s".into()),
            ("LUCID_GITHUB_TOKEN", TOKEN.into()),
            ("LUCID_GITHUB_API_URL", self.github.origin.clone()),
            ("LUCID_SLACK_SIGNING_SECRET", "s".into()),
            ("LUCID_SLACK_BOT_TOKEN", SLACK_TOKEN.into()),
            ("LUCID_SLACK_TEAMS", TEAM.into()),
            ("LUCID_SLACK_API_URL", self.slack.api_url.clone()),
            ("LUCID_LLM_API_KEY", LLM_KEY.into()),
            ("LUCID_LLM_MODEL", "fake-model".into()),
            ("LUCID_LLM_BASE_URL", self.llm.base_url.clone()),
        ]
    }
}

/// `lucid doctor` (with `args`) and these settings: its exit code and its report.
pub(crate) async fn doctor(args: &[&str], env: Vec<(&'static str, String)>) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_lucid"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DOCKER_HOST", crate::harness::docker_host())
        .env("LUCID_API_TOKEN", "a-token-of-sixteen-chars")
        .current_dir(dir.path())
        .arg("doctor")
        .args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let report = String::from_utf8(output.stdout).unwrap();
    assert!(
        !report.contains(TOKEN) && !report.contains(SLACK_TOKEN) && !report.contains(LLM_KEY),
        "a secret is in the report:\n{report}"
    );
    (output.status.code().unwrap_or(-1), report)
}

/// The report's line for `part`.
pub(crate) fn line<'a>(report: &'a str, part: &str) -> &'a str {
    report
        .lines()
        .find(|l| {
            l.get(6..)
                .is_some_and(|rest| rest.starts_with(&format!("{part} ")))
        })
        .unwrap_or_else(|| panic!("no {part} line:\n{report}"))
}

/// An address nothing listens on.
async fn closed_port() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{address}")
}

#[tokio::test(flavor = "multi_thread")]
async fn good_tokens_pass_with_what_each_platform_said() {
    let fakes = Platforms::start().await;
    let (code, report) = doctor(&[], fakes.env()).await;
    assert_eq!(
        line(&report, "github"),
        "ok    github    the token works: signed in as @lucid; 1 webhook secret(s)"
    );
    assert_eq!(
        line(&report, "slack"),
        "ok    slack     the token works, as bot @lucid in Acme (T0001), with every scope lucid needs; 1 workspace(s), 0 channel restriction(s), 0 user restriction(s), 0 channel repository default(s)"
    );
    assert_eq!(
        line(&report, "model"),
        format!(
            "ok    model     OpenAI-compatible API at {} takes the key and offers fake-model",
            fakes.llm.base_url
        )
    );
    assert_eq!(code, 0, "{report}");
    assert!(
        fakes.slack.unexpected().is_empty(),
        "{:?}",
        fakes.slack.unexpected()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn revoked_tokens_fail_each_with_what_to_do() {
    let fakes = Platforms::start().await;
    fakes.github.revoke_token(TOKEN);
    fakes.slack.revoke_token();
    fakes.llm.refuse_key(LLM_KEY);
    let (code, report) = doctor(&[], fakes.env()).await;
    assert_eq!(code, 1, "{report}");
    let github = line(&report, "github");
    assert!(
        github.starts_with(
            "FAIL  github    GitHub refused the token (GET /user: HTTP 401, Bad credentials)"
        ) && github.contains("-> the token is wrong, expired or revoked: make a new one"),
        "{github}"
    );
    let slack = line(&report, "slack");
    assert!(
        slack.starts_with(
            "FAIL  slack     Slack refused the bot token (auth.test: token_revoked, HTTP 200)"
        ) && slack.contains("-> copy the Bot User OAuth Token"),
        "{slack}"
    );
    let model = line(&report, "model");
    assert!(
        model.starts_with("FAIL  model     the OpenAI-compatible API refused the key (GET ")
            && model.contains("HTTP 401, Incorrect API key provided")
            && model.ends_with("-> set LUCID_LLM_API_KEY to a key the provider takes"),
        "{model}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slack_token_missing_a_scope_names_it_and_says_to_reinstall() {
    let fakes = Platforms::start().await;
    let without: Vec<String> = lucid::slack::manifest::bot_scopes()
        .into_iter()
        .filter(|s| *s != "chat:write")
        .map(str::to_owned)
        .collect();
    fakes
        .slack
        .set_scopes(&without.iter().map(String::as_str).collect::<Vec<_>>());
    let (code, report) = doctor(&[], fakes.env()).await;
    assert_eq!(code, 1, "{report}");
    let slack = line(&report, "slack");
    assert!(
        slack.starts_with(
            "FAIL  slack     the token works, as bot @lucid in Acme (T0001), but lacks the scope(s) chat:write -> add them to the app"
        ) && slack.ends_with("reinstall it to the workspace (OAuth & Permissions, Reinstall to Workspace)"),
        "{slack}"
    );

    // A scope lucid does without only warns.
    let without: Vec<&str> = lucid::slack::manifest::bot_scopes()
        .into_iter()
        .filter(|s| *s != "users:read")
        .collect();
    fakes.slack.set_scopes(&without);
    let (code, report) = doctor(&[], fakes.env()).await;
    assert_eq!(code, 0, "{report}");
    let slack = line(&report, "slack");
    assert!(
        slack.starts_with("warn  slack     the token works, as bot @lucid in Acme (T0001), without the scope(s) users:read"),
        "{slack}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn platforms_that_do_not_answer_fail_and_offline_asks_nothing() {
    let nowhere = closed_port().await;
    let mut env = Platforms::start().await.env();
    for (key, value) in env.iter_mut() {
        match *key {
            "LUCID_GITHUB_API_URL" => *value = nowhere.clone(),
            "LUCID_SLACK_API_URL" => *value = format!("{nowhere}/api/"),
            "LUCID_LLM_BASE_URL" => *value = format!("{nowhere}/v1"),
            _ => {}
        }
    }
    let (code, report) = doctor(&[], env.clone()).await;
    assert_eq!(code, 1, "{report}");
    for (part, starts) in [
        (
            "github",
            format!("FAIL  github    could not reach GitHub at {nowhere}: "),
        ),
        (
            "slack",
            format!("FAIL  slack     could not reach Slack at {nowhere}/api: "),
        ),
        (
            "model",
            format!("FAIL  model     could not reach the OpenAI-compatible API at {nowhere}/v1: "),
        ),
    ] {
        let line = line(&report, part);
        assert!(line.starts_with(&starts) && line.contains(" -> "), "{line}");
    }

    let (code, report) = doctor(&["--offline"], env).await;
    assert_eq!(code, 0, "{report}");
    assert!(line(&report, "github").starts_with("ok    github    complete, not asked (--offline)"));
    assert!(line(&report, "slack").starts_with("ok    slack     complete, not asked (--offline)"));
    assert!(
        line(&report, "model")
            .starts_with("ok    model     OpenAI-compatible model fake-model at "),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_github_app_is_asked_for_itself_its_installations_and_a_token() {
    let fakes = Platforms::start().await;
    fakes.github.enable_app(APP_ID, 4242);
    let key = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/github/test-app-key.pem"
    );
    let mut env: Vec<(&'static str, String)> = fakes
        .env()
        .into_iter()
        .filter(|(k, _)| *k != "LUCID_GITHUB_TOKEN")
        .collect();
    env.push(("LUCID_GITHUB_APP_ID", APP_ID.to_string()));
    env.push(("LUCID_GITHUB_PRIVATE_KEY_PATH", key.into()));
    let (code, report) = doctor(&[], env.clone()).await;
    assert_eq!(code, 0, "{report}");
    assert_eq!(
        line(&report, "github"),
        "ok    github    GitHub App lucid (777), from the settings, works: installed on 1 account(s); an installation token was minted for acme"
    );

    // Another App's id: GitHub refuses the JWT.
    for (k, v) in env.iter_mut() {
        if *k == "LUCID_GITHUB_APP_ID" {
            *v = "778".into();
        }
    }
    let (code, report) = doctor(&[], env).await;
    assert_eq!(code, 1, "{report}");
    assert!(
        line(&report, "github")
            .starts_with("FAIL  github    GitHub refused the App's key (GET /app: HTTP 401"),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_model_doctor_says_sessions_would_stay_queued() {
    let env = Platforms::start()
        .await
        .env()
        .into_iter()
        .filter(|(k, _)| !k.starts_with("LUCID_LLM_"))
        .collect();
    let (code, report) = doctor(&["--offline"], env).await;
    assert_eq!(code, 0, "{report}");
    assert_eq!(
        line(&report, "model"),
        "warn  model     no model is configured, and no external agent: sessions would stay queued, never run -> set LUCID_LLM_API_KEY and LUCID_LLM_MODEL (or LUCID_AGENTS for an external agent)"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn readyz_shows_what_the_platforms_last_answered_without_secrets() {
    let lucid = Lucid::start(vec![]).await;
    // Doctor's auth.test is a POST; lucid's own (who it is) a GET.
    lucid
        .slack
        .wait_until("the background check's auth.test", |s| {
            s.calls_to("auth.test")
                .iter()
                .any(|c| c.http_method == "POST")
                .then_some(())
        })
        .await;
    // The other platforms answer the same check at about the same time; /readyz
    // shows them once all have.
    let ready = lucid
        .until_readyz("the platforms' lines in /readyz", |answer| {
            (!answer["platforms"].is_null()).then(|| answer.clone())
        })
        .await;
    let checks = ready["platforms"]["checks"].as_array().unwrap();
    let outcome = |part: &str| {
        checks
            .iter()
            .find(|c| c["part"] == part)
            .unwrap_or_else(|| panic!("no {part} in {ready}"))["outcome"]
            .clone()
    };
    assert_eq!(outcome("github"), "ok", "{ready}");
    assert_eq!(outcome("slack"), "ok", "{ready}");
    assert_eq!(outcome("model"), "ok", "{ready}");
    assert!(ready["platforms"]["checked_at"].as_u64().is_some());
    let text = ready.to_string();
    assert!(
        !text.contains(TOKEN) && !text.contains(SLACK_TOKEN) && !text.contains(LLM_KEY),
        "{text}"
    );
}
