//! The Allow and Reject buttons of a status message, end to end on Slack and Discord:
//! the real `lucid serve`, a session of lucid's own agent running a slow command, and
//! clicks on the buttons as each platform sends them. A click answers the thread's
//! session (a `permission_answered` event for its agent) only when its person may and
//! its session is the thread's; the rest is refused privately or ignored.

use crate::fake_llm::Reply;
use crate::rig::{
    ADA, BOT_USER, CHANNEL, DADA, DCHANNEL, DEVE, EVE, GUILD, Lucid, slack_message, stop_click,
    within_command,
};
use serde_json::Value;

fn slow() -> Vec<Reply> {
    vec![Reply::tool_call(
        "c1",
        "run",
        r#"{"command": "echo working; sleep 300"}"#,
    )]
}

/// The session's `permission_answered` events: (author, number, allow).
async fn answers(lucid: &Lucid, id: &str) -> Vec<(String, Option<u64>, bool)> {
    lucid
        .events(id)
        .await
        .into_iter()
        .filter(|e| e["kind"] == "permission_answered")
        .map(|e| {
            (
                e["author"].as_str().unwrap_or_default().to_owned(),
                e["number"].as_u64(),
                e["allow"].as_bool().unwrap(),
            )
        })
        .collect()
}

/// A click on the Slack button `action_id` with `value`, as the Stop button's click
/// is made.
fn slack_click(user: &str, thread_ts: &str, action_id: &str, value: &str) -> String {
    let mut click: Value =
        serde_json::from_str(&stop_click(CHANNEL, user, thread_ts, "x")).unwrap();
    click["actions"][0]["action_id"] = action_id.into();
    click["actions"][0]["value"] = value.into();
    click["trigger_id"] = format!(
        "{}.{action_id}.{value}",
        click["trigger_id"].as_str().unwrap()
    )
    .into();
    click.to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn slack_clicks_on_allow_and_reject_answer_the_threads_session_for_those_who_may() {
    let lucid = Lucid::start(slow()).await;
    let ts = "1700000009.000100";
    let mention = slack_message(
        "app_mention",
        CHANNEL,
        ADA,
        ts,
        None,
        &format!("<@{BOT_USER}> run the slow thing"),
    );
    let (_, answer) = lucid.slack_event(&mention, None).await;
    let id = answer["session"].as_str().unwrap().to_owned();
    within_command(&lucid, &id, "sleep 300").await;
    let lucid = &lucid;
    let click = |user: &str, action_id: &str, value: &str| {
        let payload = slack_click(user, ts, action_id, value);
        async move {
            lucid
                .slack_form("interactions", &[("payload", &payload)])
                .await
        }
    };

    // Eve may not answer: she is told privately, and nothing is logged.
    let (status, answer) = click(EVE, "permission_allow", &format!("{id}:1")).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer["refused"].is_string(), "{answer}");
    let told = lucid
        .slack
        .wait_until("Eve's private answer", |s| {
            s.ephemerals().into_iter().find(|e| e.user == EVE)
        })
        .await;
    assert!(
        told.text.contains("answer the agent's requests"),
        "{}",
        told.text
    );

    // A value that names no request is refused with the reason.
    let (status, answer) = click(ADA, "permission_reject", &id).await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer
            .to_string()
            .contains("is not <session id>:<request number>"),
        "{answer}"
    );
    // A button of another session than the thread's is ignored.
    let other = "0190a3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b";
    let (status, answer) = click(ADA, "permission_allow", &format!("{other}:1")).await;
    assert_eq!(status, 200, "{answer}");
    assert!(
        answer["ignored"]
            .as_str()
            .is_some_and(|r| r.contains("not the thread's")),
        "{answer}"
    );
    assert!(answers(lucid, &id).await.is_empty());

    let (status, answer) = click(ADA, "permission_allow", &format!("{id}:1")).await;
    assert_eq!(
        (status, &answer["as"]),
        (200, &Value::from("permission")),
        "{answer}"
    );
    let (status, answer) = click(ADA, "permission_reject", &format!("{id}:2")).await;
    assert_eq!(
        (status, &answer["as"]),
        (200, &Value::from("permission")),
        "{answer}"
    );
    assert_eq!(
        answers(lucid, &id).await,
        vec![
            ("Ada".to_owned(), Some(1), true),
            ("Ada".to_owned(), Some(2), false)
        ]
    );

    // Once the session is over, a click answers nothing.
    let (status, _) = lucid
        .slack_form(
            "interactions",
            &[("payload", &stop_click(CHANNEL, ADA, ts, &id))],
        )
        .await;
    assert_eq!(status, 200);
    lucid
        .until_session(&id, "the session to stop", |s| s["state"] == "cancelled")
        .await;
    let (status, answer) = click(ADA, "permission_allow", &format!("{id}:3")).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer["ignored"].is_string(), "{answer}");
    assert_eq!(answers(lucid, &id).await.len(), 2);
    assert!(
        lucid.slack.unexpected().is_empty(),
        "{:#?}",
        lucid.slack.unexpected()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn discord_clicks_on_allow_and_reject_answer_the_session_for_those_who_may() {
    let lucid = Lucid::start_discord(slow()).await;
    let discord = &lucid.discord;
    discord.until_ready(GUILD).await;
    let at_lucid = format!("<@{}>", discord.bot().user_id);
    let asked = discord.post_as(DADA, DCHANNEL, &format!("{at_lucid} run the slow thing"));
    let session = lucid.first_session().await;
    within_command(&lucid, &session, "sleep 300").await;
    let status_message = discord
        .wait_until("the status message with its Stop button", |d| {
            d.channel_messages(&asked).into_iter().find(|m| {
                m.components.to_string().contains("\"custom_id\":\"stop:")
                    && m.content.contains("sleep 300")
            })
        })
        .await;
    // No request waits: Stop alone.
    assert!(!status_message.components.to_string().contains("allow:"));
    let url = lucid.interactions_url();
    let press = |user: &str, custom_id: &str| {
        let click = discord.button_click(GUILD, &asked, user, &status_message.id, custom_id);
        let url = url.clone();
        async move { discord.deliver(&url, &click).await }
    };

    // Eve has no listed role: she is told privately, and nothing is logged.
    let (status, answer) = press(DEVE, &format!("allow:{session}:1")).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["data"]["flags"], 64, "{answer}");
    assert!(
        answer["data"]["content"]
            .as_str()
            .is_some_and(|c| c.contains("answer the agent's requests")),
        "{answer}"
    );
    // A session lucid does not have: nothing to answer.
    let (status, answer) = press(DADA, "reject:0190a3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b:1").await;
    assert_eq!(
        (status, &answer["type"]),
        (200, &Value::from(6)),
        "{answer}"
    );
    assert!(answers(&lucid, &session).await.is_empty());

    let (status, answer) = press(DADA, &format!("allow:{session}:1")).await;
    assert_eq!(
        (status, &answer["type"]),
        (200, &Value::from(6)),
        "{answer}"
    );
    let (status, _) = press(DADA, &format!("reject:{session}:2")).await;
    assert_eq!(status, 200);
    let got = answers(&lucid, &session).await;
    assert_eq!(
        got.iter()
            .map(|(_, n, allow)| (*n, *allow))
            .collect::<Vec<_>>(),
        vec![(Some(1), true), (Some(2), false)],
        "{got:?}"
    );

    let (status, _) = press(DADA, &format!("stop:{session}")).await;
    assert_eq!(status, 200);
    lucid
        .until_session(&session, "the session to stop", |s| {
            s["state"] == "cancelled"
        })
        .await;
    assert!(
        discord.unexpected().is_empty(),
        "{:#?}",
        discord.unexpected()
    );
}
