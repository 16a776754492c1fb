//! Slack end to end: the real `lucid serve` against a fake Slack Web API, the fake
//! GitHub (REST and real git), a fake model, and the real Docker sandbox. Every test
//! also checks that lucid made no call the fake did not expect and posted nothing
//! outside the thread it was working in.

use crate::fake_llm::Reply;
use crate::fake_slack::{FakeSlack, SlackMessage};
use crate::rig::{
    ADA, BARE_CHANNEL, BOT_USER, CHANNEL, EVE, LLM_KEY, Lucid, REPO, SLACK_SECRET, SLACK_TOKEN,
    TEAM, TOKEN, fixing_script, now_unix, slack_message, stop_click, within_command,
};
use serde_json::{Value, json};
use std::time::Duration;

/// An `app_mention` of lucid: `<@U0LUCID> {words}`.
fn mention_of_lucid(
    channel: &str,
    user: &str,
    ts: &str,
    thread_ts: Option<&str>,
    words: &str,
) -> Value {
    let text = format!("<@{BOT_USER}> {words}");
    slack_message("app_mention", channel, user, ts, thread_ts, &text)
}

fn state(session: &Value) -> &str {
    session["state"].as_str().unwrap_or_default()
}

/// Everything in a message: its current text and blocks, as one string.
fn shown(message: &SlackMessage) -> String {
    format!("{} {}", message.text, message.blocks)
}

fn has_stop_button(message: &SlackMessage) -> bool {
    message
        .blocks
        .to_string()
        .contains("\"action_id\":\"stop\"")
}

/// Nothing unexpected was called, and every message is a reply in `thread_ts` (or
/// one of `roots`, messages lucid started threads with).
fn assert_all_in_thread(slack: &FakeSlack, channel: &str, thread_ts: &str, roots: &[&str]) {
    assert!(
        slack.unexpected().is_empty(),
        "unexpected calls: {:#?}",
        slack.unexpected()
    );
    for message in slack.messages() {
        let in_thread =
            message.channel == channel && message.thread_ts.as_deref() == Some(thread_ts);
        let a_root = message.channel == channel && roots.contains(&message.ts.as_str());
        assert!(
            in_thread || a_root,
            "a message outside the thread: {message:#?}"
        );
    }
}

