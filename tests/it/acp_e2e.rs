//! External agents end to end: the real `lucid serve` runs the scripted ACP agent
//! (tests/acp_script) in a real sandbox, driven from a GitHub comment or a Slack
//! mention with the fake platforms, its model reached through lucid's gateway in
//! front of the fake provider. The agent's steps reach the thread and the log, the
//! work reaches a pull request, and the provider's key never reaches the sandbox.

use crate::acp_image::acp_image;
use crate::fake_llm::Reply;
use crate::harness::within;
use crate::rig::{LLM_KEY, Lucid, REPO, comment_payload};
use serde_json::Value;

/// How many containers the session has.
pub(crate) async fn containers_of(session: &str) -> usize {
    use bollard::query_parameters::ListContainersOptions;
    let docker = bollard::Docker::connect_with_defaults().unwrap();
    let filters = std::collections::HashMap::from([(
        "label".to_owned(),
        vec![format!("lucid.session={session}")],
    )]);
    docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(filters),
            ..Default::default()
        }))
        .await
        .unwrap()
        .len()
}

pub(crate) fn of_kind<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["kind"] == kind).collect()
}

/// lucid with the scripted agent as its default agent, in `scenario`.
pub(crate) async fn lucid_with(
    scenario: &str,
    replies: Vec<Reply>,
    extra: &[(&str, &str)],
) -> Lucid {
    let image = acp_image().await;
    let agents = format!("script=openai:lucid-acp-script --scenario {scenario}");
    let mut settings = vec![
        ("LUCID_AGENTS", agents.as_str()),
        ("LUCID_DEFAULT_AGENT", "script"),
        ("LUCID_SANDBOX_IMAGE", image.as_str()),
        ("LUCID_LLM_PRICE_INPUT", "3"),
        ("LUCID_LLM_PRICE_OUTPUT", "15"),
    ];
    settings.extend_from_slice(extra);
    Lucid::start_setting(replies, &settings).await
}

/// A mention on issue 7 of acme/calc; answers the session's id.
pub(crate) async fn mention(lucid: &Lucid, delivery: &str, words: &str) -> String {
    let comment = lucid.github.add_comment(REPO, 7, "ada", words);
    let payload = comment_payload(7, "add() subtracts", comment, "ada", words);
    let (status, answer) = lucid.deliver("issue_comment", delivery, &payload).await;
    assert_eq!(status, 202, "{answer}");
    answer["session"].as_str().unwrap().to_owned()
}

pub(crate) async fn ended(lucid: &Lucid, id: &str) -> Value {
    lucid
        .until_session(id, "the session to end", |s| {
            ["completed", "failed", "cancelled"].contains(&s["state"].as_str().unwrap_or(""))
        })
        .await
}

