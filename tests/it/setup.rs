//! `lucid setup slack` and `lucid setup discord`: the Slack app manifest covers every
//! route lucid serves for Slack and every Web API method its client calls, with the
//! scope Slack asks for each, and nothing more; the checked-in manifest is what the
//! command prints; the Discord invite asks for exactly lucid's permissions.

use crate::fake_slack::FakeSlack;
use crate::harness::within;
use crate::rig::{ADA, CHANNEL, Lucid, SLACK_SECRET, TEAM, now_unix, stop_click};
use lucid::slack::manifest::{
    BOT_EVENTS, COMMAND, COMMANDS_SCOPE, PLACEHOLDER_URL, WebMethod, bot_scopes, manifest,
};
use serde_json::{Value, json};
use std::process::Command;

/// `lucid setup <platform>` with only these settings: (exit code, stdout, stderr).
fn setup(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_lucid"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(dir.path())
        .arg("setup")
        .args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[test]
fn the_checked_in_slack_manifest_is_what_setup_prints_for_the_placeholder() {
    let (code, stdout, stderr) = setup(&["slack"], &[("LUCID_PUBLIC_URL", PLACEHOLDER_URL)]);
    assert_eq!(code, 0, "{stderr}");
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/manifests/slack-app.yaml");
    let checked_in = std::fs::read_to_string(file).unwrap();
    assert_eq!(
        checked_in, stdout,
        "manifests/slack-app.yaml is not what `lucid setup slack` prints: run \
         `LUCID_PUBLIC_URL={PLACEHOLDER_URL} lucid setup slack > manifests/slack-app.yaml`"
    );
    for url in [
        "request_url: https://lucid.example.com/webhooks/slack/events",
        "request_url: https://lucid.example.com/webhooks/slack/interactions",
        "url: https://lucid.example.com/webhooks/slack/commands",
        "command: /lucid",
    ] {
        assert!(stdout.contains(url), "{url} is not in:\n{stdout}");
    }
    assert!(
        stderr.starts_with("The manifest above is lucid's Slack app")
            && stderr.contains("Three clicks remain")
            && stderr.contains("Install to Workspace")
            && stderr.contains("LUCID_SLACK_BOT_TOKEN")
            && stderr.contains("LUCID_SLACK_SIGNING_SECRET"),
        "{stderr}"
    );

    // Without a public https address the manifest still comes, with a warning first.
    let (code, stdout, stderr) = setup(&["slack"], &[]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("http://127.0.0.1:8080/webhooks/slack/events"),
        "{stdout}"
    );
    assert!(
        stderr.starts_with("warning: LUCID_PUBLIC_URL is http://127.0.0.1:8080"),
        "{stderr}"
    );
}

/// The manifest's bot scopes, read from what Slack would import.
fn scopes_of(manifest: &Value) -> Vec<String> {
    manifest["oauth_config"]["scopes"]["bot"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn each_method_lucid_calls_works_with_the_manifest_scopes_and_fails_without_its_own() {
    let token = "xoxb-setup-test-token";
    let slack = FakeSlack::start(token).await;
    let manifest = manifest(PLACEHOLDER_URL);
    let scopes = scopes_of(&manifest);
    let http = reqwest::Client::new();
    let call = |method: WebMethod| {
        let request = http
            .post(format!("{}{}", slack.api_url, method.name()))
            .bearer_auth(token)
            .json(&json!({"channel": CHANNEL, "text": "hi", "user": ADA, "ts": "1.1", "name": "eyes"}));
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    // The fake's token has what the manifest asks for: every method lucid calls is
    // one Slack has (the fake serves it) and the manifest gives it its scope.
    let mut needed: Vec<String> = Vec::new();
    for method in WebMethod::ALL {
        let answer = call(*method).await;
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(
            error != "unknown_method" && error != "missing_scope",
            "{}: {answer}",
            method.name()
        );
        // Without the scope Slack gives for it, the same call is refused, naming it.
        if let Some(scope) = method.scope() {
            needed.push(scope.to_owned());
            let others: Vec<&str> = scopes
                .iter()
                .map(String::as_str)
                .filter(|s| *s != scope)
                .collect();
            slack.set_scopes(&others);
            let answer = call(*method).await;
            assert_eq!(
                answer["error"],
                "missing_scope",
                "{}: {answer}",
                method.name()
            );
            assert_eq!(answer["needed"], scope, "{}", method.name());
            slack.set_scopes(&scopes.iter().map(String::as_str).collect::<Vec<_>>());
        }
    }
    // And nothing more: each scope is a method's, an event's or the command's.
    needed.extend(BOT_EVENTS.iter().map(|e| e.scope.to_owned()));
    needed.push(COMMANDS_SCOPE.to_owned());
    needed.sort();
    needed.dedup();
    assert_eq!(scopes, needed);
    assert_eq!(
        bot_scopes(),
        scopes.iter().map(String::as_str).collect::<Vec<_>>()
    );
}

/// Posts `body` to `url`, signed with the app's signing secret as Slack does.
async fn signed(url: &str, body: Vec<u8>, content_type: &str) -> (u16, Value) {
    let timestamp = now_unix();
    let signature = lucid::slack::inbound::sign(SLACK_SECRET, timestamp, &body);
    let response = within(
        url,
        reqwest::Client::new()
            .post(url)
            .header("X-Slack-Request-Timestamp", timestamp.to_string())
            .header("X-Slack-Signature", signature)
            .header("content-type", content_type)
            .body(body)
            .send(),
    )
    .await
    .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn form(fields: &[(&str, &str)]) -> Vec<u8> {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
        .into_bytes()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_address_in_the_manifest_is_a_route_lucid_serves() {
    let lucid = Lucid::start(vec![]).await;
    let manifest = manifest(&lucid.url);
    let settings = &manifest["settings"];

    let events = settings["event_subscriptions"]["request_url"]
        .as_str()
        .unwrap();
    let check = json!({"token": "x", "challenge": "c-123", "type": "url_verification"});
    let (status, answer) = signed(events, check.to_string().into_bytes(), "application/json").await;
    assert_eq!((status, answer), (200, json!({"challenge": "c-123"})));

    assert_eq!(settings["interactivity"]["is_enabled"], true);
    let interactions = settings["interactivity"]["request_url"].as_str().unwrap();
    let click = stop_click(CHANNEL, ADA, "1.5", "no-such-session");
    let (status, _) = signed(
        interactions,
        form(&[("payload", &click)]),
        "application/x-www-form-urlencoded",
    )
    .await;
    assert_eq!(status, 200);

    let command = &manifest["features"]["slash_commands"][0];
    assert_eq!(command["command"], COMMAND);
    let trigger = format!("{}.1.setup", now_unix());
    let (status, answer) = signed(
        command["url"].as_str().unwrap(),
        form(&[
            ("command", COMMAND),
            ("text", ""),
            ("team_id", TEAM),
            ("channel_id", CHANNEL),
            ("user_id", ADA),
            ("trigger_id", &trigger),
            ("response_url", "https://hooks.slack.com/commands/T0001/1/x"),
        ]),
        "application/x-www-form-urlencoded",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(answer["response_type"], "ephemeral", "{answer}");

    // The three are all of lucid's Slack routes.
    let (status, _) = signed(
        &format!("{}/webhooks/slack/options", lucid.url),
        b"{}".to_vec(),
        "application/json",
    )
    .await;
    assert_eq!(status, 404);
    assert!(
        lucid.slack.unexpected().is_empty(),
        "{:?}",
        lucid.slack.unexpected()
    );
}

#[test]
fn setup_discord_gives_the_invite_with_exactly_lucids_permissions() {
    let (code, stdout, stderr) = setup(
        &["discord", "--application-id", "1234567890"],
        &[("LUCID_PUBLIC_URL", "https://lucid.example.com")],
    );
    assert_eq!(code, 0, "{stderr}");
    // View Channels 1<<10, Send Messages 1<<11, Add Reactions 1<<6, Read Message
    // History 1<<16, Create Public Threads 1<<35, Send Messages in Threads 1<<38.
    let bits: u64 = (1 << 10) | (1 << 11) | (1 << 6) | (1 << 16) | (1 << 35) | (1 << 38);
    assert_eq!(
        stdout,
        format!(
            "https://discord.com/oauth2/authorize?client_id=1234567890&scope=bot%20applications.commands&permissions={bits}\n"
        )
    );
    for words in [
        "View Channels, Send Messages, Send Messages in Threads, Create Public Threads, Add Reactions, Read Message History",
        "https://lucid.example.com/webhooks/discord/interactions",
        "Interactions Endpoint URL",
    ] {
        assert!(stderr.contains(words), "{words:?} is not in:\n{stderr}");
    }
    assert!(!stderr.contains("warning"), "{stderr}");

    // No id yet: a placeholder, and where to find it.
    let (_, stdout, stderr) = setup(
        &["discord"],
        &[("LUCID_PUBLIC_URL", "https://lucid.example.com")],
    );
    assert!(stdout.contains("client_id=<application id>"), "{stdout}");
    assert!(stderr.contains("LUCID_DISCORD_APPLICATION_ID"), "{stderr}");
}