async fn session_id_of(lucid: &Lucid) -> String {
    let sessions = lucid.sessions().await;
    assert_eq!(sessions.len(), 1, "{sessions:#?}");
    sessions[0]["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mention_runs_in_its_thread_and_ends_with_the_pull_request() {
    let lucid = Lucid::start(fixing_script()).await;
    let slack = &lucid.slack;
    let ts = "1700000001.000100";
    let mention = mention_of_lucid(CHANNEL, ADA, ts, None, "please fix add()");

    let (status, answer) = lucid.slack_event(&mention, None).await;
    assert_eq!(status, 200, "{answer}");
    let id = answer["session"].as_str().unwrap().to_owned();
    // Slack retries the same event: nothing new.
    let (status, again) = lucid.slack_event(&mention, Some(1)).await;
    assert_eq!(
        (status, &again["duplicate"]),
        (200, &json!(true)),
        "{again}"
    );

    // The acknowledgement: the status message, in the thread, with a Stop button.
    let ack = slack
        .wait_until("the acknowledgement", |s| {
            s.thread(CHANNEL, ts).first().cloned()
        })
        .await;
    assert!(has_stop_button(&ack), "{ack:#?}");
    assert!(
        shown(&ack).contains(&id),
        "the Stop button names the session"
    );

    let session = lucid
        .until_session(&id, "the session to finish", |s| state(s) == "completed")
        .await;
    assert_eq!(lucid.sessions().await.len(), 1);
    let branch = session["branch"].as_str().unwrap();
    assert!(
        branch.starts_with("lucid/") && branch.ends_with("-please-fix-add"),
        "{branch}"
    );
    let pulls = lucid.github.pulls(REPO);
    assert_eq!(pulls.len(), 1);
    let calc = lucid
        .github
        .git(REPO, &["show", &format!("{branch}:calc.py")]);
    assert!(calc.contains("return a + b"), "{calc}");
    // A Slack user id is no GitHub login: nobody on GitHub is credited or mentioned,
    // and the asker is named as Slack shows them.
    let body = pulls[0].body.clone().unwrap_or_default();
    assert!(
        body.contains("Asked by Ada in [Slack](https://app.slack.com/client/"),
        "{body}"
    );
    // A reviewer's pull request: the agent's title, what changed and why, the files
    // with their counts, the last test and how it went, the cost, the session.
    assert_eq!(pulls[0].title, "Make add() add");
    for part in [
        "It subtracted.",
        "**1 file changed**\n- `calc.py` (+1 −1)",
        "**Last test:** `python3 test_calc.py` passed",
        "**Cost:** $",
        "[the lucid session](http",
    ] {
        assert!(body.contains(part), "{part:?} is not in {body}");
    }
    assert!(!pulls[0].draft);
    assert!(!body.contains(&format!("@{ADA}")), "{body}");
    let message = lucid
        .github
        .git(REPO, &["log", "-1", "--format=%B", branch]);
    assert!(!message.contains("Co-authored-by"), "{message}");

    // The thread: the status message, updated in place to Done, without its button…
    let thread = slack
        .wait_until("the last reply", |s| {
            let thread = s.thread(CHANNEL, ts);
            thread
                .iter()
                .any(|m| m.text.contains("*Done.*"))
                .then_some(thread)
        })
        .await;
    let status = slack.message(CHANNEL, &ack.ts).unwrap();
    assert!(
        !status.edits.is_empty(),
        "the status message was never updated"
    );
    assert!(shown(&status).contains("Done"), "{status:#?}");
    assert!(!has_stop_button(&status), "a finished session offers Stop");
    // …the failing command with its last lines, the edit as a short diff, the PR, the
    // summary. Nothing else.
    let replies: Vec<&str> = thread[1..].iter().map(|m| m.text.as_str()).collect();
    let all = replies.join("\n---\n");
    assert!(
        all.contains("`python3 test_calc.py` failed (exit 1)"),
        "{all}"
    );
    assert!(all.contains("add is broken"), "{all}");
    assert!(all.contains("Edited `calc.py` (+1 −1)"), "{all}");
    assert!(all.contains("+    return a + b"), "{all}");
    let pr_url = session["pr_url"].as_str().expect("a PR url");
    assert!(all.contains(pr_url), "{all}");
    let everything: String = slack
        .thread(CHANNEL, ts)
        .iter()
        .map(|m| format!("{}\n{}\n", m.text, m.blocks))
        .collect();
    assert_eq!(
        everything.matches(pr_url).count(),
        1,
        "the PR is announced once: {everything}"
    );
    assert!(all.contains("Make add() add"), "{all}");
    assert!(replies.len() <= 4, "a noisy thread: {replies:#?}");
    assert_all_in_thread(slack, CHANNEL, ts, &[]);

    // Secrets went nowhere but to their services.
    let log = lucid.log();
    for secret in [TOKEN, SLACK_TOKEN, SLACK_SECRET, LLM_KEY] {
        assert!(!log.contains(secret), "a secret is in the log");
        for message in slack.messages() {
            assert!(!format!("{message:?}").contains(secret));
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_repository_is_asked_for_and_the_answer_starts_the_session() {
    let lucid = Lucid::start(fixing_script()).await;
    let slack = &lucid.slack;
    let ts = "1700000002.000100";
    let mention = mention_of_lucid(BARE_CHANNEL, ADA, ts, None, "please fix add()");
    let (status, answer) = lucid.slack_event(&mention, None).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer.get("session").is_none(), "{answer}");
    let question = slack
        .wait_until("the question", |s| {
            s.thread(BARE_CHANNEL, ts).first().cloned()
        })
        .await;
    assert!(question.text.contains("Which repository"), "{question:#?}");
    assert!(lucid.sessions().await.is_empty());

    // A reply without a repository changes nothing; one with it starts the session.
    let chat = slack_message(
        "message",
        BARE_CHANNEL,
        ADA,
        "1700000002.000200",
        Some(ts),
        "hmm",
    );
    let (_, answer) = lucid.slack_event(&chat, None).await;
    assert!(answer.get("session").is_none(), "{answer}");
    let reply = slack_message(
        "message",
        BARE_CHANNEL,
        ADA,
        "1700000002.000300",
        Some(ts),
        "<https://github.com/acme/calc|acme/calc>",
    );
    let (status, answer) = lucid.slack_event(&reply, None).await;
    assert_eq!(status, 200, "{answer}");
    let id = answer["session"]
        .as_str()
        .expect("the answer starts the session");
    let session = lucid
        .until_session(id, "the session to finish", |s| state(s) == "completed")
        .await;
    assert_eq!(session["trigger"]["task"], "please fix add()");
    assert_eq!(session["trigger"]["repo"], REPO);
    slack
        .wait_until("the summary", |s| {
            s.thread(BARE_CHANNEL, ts)
                .into_iter()
                .find(|m| m.text.contains("*Done.*"))
        })
        .await;
    assert_all_in_thread(slack, BARE_CHANNEL, ts, &[]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slash_command_starts_a_session_in_a_thread_of_its_own() {
    let lucid = Lucid::start(fixing_script()).await;
    let slack = &lucid.slack;
    let trigger_id = format!("{}.42.cmd", now_unix());
    let (status, answer) = lucid
        .slack_form(
            "commands",
            &[
                ("team_id", TEAM),
                ("channel_id", CHANNEL),
                ("user_id", ADA),
                ("command", "/lucid"),
                ("text", "please fix add()"),
                ("response_url", "https://hooks.slack.com/commands/T0001/1/x"),
                ("trigger_id", &trigger_id),
            ],
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let root = slack
        .wait_until("the message the command started", |s| {
            s.messages().into_iter().find(|m| m.thread_ts.is_none())
        })
        .await;
    assert!(
        root.text
            .contains(&format!("<@{ADA}> asked: please fix add()")),
        "{root:#?}"
    );
    let id = session_id_of(&lucid).await;
    let session = lucid
        .until_session(&id, "the session to finish", |s| state(s) == "completed")
        .await;
    assert_eq!(session["trigger"]["thread"]["thread_ts"], root.ts.as_str());
    // The status message, in the thread of the message the command started.
    slack
        .wait_until("the status message in the command's thread", |s| {
            s.thread(CHANNEL, &root.ts).into_iter().find(|m| {
                m.thread_ts.as_deref() == Some(root.ts.as_str()) && shown(m).contains("lucid:")
            })
        })
        .await;
    slack
        .wait_until("the summary", |s| {
            s.thread(CHANNEL, &root.ts)
                .into_iter()
                .find(|m| m.text.contains("*Done.*"))
        })
        .await;
    assert_all_in_thread(slack, CHANNEL, &root.ts, &[&root.ts]);

    // Someone not allowed gets a private answer, and no session.
    let (status, answer) = lucid
        .slack_form(
            "commands",
            &[
                ("team_id", TEAM),
                ("channel_id", CHANNEL),
                ("user_id", EVE),
                ("command", "/lucid"),
                ("text", "delete everything"),
                ("response_url", "https://hooks.slack.com/commands/T0001/1/x"),
                ("trigger_id", "1.43.cmd"),
            ],
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(answer["response_type"], "ephemeral", "{answer}");
    assert_eq!(lucid.sessions().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_follow_up_in_the_thread_reaches_the_running_agent() {
    let lucid = Lucid::start(vec![
        Reply::tool_call("c1", "run", r#"{"command": "echo waiting; sleep 4"}"#),
        Reply::tool_call("c2", "finish", r#"{"summary": "Nothing to change"}"#),
    ])
    .await;
    let slack = &lucid.slack;
    let ts = "1700000003.000100";
    let mention = mention_of_lucid(CHANNEL, ADA, ts, None, "look at add()");
    let (_, answer) = lucid.slack_event(&mention, None).await;
    let id = answer["session"].as_str().unwrap().to_owned();
    within_command(&lucid, &id, "sleep 4").await;

    let follow = mention_of_lucid(
        CHANNEL,
        ADA,
        "1700000003.000200",
        Some(ts),
        "also check subtract()",
    );
    let (status, answer) = lucid.slack_event(&follow, None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["session"], id.as_str());
    assert_eq!(answer["as"], "follow-up");
    slack
        .wait_until("👀 on the follow-up", |s| {
            s.reactions()
                .into_iter()
                .find(|r| r.timestamp == "1700000003.000200" && r.name == "eyes")
        })
        .await;
    lucid
        .until_session(&id, "the session to finish", |s| state(s) == "completed")
        .await;
    let heard = lucid.llm.heard("also check subtract()");
    assert!(heard, "the follow-up never reached the model");
    // Said by Ada as Slack shows her (users.info), not by a user id.
    let said = lucid
        .events(&id)
        .await
        .into_iter()
        .find(|e| e["kind"] == "user_message")
        .unwrap();
    assert_eq!(said["author"], "Ada", "{said}");
    assert_eq!(lucid.sessions().await.len(), 1);
    assert_all_in_thread(slack, CHANNEL, ts, &[]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_stop_button_and_a_stop_in_the_thread_end_sessions() {
    let lucid = Lucid::start(vec![Reply::tool_call(
        "c1",
        "run",
        r#"{"command": "echo working; sleep 300"}"#,
    )])
    .await;
    let slack = &lucid.slack;
    let ts = "1700000004.000100";
    let mention = mention_of_lucid(CHANNEL, ADA, ts, None, "run the slow thing");
    let (_, answer) = lucid.slack_event(&mention, None).await;
    let id = answer["session"].as_str().unwrap().to_owned();
    within_command(&lucid, &id, "sleep 300").await;
    // The status message shows what runs now.
    slack
        .wait_until("the running command in the status message", |s| {
            s.thread(CHANNEL, ts)
                .into_iter()
                .find(|m| shown(m).contains("Running `echo working; sleep 300`"))
        })
        .await;

    // Eve may not stop it: she is told privately, and it runs on.
    let (status, answer) = lucid
        .slack_form(
            "interactions",
            &[("payload", &stop_click(CHANNEL, EVE, ts, &id))],
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    slack
        .wait_until("Eve's private answer", |s| {
            s.ephemerals().into_iter().find(|e| e.user == EVE)
        })
        .await;
    assert_eq!(
        state(&lucid.api(&format!("/sessions/{id}")).await),
        "running"
    );

    let (status, answer) = lucid
        .slack_form(
            "interactions",
            &[("payload", &stop_click(CHANNEL, ADA, ts, &id))],
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let session = lucid
        .until_session(&id, "the session to stop", |s| state(s) == "cancelled")
        .await;
    assert_eq!(session["reason"], "stopped by @Ada");
    slack
        .wait_until("the stop in the thread", |s| {
            s.thread(CHANNEL, ts)
                .into_iter()
                .find(|m| m.text.contains("*Stopped*"))
        })
        .await;
    let status_message = slack.thread(CHANNEL, ts)[0].clone();
    assert!(!has_stop_button(
        &slack.message(CHANNEL, &status_message.ts).unwrap()
    ));

    // "@lucid stop" in the thread, the other way to stop a live session.
    let ts2 = "1700000004.000300";
    let mention = mention_of_lucid(CHANNEL, ADA, ts2, None, "run the slow thing again");
    let (_, answer) = lucid.slack_event(&mention, None).await;
    let id2 = answer["session"].as_str().unwrap().to_owned();
    let stop = mention_of_lucid(CHANNEL, ADA, "1700000004.000400", Some(ts2), "stop");
    let (_, answer) = lucid.slack_event(&stop, None).await;
    assert_eq!(answer["as"], "stop", "{answer}");
    lucid
        .until_session(&id2, "the second session to stop", |s| {
            state(s) == "cancelled"
        })
        .await;
    assert!(lucid.github.pulls(REPO).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_signatures_stale_timestamps_and_strangers_get_no_session() {
    let lucid = Lucid::start(vec![]).await;
    let slack = &lucid.slack;
    let mention = mention_of_lucid(CHANNEL, ADA, "1700000005.000100", None, "fix it");
    let body = serde_json::to_vec(&mention).unwrap();

    // Signed with another secret: 401.
    let now = now_unix();
    let forged = lucid::slack::inbound::sign("not-the-secret", now, &body);
    let response = lucid
        .http
        .post(format!("{}/webhooks/slack/events", lucid.url))
        .header("X-Slack-Request-Timestamp", now.to_string())
        .header("X-Slack-Signature", forged)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    // Signed right, ten minutes ago (a replay): 401.
    let (status, answer) = lucid.slack_post("events", body, now - 600, &[]).await;
    assert_eq!(status, 401, "{answer}");
    assert!(
        answer.to_string().contains("away from lucid's clock"),
        "{answer}"
    );
    // Malformed: 400 with the reason.
    let (status, answer) = lucid
        .slack_post(
            "events",
            br#"{"type": "event_callback"}"#.to_vec(),
            now,
            &[],
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    // Slack checking the URL.
    let (status, answer) = lucid
        .slack_event(
            &json!({"type": "url_verification", "token": "x", "challenge": "c-123"}),
            None,
        )
        .await;
    assert_eq!((status, answer), (200, json!({"challenge": "c-123"})));
    assert!(lucid.sessions().await.is_empty());

    // Eve is not on the list: one short answer in the thread, even when Slack retries.
    let eve = mention_of_lucid(CHANNEL, EVE, "1700000005.000200", None, "fix it");
    for retry in [None, Some(1), Some(2)] {
        let (status, answer) = lucid.slack_event(&eve, retry).await;
        assert_eq!(status, 200, "{answer}");
    }
    let refusal = slack
        .wait_until("the refusal", |s| {
            s.thread(CHANNEL, "1700000005.000200").first().cloned()
        })
        .await;
    assert!(
        refusal.text.contains("I only take requests from"),
        "{refusal:#?}"
    );
    // A bot's message, and a workspace not on the list: nothing.
    let mut bot = slack_message(
        "app_mention",
        CHANNEL,
        ADA,
        "1700000005.000300",
        None,
        "<@U0LUCID> hi",
    );
    bot["event"]["bot_id"] = json!("B0OTHER");
    let (_, answer) = lucid.slack_event(&bot, None).await;
    assert!(answer.get("ignored").is_some(), "{answer}");
    let mut elsewhere = slack_message(
        "app_mention",
        CHANNEL,
        ADA,
        "1700000005.000400",
        None,
        "<@U0LUCID> hi",
    );
    elsewhere["team_id"] = json!("T0OTHER");
    elsewhere["event"]["team"] = json!("T0OTHER");
    let (_, answer) = lucid.slack_event(&elsewhere, None).await;
    assert!(answer.get("ignored").is_some(), "{answer}");

    assert!(lucid.sessions().await.is_empty());
    assert_eq!(
        slack.calls_to("chat.postMessage").len(),
        1,
        "{:#?}",
        slack.messages()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rate_limit_storm_delays_messages_but_loses_none() {
    let lucid = Lucid::start(fixing_script()).await;
    let slack = &lucid.slack;
    // Slack's pace, enforced, and a storm of 429s on top.
    slack.enforce_channel_rate(Duration::from_millis(900));
    slack.rate_limit_next(6, 1);
    let ts = "1700000006.000100";
    let mention = mention_of_lucid(CHANNEL, ADA, ts, None, "please fix add()");
    let (_, answer) = lucid.slack_event(&mention, None).await;
    let id = answer["session"].as_str().unwrap().to_owned();
    lucid
        .until_session(&id, "the session to finish", |s| state(s) == "completed")
        .await;
    let thread = slack
        .wait_until("the last reply", |s| {
            let thread = s.thread(CHANNEL, ts);
            thread
                .iter()
                .any(|m| m.text.contains("*Done.*"))
                .then_some(thread)
        })
        .await;
    let all: String = thread
        .iter()
        .map(|m| m.text.clone())
        .collect::<Vec<_>>()
        .join("\n");
    for moment in [
        "failed (exit 1)",
        "Edited `calc.py`",
        "Pull request",
        "Make add() add",
    ] {
        assert!(all.contains(moment), "{moment:?} was lost: {all}");
    }
    assert!(
        slack.calls().iter().filter(|c| c.rate_limited).count() >= 6,
        "the storm never happened"
    );
    let status = slack.message(CHANNEL, &thread[0].ts).unwrap();
    assert!(shown(&status).contains("Done"), "{status:#?}");
    assert_all_in_thread(slack, CHANNEL, ts, &[]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_model_failure_is_explained_in_the_thread() {
    let lucid = Lucid::start(vec![Reply::error(401, "Incorrect API key provided")]).await;
    let slack = &lucid.slack;
    let ts = "1700000007.000100";
    let mention = mention_of_lucid(CHANNEL, ADA, ts, None, "fix it");
    let (_, answer) = lucid.slack_event(&mention, None).await;
    let id = answer["session"].as_str().unwrap().to_owned();
    lucid
        .until_session(&id, "the session to fail", |s| state(s) == "failed")
        .await;
    let failure = slack
        .wait_until("the failure in the thread", |s| {
            s.thread(CHANNEL, ts)
                .into_iter()
                .find(|m| m.text.contains("The session failed"))
        })
        .await;
    assert!(failure.text.contains("refused the API key"), "{failure:#?}");
    let status = slack.thread(CHANNEL, ts)[0].clone();
    assert!(shown(&status).contains("Failed"), "{status:#?}");
    assert!(!has_stop_button(&status));
    assert_all_in_thread(slack, CHANNEL, ts, &[]);
}