/// The value of `NAME=` in an environment dump.
fn variable(dump: &str, name: &str) -> Option<String> {
    dump.lines()
        .find_map(|line| line.strip_prefix(&format!("{name}=")))
        .map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_github_mention_runs_the_external_agent_to_a_pull_request_without_the_key_in_the_sandbox()
{
    let lucid = lucid_with("fix", vec![Reply::text("Change - to +.", 1_000, 200)], &[]).await;
    let id = mention(&lucid, "d-acp-1", "@lucid please fix add()").await;
    let session = ended(&lucid, &id).await;
    assert_eq!(session["state"], "completed", "{session}\n{}", lucid.log());
    let events = lucid.events(&id).await;

    // The agent's first step dumped what a thief would look at: the session's token
    // and the gateway's address are there, the provider's key is not.
    let outputs = of_kind(&events, "output");
    let dump = outputs[0]["text"].as_str().unwrap();
    assert!(
        !dump.contains(LLM_KEY),
        "the provider's key is in the sandbox"
    );
    let token = variable(dump, "OPENAI_API_KEY").expect("the session's token");
    assert!(token.starts_with("lucid-gw-"), "{token}");
    let base_url = variable(dump, "OPENAI_BASE_URL").expect("the gateway's address");
    assert!(!lucid.log().contains(LLM_KEY), "the key is in lucid's log");

    // The provider heard the real key, from the gateway only.
    let heard = lucid.llm.received();
    assert_eq!(heard.len(), 1, "one model request");
    assert_eq!(heard[0].authorization, format!("Bearer {LLM_KEY}"));

    // Its steps: the test run as a command with its output, the edit from the work
    // tree, its words as thoughts, what it spent.
    let commands: Vec<&str> = of_kind(&events, "command")
        .iter()
        .map(|e| e["command"].as_str().unwrap())
        .collect();
    assert!(commands.contains(&"python3 test_calc.py"), "{commands:?}");
    let last_output = outputs.last().unwrap();
    assert_eq!(last_output["exit_code"], 0, "{last_output}");
    assert!(last_output["text"].as_str().unwrap().contains("ok"));
    let edits = of_kind(&events, "file_edit");
    assert_eq!(edits.len(), 1, "{edits:?}");
    assert_eq!(edits[0]["path"], "calc.py");
    assert!(
        edits[0]["diff"]
            .as_str()
            .unwrap()
            .contains("+    return a + b")
    );
    let thoughts: Vec<&str> = of_kind(&events, "thought")
        .iter()
        .map(|e| e["text"].as_str().unwrap())
        .collect();
    assert!(thoughts.contains(&"Change - to +."), "{thoughts:?}");
    assert!(
        thoughts.iter().any(|t| t.starts_with("Plan:\n1. ")),
        "{thoughts:?}"
    );
    let usage = of_kind(&events, "usage");
    let usage = usage
        .last()
        .unwrap_or_else(|| panic!("no usage from the gateway: {}", lucid.log()));
    assert_eq!(
        (usage["tokens_in"].as_u64(), usage["tokens_out"].as_u64()),
        (Some(1_000), Some(200))
    );
    // $3 and $15 per million: 0.003 + 0.003.
    assert_eq!(usage["cost_micros"], 6_000);

    // The work reached a pull request, whose body has the cost and the summary.
    let pulls = lucid.github.pulls(REPO);
    assert_eq!(pulls.len(), 1);
    let calc = lucid
        .github
        .git(REPO, &["show", &format!("{}:calc.py", pulls[0].head)]);
    assert!(calc.contains("return a + b"), "{calc}");
    let body = pulls[0].body.clone().unwrap_or_default();
    assert!(body.contains("**Cost:** $0.0060"), "{body}");
    assert!(body.contains("the test passes now"), "{body}");
    // The thread's status says what the agent spent, as for lucid's own agent.
    lucid.github.until_comment_saying(REPO, 7, "$0.0060").await;

    // The session says which agent ran it; the agents list says what it said of
    // itself when it started.
    assert_eq!(session["trigger"]["agent"], "script", "{session}");
    assert_eq!(session["model"], "fake-model", "{session}");
    let agents = lucid.api("/agents").await;
    let agents = agents["agents"].as_array().unwrap();
    assert_eq!(agents[0]["id"], "script", "the default first: {agents:?}");
    assert_eq!(agents[0]["default"], true);
    assert_eq!(agents[0]["protocol"], "acp");
    assert_eq!(agents[0]["provider"], "openai");
    assert_eq!(agents[0]["seen"]["name"], "lucid-acp-script");
    assert_eq!(agents[0]["seen"]["version"], "0.1.0");
    assert_eq!(agents[1]["id"], "built-in");
    assert_eq!(agents[1]["seen"], Value::Null);

    // The token died with the session.
    let refused = reqwest::Client::new()
        .post(format!("{base_url}/chat/completions"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"model": "m", "messages": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(
        lucid.llm.received().len(),
        1,
        "nothing more reached the provider"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_that_crashes_breaks_the_protocol_or_stops_short_fails_visibly_and_garbage_is_skipped()
 {
    for (scenario, expected) in [
        ("crash", Some("exited with status 3: panic: scripted crash")),
        ("violate", Some("broke the protocol")),
        // A turn that stops short of its end fails with the stop reason in words.
        ("refuse", Some("the agent script refused to go on")),
        (
            "max_tokens",
            Some("the agent script reached the most tokens it may use in a turn"),
        ),
        ("garbage", None),
    ] {
        let lucid = lucid_with(scenario, vec![Reply::text("Change - to +.", 10, 2)], &[]).await;
        let id = mention(
            &lucid,
            &format!("d-acp-{scenario}"),
            "@lucid please fix add()",
        )
        .await;
        let session = ended(&lucid, &id).await;
        match expected {
            Some(reason) => {
                assert_eq!(session["state"], "failed", "{scenario}: {session}");
                let said = session["reason"].as_str().unwrap_or_default();
                assert!(said.contains(reason), "{scenario}: {said}");
                // The thread says why (it follows the log, so it may come just after).
                lucid.github.until_comment_saying(REPO, 7, reason).await;
            }
            None => {
                assert_eq!(
                    session["state"],
                    "completed",
                    "{scenario}: {session}\n{}",
                    lucid.log()
                );
                assert_eq!(lucid.github.pulls(REPO).len(), 1, "{scenario}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_agent_is_cancelled_and_one_deaf_to_it_is_killed_within_two_seconds() {
    for scenario in ["slow", "deaf"] {
        let lucid = lucid_with(scenario, vec![], &[]).await;
        let id = mention(
            &lucid,
            &format!("d-acp-{scenario}"),
            "@lucid please fix add()",
        )
        .await;
        within("the agent's first words", async {
            loop {
                let events = lucid.events(&id).await;
                if !of_kind(&events, "thought").is_empty() {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        })
        .await;
        let asked = std::time::Instant::now();
        let (status, body) = lucid
            .api_post(
                &format!("/sessions/{id}/stop"),
                &serde_json::json!({}),
                None,
            )
            .await;
        assert!(status < 300, "{status} {body}");
        let session = ended(&lucid, &id).await;
        assert_eq!(session["state"], "cancelled", "{scenario}: {session}");
        // The run itself ends (its sandbox gone) within the grace and a margin.
        within("the run to end", async {
            while containers_of(&id).await > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        })
        .await;
        assert!(
            asked.elapsed() < std::time::Duration::from_secs(8),
            "{scenario}: stopping took {:?}",
            asked.elapsed()
        );
        // The agent was asked to cancel (its own log says it heard it); the deaf one
        // says it ignored it, so what ended it was the kill.
        let log = within("the agent's log", async {
            loop {
                let events = lucid.events(&id).await;
                if let Some(log) = of_kind(&events, "agent_log").first() {
                    return log["text"].as_str().unwrap_or_default().to_owned();
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        })
        .await;
        assert!(log.contains("session/cancel"), "{scenario}: {log}");
        assert_eq!(
            log.contains("deaf: ignoring session/cancel"),
            scenario == "deaf",
            "{scenario}: {log}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_permission_request_is_allowed_by_its_kind_not_its_place() {
    let lucid = lucid_with("permission", vec![], &[]).await;
    let id = mention(&lucid, "d-acp-perm", "@lucid please clean the build").await;
    let session = ended(&lucid, &id).await;
    assert_eq!(session["state"], "completed", "{session}\n{}", lucid.log());
    let pulls = lucid.github.pulls(REPO);
    assert_eq!(pulls.len(), 1);
    let allowed = lucid
        .github
        .git(REPO, &["show", &format!("{}:ALLOWED", pulls[0].head)]);
    // Rejection came first in the list, "always" second: the one-time allow won.
    assert_eq!(allowed.trim(), "yes");
}

#[tokio::test(flavor = "multi_thread")]
async fn usage_over_the_budget_cuts_the_agent_at_the_gateway() {
    let lucid = lucid_with(
        "fix",
        vec![Reply::text("Change - to +.", 5_000, 1_000)],
        &[("LUCID_AGENT_MAX_TOKENS", "1000")],
    )
    .await;
    let id = mention(&lucid, "d-acp-budget", "@lucid please fix add()").await;
    let session = ended(&lucid, &id).await;
    assert_eq!(session["state"], "failed", "{session}");
    let reason = session["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("token budget (1000 tokens)"), "{session}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_doctor_starts_each_agent_and_says_which_answers() {
    let image = acp_image().await;
    let dir = tempfile::tempdir().unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_lucid"))
        .arg("doctor")
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap())
        .env("DOCKER_HOST", crate::harness::docker_host())
        .env("LUCID_SANDBOX_IMAGE", &image)
        .env(
            "LUCID_AGENTS",
            "script=openai:lucid-acp-script --scenario fix,ghost=openai:no-such-agent --acp,keyless=google:lucid-acp-script --scenario fix",
        )
        .env("LUCID_OPENAI_API_KEY", "sk-doctor-0123456789")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    let line = |id: &str| {
        stdout
            .lines()
            .find(|l| l.contains("agents") && l.contains(&format!("{id}:")))
            .unwrap_or_else(|| panic!("no line for {id}:\n{stdout}"))
            .to_owned()
    };
    let script = line("script");
    assert!(
        script.starts_with("ok    agents")
            && script.contains("answered initialize (lucid-acp-script 0.1.0)"),
        "{script}"
    );
    let ghost = line("ghost");
    assert!(ghost.starts_with("FAIL  agents"), "{ghost}");
    assert!(
        ghost.contains("-> build the image with `lucid sandbox build-image --agents ghost`"),
        "{ghost}"
    );
    let keyless = line("keyless");
    assert!(
        keyless.starts_with("FAIL  agents") && keyless.contains("no key is set for google"),
        "{keyless}"
    );
    assert!(
        !stdout.contains("sk-doctor"),
        "the key is printed: {stdout}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slack_mention_runs_the_external_agent_and_its_thread_ends_with_the_pull_request() {
    use crate::rig::{ADA, BOT_USER, CHANNEL, slack_message};
    let lucid = lucid_with("fix", vec![Reply::text("Change - to +.", 100, 20)], &[]).await;
    let ts = "1700000042.000100";
    let text = format!("<@{BOT_USER}> please fix add()");
    let mention = slack_message("app_mention", CHANNEL, ADA, ts, None, &text);
    let (status, answer) = lucid.slack_event(&mention, None).await;
    assert_eq!(status, 200, "{answer}");
    let id = answer["session"].as_str().unwrap().to_owned();
    let session = ended(&lucid, &id).await;
    assert_eq!(session["state"], "completed", "{session}\n{}", lucid.log());
    assert_eq!(session["trigger"]["agent"], "script");
    assert_eq!(lucid.github.pulls(REPO).len(), 1);
    // The thread: one status message that ends Done, and the PR linked once.
    let thread = lucid
        .slack
        .wait_until("the thread to say Done", |s| {
            let thread = s.thread(CHANNEL, ts);
            thread
                .iter()
                .any(|m| m.text.contains("*Done.*"))
                .then_some(thread)
        })
        .await;
    let pr_links = thread.iter().filter(|m| m.text.contains("/pull/1")).count();
    assert_eq!(pr_links, 1, "{thread:#?}");
    let events = lucid.events(&id).await;
    assert!(
        of_kind(&events, "command")
            .iter()
            .any(|e| e["command"] == "python3 test_calc.py"),
        "{events:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_follow_up_resumes_the_agents_own_session_without_posting_its_replay_again() {
    let lucid = lucid_with("load", vec![Reply::text("Change - to +.", 100, 20)], &[]).await;
    let id = mention(&lucid, "d-acp-load-1", "@lucid please fix add()").await;
    let first = ended(&lucid, &id).await;
    assert_eq!(first["state"], "completed", "{first}");
    let before = lucid.events(&id).await.len();

    let again = mention(&lucid, "d-acp-load-2", "@lucid also note what you did").await;
    assert_eq!(again, id, "the follow-up belongs to the same session");
    let events = within("the session to run again and finish", async {
        loop {
            let events = lucid.events(&id).await;
            let session = lucid.api(&format!("/sessions/{id}")).await;
            let ran_again = of_kind(&events[before..], "status")
                .iter()
                .any(|e| e["state"] == "running");
            if ran_again && session["state"] == "completed" {
                return events;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    })
    .await;
    let later = &events[before..];
    // The agent's replay of the first turn is not logged again…
    let summaries = of_kind(&events, "thought")
        .iter()
        .filter(|e| e["text"] == "Fixed add in calc.py; the test passes now.")
        .count();
    assert_eq!(summaries, 1, "{later:?}");
    // …and its second turn got what was said, and wrote it down.
    assert!(
        of_kind(later, "thought")
            .iter()
            .any(|e| e["text"] == "Noted."),
        "{later:?}"
    );
    let pulls = lucid.github.pulls(REPO);
    assert_eq!(pulls.len(), 1, "the same pull request");
    let notes = lucid
        .github
        .git(REPO, &["show", &format!("{}:NOTES.md", pulls[0].head)]);
    assert!(notes.contains("also note what you did"), "{notes}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_silent_past_the_idle_limit_fails_with_the_reason_in_the_thread() {
    let lucid = lucid_with("slow", vec![], &[("LUCID_AGENT_IDLE_TIMEOUT", "2s")]).await;
    let id = mention(&lucid, "d-acp-idle", "@lucid please fix add()").await;
    let session = ended(&lucid, &id).await;
    assert_eq!(session["state"], "failed", "{session}");
    let reason = session["reason"].as_str().unwrap_or_default();
    assert_eq!(
        reason,
        "the agent script said nothing for 2s, so it was stopped"
    );
    // The thread says why (it follows the log, so it may come just after).
    lucid.github.until_comment_saying(REPO, 7, reason).await;
    within("the sandbox to go", async {
        while containers_of(&id).await > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await;
}
