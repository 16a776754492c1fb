//! Discord end to end: the real `lucid serve` against the fake Discord (REST over TLS
//! as discord.com, the gateway, signed interactions), the fake GitHub, a fake model
//! and the real Docker sandbox. Every test also checks that lucid did nothing the fake
//! did not expect, posted nothing outside the session's status message and thread,
//! and sent no message over Discord's limits or without `allowed_mentions`.

use crate::fake_discord::{DiscordMessage, FakeDiscord, PostedVia};
use crate::fake_llm::Reply;
use crate::rig::{
    DADA, DBARE, DCHANNEL, DEVE, DISCORD_TOKEN, GUILD, LLM_KEY, Lucid, REPO, TOKEN, fixing_script,
    within_command,
};
use serde_json::Value;
use std::time::{Duration, Instant};

fn state(session: &Value) -> &str {
    session["state"].as_str().unwrap_or_default()
}

/// `<@bot>`, as people mention lucid.
fn at_lucid(discord: &FakeDiscord) -> String {
    format!("<@{}>", discord.bot().user_id)
}

fn has_stop_button(message: &DiscordMessage) -> bool {
    message
        .components
        .to_string()
        .contains("\"custom_id\":\"stop:")
}

async fn only_session(lucid: &Lucid) -> String {
    let sessions = lucid.sessions().await;
    assert_eq!(sessions.len(), 1, "{sessions:#?}");
    sessions[0]["id"].as_str().unwrap().to_owned()
}

/// Nothing unexpected; every message of lucid's is in `thread` or is one of `roots`
/// (the message a thread was started from), fits Discord's limits, and pings no one.
fn assert_quiet(discord: &FakeDiscord, thread: &str, roots: &[&str]) {
    assert!(
        discord.unexpected().is_empty(),
        "unexpected: {:#?}",
        discord.unexpected()
    );
    for message in discord.bot_messages() {
        let placed = message.channel_id == thread || roots.contains(&message.id.as_str());
        assert!(placed, "a message outside the thread: {message:#?}");
        assert_within_limits(&message);
    }
}

fn assert_within_limits(message: &DiscordMessage) {
    assert!(
        message.content.chars().count() <= 2_000,
        "over 2,000 characters: {message:#?}"
    );
    let mentions = message
        .allowed_mentions
        .as_ref()
        .unwrap_or_else(|| panic!("no allowed_mentions: {message:#?}"));
    assert_eq!(
        mentions["parse"],
        serde_json::json!([]),
        "a message may ping: {message:#?}"
    );
    for list in ["users", "roles"] {
        assert!(
            mentions[list].as_array().is_none_or(Vec::is_empty),
            "a message may ping: {message:#?}"
        );
    }
}

/// The answer of interaction `id`, once it is written (no longer "thinking").
async fn written_answer(discord: &FakeDiscord, id: &str) -> DiscordMessage {
    discord
        .wait_until("the answer to /lucid", |d| {
            d.messages()
                .into_iter()
                .find(|m| m.via == PostedVia::Interaction(id.to_owned()) && !m.is_loading())
        })
        .await
}

fn thread_messages(discord: &FakeDiscord, thread: &str) -> Vec<DiscordMessage> {
    discord.channel_messages(thread)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slash_command_answers_with_the_status_and_runs_in_its_thread_to_the_pull_request() {
    let lucid = Lucid::start_discord(fixing_script()).await;
    let discord = &lucid.discord;
    discord.until_ready(GUILD).await;
    let command = discord.slash_command(
        GUILD,
        DCHANNEL,
        DADA,
        "lucid",
        &[("task", "please fix add()")],
    );
    let (status, answer) = discord.deliver(&lucid.interactions_url(), &command).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["type"], 5, "a deferred answer: {answer}");
    // The same interaction again (Discord never sends one twice; a replay might): one
    // session. Sent by hand: the fake would count a second answer as Discord's 40060.
    let body = serde_json::to_vec(&command).unwrap();
    let stamp = crate::rig::now_unix().to_string();
    let again = lucid
        .http
        .post(lucid.interactions_url())
        .header("x-signature-timestamp", &stamp)
        .header("x-signature-ed25519", discord.sign(&stamp, &body))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status().as_u16(), 200);

    let id = command["id"].as_str().unwrap();
    let status_message = written_answer(discord, id).await;
    assert!(has_stop_button(&status_message), "{status_message:#?}");
    let thread = discord
        .wait_until("the session's thread", |d| d.thread_of(&status_message.id))
        .await;
    assert_eq!(thread.parent_id, DCHANNEL);
    assert_eq!(thread.name, "please fix add()");

    let session = only_session(&lucid).await;
    assert!(
        status_message
            .components
            .to_string()
            .contains(&format!("stop:{session}")),
        "the Stop button names the session: {status_message:#?}"
    );
    let done = lucid
        .until_session(&session, "the session to finish", |s| {
            state(s) == "completed"
        })
        .await;
    let pr_url = done["pr_url"].as_str().expect("a pull request").to_owned();
    assert_eq!(lucid.github.pulls(REPO).len(), 1);
    // Who asked, with a link back to their Discord thread.
    let body = lucid.github.pulls(REPO)[0].body.clone().unwrap_or_default();
    let back = format!(
        "in [Discord](https://discord.com/channels/{GUILD}/{})",
        thread.id
    );
    assert!(body.contains(&back), "{body}");

    // The thread: key moments, then the summary and the pull request's link, once.
    let replies = discord
        .wait_until("the ending in the thread", |d| {
            let replies = thread_messages(d, &thread.id);
            replies
                .iter()
                .any(|m| m.content.contains("**Done.**"))
                .then_some(replies)
        })
        .await;
    let all: String = replies
        .iter()
        .map(|m| m.content.as_str())
        .collect::<Vec<_>>()
        .join("\n---\n");
    assert!(
        all.contains("`python3 test_calc.py` failed (exit 1)"),
        "{all}"
    );
    assert!(all.contains("return a + b"), "{all}");
    assert_eq!(all.matches(&pr_url).count(), 1, "the PR link once: {all}");
    assert!(replies.len() <= 4, "a noisy thread: {all}");

    // The status message: edited in place with the bot token (never the interaction's
    // token after its first writing), ending without its Stop button.
    let status_now = discord
        .wait_until("the status message to show the end", |d| {
            d.message(&status_message.id)
                .filter(|m| m.content.contains("Done") && !has_stop_button(m))
        })
        .await;
    assert!(status_now.edit_count() >= 2, "{status_now:#?}");
    let by_bot = discord.calls_to(
        "PATCH",
        &format!("/channels/{DCHANNEL}/messages/{}", status_message.id),
    );
    assert!(
        !by_bot.is_empty(),
        "the status message was never edited with the bot token"
    );
    // An edit that overtook the answer itself is refused (10015) and tried again.
    let by_token: Vec<_> = discord
        .calls_to("PATCH", "/webhooks/*/*/messages/@original")
        .into_iter()
        .filter(|c| c.status == 200)
        .collect();
    assert_eq!(
        by_token.len(),
        1,
        "the interaction's token is used once: {by_token:#?}"
    );
    assert_eq!(lucid.sessions().await.len(), 1);
    assert_quiet(discord, &thread.id, &[&status_message.id]);

    let log = lucid.log();
    for secret in [TOKEN, DISCORD_TOKEN, LLM_KEY] {
        assert!(!log.contains(secret), "a secret is in the log");
        for message in discord.messages() {
            assert!(!format!("{message:?}").contains(secret));
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mention_starts_a_thread_and_follow_ups_reach_the_agent_or_resume_the_session() {
    let mut script = vec![Reply::tool_call(
        "c1",
        "run",
        r#"{"command": "echo waiting; sleep 4"}"#,
    )];
    script.extend(fixing_script());
    script.push(Reply::tool_call(
        "c9",
        "finish",
        r#"{"summary": "Nothing more to change"}"#,
    ));
    let lucid = Lucid::start_discord(script).await;
    let discord = &lucid.discord;
    discord.until_ready(GUILD).await;
    let bot = at_lucid(discord);
    let asked = discord.post_as(DADA, DCHANNEL, &format!("{bot} please fix add()"));

    // A thread from the mention, with the status message in it.
    let thread = discord
        .wait_until("a thread from the mention", |d| d.thread_of(&asked))
        .await;
    let status_message = discord
        .wait_until("the status message in the thread", |d| {
            thread_messages(d, &asked).into_iter().find(has_stop_button)
        })
        .await;
    let session = only_session(&lucid).await;
    within_command(&lucid, &session, "sleep 4").await;

    // A follow-up in the thread reaches the running agent, acknowledged with 👀.
    let follow = discord.post_as(DADA, &thread.id, &format!("{bot} also check subtract()"));
    discord
        .wait_until("👀 on the follow-up", |d| {
            d.reactions()
                .into_iter()
                .find(|r| r.message_id == follow && r.emoji == "👀")
        })
        .await;
    let first = lucid
        .until_session(&session, "the session to finish", |s| {
            state(s) == "completed"
        })
        .await;
    let heard = lucid.llm.heard("also check subtract()");
    assert!(heard, "the follow-up never reached the model");
    let branch = first["branch"].as_str().unwrap().to_owned();
    let pr_url = first["pr_url"].as_str().unwrap().to_owned();

    // After the end, a mention in the thread resumes the session on its branch and PR.
    discord.post_as(DADA, &thread.id, &format!("{bot} one more look, please"));
    crate::harness::within("the resumed run's answer", async {
        while lucid.llm.received().len() < 6 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let again = lucid
        .until_session(&session, "the session to finish again", |s| {
            state(s) == "completed" && s["reason"] == "Nothing more to change"
        })
        .await;
    assert_eq!(again["branch"], branch.as_str());
    assert_eq!(again["pr_url"], pr_url.as_str());
    assert_eq!(lucid.github.pulls(REPO).len(), 1);
    assert_eq!(lucid.sessions().await.len(), 1);
    assert!(discord.message(&status_message.id).is_some());
    // The channel got the mention only; lucid spoke in the thread.
    assert_quiet(discord, &thread.id, &[]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_stop_button_ends_the_session_within_two_seconds_for_those_who_may() {
    let lucid = Lucid::start_discord(vec![Reply::tool_call(
        "c1",
        "run",
        r#"{"command": "echo working; sleep 300"}"#,
    )])
    .await;
    let discord = &lucid.discord;
    discord.until_ready(GUILD).await;
    let asked = discord.post_as(
        DADA,
        DCHANNEL,
        &format!("{} run the slow thing", at_lucid(discord)),
    );
    let session = lucid.first_session().await;
    within_command(&lucid, &session, "sleep 300").await;
    let status_message = discord
        .wait_until("the running command in the status message", |d| {
            thread_messages(d, &asked)
                .into_iter()
                .find(|m| has_stop_button(m) && m.content.contains("sleep 300"))
        })
        .await;
    let custom_id = format!("stop:{session}");

    // Eve has no listed role: she is told privately, and it runs on.
    let click = discord.button_click(GUILD, &asked, DEVE, &status_message.id, &custom_id);
    let (status, answer) = discord.deliver(&lucid.interactions_url(), &click).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["data"]["flags"], 64, "{answer}");
    assert_eq!(
        state(&lucid.api(&format!("/sessions/{session}")).await),
        "running"
    );

    let click = discord.button_click(GUILD, &asked, DADA, &status_message.id, &custom_id);
    let pressed = Instant::now();
    let (status, answer) = discord.deliver(&lucid.interactions_url(), &click).await;
    assert_eq!(status, 200, "{answer}");
    let stopped = lucid
        .until_session(&session, "the session to stop", |s| state(s) == "cancelled")
        .await;
    assert!(
        pressed.elapsed() < Duration::from_secs(2),
        "stopping took {:?}",
        pressed.elapsed()
    );
    assert_eq!(stopped["reason"], "stopped by @ada");
    discord
        .wait_until("the status message without its button", |d| {
            d.message(&status_message.id)
                .filter(|m| !has_stop_button(m))
        })
        .await;
    assert!(lucid.github.pulls(REPO).is_empty());

    // "@lucid stop" in the thread, the other way to stop a live session.
    let again = discord.post_as(
        DADA,
        DCHANNEL,
        &format!("{} run the slow thing again", at_lucid(discord)),
    );
    let second = crate::harness::within("the second session", async {
        loop {
            let sessions = lucid.sessions().await;
            if let Some(s) = sessions.iter().find(|s| s["id"] != session.as_str()) {
                return s["id"].as_str().unwrap().to_owned();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let thread = discord
        .wait_until("the second session's thread", |d| d.thread_of(&again))
        .await;
    discord.post_as(DADA, &thread.id, &format!("{} stop", at_lucid(discord)));
    lucid
        .until_session(&second, "the second session to stop", |s| {
            state(s) == "cancelled"
        })
        .await;
    assert!(
        discord.unexpected().is_empty(),
        "{:#?}",
        discord.unexpected()
    );
    for message in discord.bot_messages() {
        assert!(
            [asked.as_str(), again.as_str()].contains(&message.channel_id.as_str()),
            "a message outside the threads: {message:#?}"
        );
        assert_within_limits(&message);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_signatures_strangers_and_bots_get_no_session() {
    let lucid = Lucid::start_discord(vec![]).await;
    let discord = &lucid.discord;
    discord.until_ready(GUILD).await;
    let url = lucid.interactions_url();

    // Discord's checks: a PING, and a badly signed one; a badly signed command.
    let (status, answer) = discord.deliver(&url, &discord.ping()).await;
    assert_eq!((status, &answer["type"]), (200, &serde_json::json!(1)));
    let (status, _) = discord.deliver_badly_signed(&url, &discord.ping()).await;
    assert_eq!(status, 401);
    let command = discord.slash_command(GUILD, DCHANNEL, DADA, "lucid", &[("task", "fix it")]);
    let (status, _) = discord.deliver_badly_signed(&url, &command).await;
    assert_eq!(status, 401);
    let malformed = lucid
        .http
        .post(&url)
        .header("x-signature-timestamp", "1")
        .header(
            "x-signature-ed25519",
            discord.sign("1", b"{\"type\": \"one\"}"),
        )
        .body("{\"type\": \"one\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status().as_u16(), 400);
    assert!(malformed.text().await.unwrap().contains("type"));

    // Eve may not ask: told privately for /lucid, by a reply for a mention.
    let command = discord.slash_command(GUILD, DCHANNEL, DEVE, "lucid", &[("task", "fix it")]);
    let (status, answer) = discord.deliver(&url, &command).await;
    assert_eq!(status, 200);
    assert_eq!(answer["data"]["flags"], 64, "{answer}");
    assert!(
        answer["data"]["content"]
            .as_str()
            .unwrap()
            .contains("set up for"),
        "{answer}"
    );
    let bot = at_lucid(discord);
    let asked = discord.post_as(DEVE, DCHANNEL, &format!("{bot} fix it"));
    let reply = discord
        .wait_until("the reply to eve", |d| {
            d.bot_messages().into_iter().find(|m| {
                m.message_reference
                    .as_ref()
                    .is_some_and(|r| r["message_id"] == asked.as_str())
            })
        })
        .await;
    assert!(reply.content.contains("set up for"), "{reply:#?}");
    assert!(
        discord.thread_of(&asked).is_none(),
        "a thread for a refusal"
    );
    assert_within_limits(&reply);

    // Another bot's mention does nothing; nor does a server lucid was not set up for.
    discord.other_bot("900000000000000040", "otherbot");
    discord.post_as_bot("900000000000000040", DCHANNEL, &format!("{bot} fix it"));
    let elsewhere = discord.slash_command(GUILD, DCHANNEL, DADA, "other", &[]);
    let (_, answer) = discord.deliver(&url, &elsewhere).await;
    assert_eq!(answer["data"]["flags"], 64, "{answer}");
    // A later mention by Ada is taken, so the bot's was seen and passed over by now.
    let later = discord.post_as(DADA, DBARE, &format!("{bot} fix it"));
    discord
        .wait_until("the question in ada's thread", |d| {
            thread_messages(d, &later)
                .into_iter()
                .find(|m| m.content.contains("Which repository"))
        })
        .await;
    assert!(lucid.sessions().await.is_empty());
    assert!(
        discord.unexpected().is_empty(),
        "{:#?}",
        discord.unexpected()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_repository_is_asked_for_in_the_thread_and_the_answer_starts_the_session() {
    let lucid = Lucid::start_discord(fixing_script()).await;
    let discord = &lucid.discord;
    discord.until_ready(GUILD).await;
    let command =
        discord.slash_command(GUILD, DBARE, DADA, "lucid", &[("task", "please fix add()")]);
    let (status, answer) = discord.deliver(&lucid.interactions_url(), &command).await;
    assert_eq!(
        (status, &answer["type"]),
        (200, &serde_json::json!(5)),
        "{answer}"
    );
    let question = written_answer(discord, command["id"].as_str().unwrap()).await;
    assert!(
        question.content.contains("Which repository"),
        "{question:#?}"
    );
    let thread = discord
        .wait_until("the question's thread", |d| d.thread_of(&question.id))
        .await;
    assert!(lucid.sessions().await.is_empty());

    discord.post_as(DADA, &thread.id, &format!("{} {REPO}", at_lucid(discord)));
    let session = lucid.first_session().await;
    let done = lucid
        .until_session(&session, "the session to finish", |s| {
            state(s) == "completed"
        })
        .await;
    assert_eq!(done["trigger"]["task"], "please fix add()");
    discord
        .wait_until("the ending in the thread", |d| {
            thread_messages(d, &thread.id)
                .into_iter()
                .find(|m| m.content.contains("**Done.**"))
        })
        .await;
    assert_quiet(discord, &thread.id, &[&question.id]);

    // Named in the command's `repo` option, the repository needs no question.
    let command = discord.slash_command(
        GUILD,
        DBARE,
        DADA,
        "lucid",
        &[
            ("task", "fix add() again"),
            ("repo", "https://github.com/acme/calc"),
        ],
    );
    let (status, answer) = discord.deliver(&lucid.interactions_url(), &command).await;
    assert_eq!(
        (status, &answer["type"]),
        (200, &serde_json::json!(5)),
        "{answer}"
    );
    let status_message = written_answer(discord, command["id"].as_str().unwrap()).await;
    assert!(has_stop_button(&status_message), "{status_message:#?}");
    assert!(status_message.content.contains(REPO), "{status_message:#?}");
    // A repository it cannot read is said at once, to the asker only.
    let command = discord.slash_command(
        GUILD,
        DBARE,
        DADA,
        "lucid",
        &[("task", "fix it"), ("repo", "not a repo")],
    );
    let (_, answer) = discord.deliver(&lucid.interactions_url(), &command).await;
    assert_eq!(answer["data"]["flags"], 64, "{answer}");
    assert!(
        answer["data"]["content"]
            .as_str()
            .unwrap()
            .contains("is not a repository"),
        "{answer}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dropped_gateway_resumes_and_loses_no_mention() {
    let lucid = Lucid::start_discord(vec![]).await;
    let discord = &lucid.discord;
    discord.until_ready(GUILD).await;
    discord.drop_gateway();
    // Said while lucid is not connected: Discord replays it on RESUME.
    let asked = discord.post_as(DADA, DBARE, &format!("{} fix add()", at_lucid(discord)));
    discord
        .wait_until("the question in the mention's thread", |d| {
            thread_messages(d, &asked)
                .into_iter()
                .find(|m| m.content.contains("Which repository"))
        })
        .await;
    assert!(discord.resume_count() >= 1, "no RESUME");
    assert_eq!(
        discord.identify_count(),
        1,
        "identified again instead of resuming"
    );
    assert_eq!(thread_messages(discord, &asked).len(), 1);

    // Discord ends the session: lucid identifies anew, and a mention made meanwhile
    // (which no RESUME replays) is read back from the channel.
    discord.invalidate_session(false);
    let meanwhile = discord.post_as(DADA, DBARE, &format!("{} fix sub()", at_lucid(discord)));
    discord
        .wait_until("the question in the second mention's thread", |d| {
            thread_messages(d, &meanwhile)
                .into_iter()
                .find(|m| m.content.contains("Which repository"))
        })
        .await;
    assert_eq!(discord.identify_count(), 2);
    assert!(
        !discord.calls_to("GET", "/channels/*/messages").is_empty(),
        "the channels were not read back"
    );
    assert_eq!(thread_messages(discord, &meanwhile).len(), 1);
    assert_eq!(thread_messages(discord, &asked).len(), 1);
    for message in discord.bot_messages() {
        assert_within_limits(&message);
    }
    assert!(
        discord.unexpected().is_empty(),
        "{:#?}",
        discord.unexpected()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mention_made_while_lucid_was_down_is_taken_when_it_is_back() {
    let mut lucid = Lucid::start_discord(vec![]).await;
    lucid.discord.until_ready(GUILD).await;
    let bot = at_lucid(&lucid.discord);
    let first = lucid
        .discord
        .post_as(DADA, DBARE, &format!("{bot} fix add()"));
    lucid
        .discord
        .wait_until("the first question", |d| {
            thread_messages(d, &first).into_iter().next()
        })
        .await;
    lucid.kill();
    let missed = lucid
        .discord
        .post_as(DADA, DBARE, &format!("{bot} fix subtract()"));
    lucid.restart().await;
    lucid
        .discord
        .wait_until("the missed mention's question", |d| {
            thread_messages(d, &missed)
                .into_iter()
                .find(|m| m.content.contains("Which repository"))
        })
        .await;
    // The first mention was not taken twice, and registering `/lucid` again changed
    // nothing.
    assert_eq!(thread_messages(&lucid.discord, &first).len(), 1);
    let commands = lucid.discord.commands(GUILD);
    assert_eq!(commands.len(), 1, "{commands:#?}");
    assert!(lucid.discord.identify_count() >= 2);
    assert!(
        lucid.discord.unexpected().is_empty(),
        "{:#?}",
        lucid.discord.unexpected()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rate_limit_storm_delays_messages_but_loses_none() {
    let lucid = Lucid::start_discord(fixing_script()).await;
    let discord = &lucid.discord;
    discord.until_ready(GUILD).await;
    // Every write answers 429 for a while, per route and then globally.
    discord.rate_limit_next(3, Duration::from_millis(500), false);
    let asked = discord.post_as(
        DADA,
        DCHANNEL,
        &format!("{} please fix add()", at_lucid(discord)),
    );
    discord
        .wait_until("the status message, late", |d| {
            thread_messages(d, &asked).into_iter().find(has_stop_button)
        })
        .await;
    discord.rate_limit_next(3, Duration::from_millis(500), true);
    let session = only_session(&lucid).await;
    let done = lucid
        .until_session(&session, "the session to finish", |s| {
            state(s) == "completed"
        })
        .await;
    let pr_url = done["pr_url"].as_str().unwrap().to_owned();
    let replies = discord
        .wait_until("the ending in the thread", |d| {
            let replies = thread_messages(d, &asked);
            replies
                .iter()
                .any(|m| m.content.contains(&pr_url))
                .then_some(replies)
        })
        .await;
    let all: String = replies
        .iter()
        .map(|m| m.content.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(all.contains("failed (exit 1)"), "a moment was lost: {all}");
    let limited = discord.calls().iter().filter(|c| c.status == 429).count();
    assert!(
        limited >= 6,
        "the storm did not happen: {limited} answers 429"
    );
    assert_quiet(discord, &asked, &[]);
}

/// `lucid doctor` with Discord set up against the fake, with `token` as the bot's.
async fn doctor(discord: &FakeDiscord, token: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, discord.ca_pem()).unwrap();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_lucid"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DOCKER_HOST", crate::harness::docker_host())
        .env(
            "LUCID_DISCORD_APPLICATION_ID",
            &discord.bot().application_id,
        )
        .env("LUCID_DISCORD_PUBLIC_KEY", discord.public_key_hex())
        .env("LUCID_DISCORD_BOT_TOKEN", token)
        .env("LUCID_DISCORD_GUILDS", GUILD)
        .env(
            "LUCID_DISCORD_API_URL",
            format!("https://{}", discord.tls_addr),
        )
        .env("LUCID_DISCORD_CA_FILE", &ca)
        .current_dir(dir.path())
        .arg("doctor");
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_checks_the_bot_token_with_discord_and_gives_the_invite() {
    let discord = FakeDiscord::start(DISCORD_TOKEN).await;
    let report = doctor(&discord, DISCORD_TOKEN).await;
    let line = report
        .lines()
        .find(|l| l.starts_with("ok    discord"))
        .unwrap_or_else(|| panic!("no ok line for discord:\n{report}"));
    assert!(line.contains("bot lucid"), "{line}");
    let invite = format!(
        "https://discord.com/oauth2/authorize?client_id={}&scope=bot%20applications.commands&permissions=309237713984",
        discord.bot().application_id
    );
    assert!(line.contains(&invite), "{line}");
    assert!(line.contains("/webhooks/discord/interactions"), "{line}");

    let report = doctor(&discord, "a-wrong-token").await;
    let line = report
        .lines()
        .find(|l| l.starts_with("FAIL  discord") || l.starts_with("fail  discord"))
        .unwrap_or_else(|| panic!("no failing line for discord:\n{report}"));
    assert!(line.contains("refused the bot token"), "{line}");
    assert!(
        !report.contains("a-wrong-token"),
        "the token is in the report"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn with_the_content_intent_any_message_in_the_thread_reaches_the_running_agent() {
    let script = vec![
        Reply::tool_call("c1", "run", r#"{"command": "echo waiting; sleep 4"}"#),
        Reply::tool_call("c2", "finish", r#"{"summary": "Nothing to change"}"#),
    ];
    let lucid = Lucid::start_discord_with(script, &[("LUCID_DISCORD_MESSAGE_CONTENT", "on")]).await;
    let discord = &lucid.discord;
    discord.until_ready(GUILD).await;
    let asked = discord.post_as(
        DADA,
        DCHANNEL,
        &format!("{} look at add()", at_lucid(discord)),
    );
    let thread = discord
        .wait_until("a thread from the mention", |d| d.thread_of(&asked))
        .await;
    let session = lucid.first_session().await;
    within_command(&lucid, &session, "sleep 4").await;
    // No mention: heard only because lucid reads every message.
    discord.post_as(DADA, &thread.id, "mind the overflow case too");
    // Outside any session's thread, a plain message is nothing to lucid.
    discord.post_as(DADA, DCHANNEL, "lunch anyone?");
    lucid
        .until_session(&session, "the session to finish", |s| {
            state(s) == "completed"
        })
        .await;
    let heard = lucid.llm.heard("mind the overflow case too");
    assert!(heard, "the thread's message never reached the model");
    assert_eq!(lucid.sessions().await.len(), 1);
    let intents = discord.gateway_sessions().last().unwrap().intents;
    assert_ne!(intents & (1 << 15), 0, "MESSAGE_CONTENT was not asked for");
    assert_quiet(discord, &thread.id, &[]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failure_is_explained_and_lucid_typed_in_the_thread_takes_the_session_up_again() {
    let lucid = Lucid::start_discord(vec![
        Reply::error(401, "Incorrect API key provided"),
        Reply::tool_call("c1", "finish", r#"{"summary": "Nothing to change"}"#),
    ])
    .await;
    let discord = &lucid.discord;
    discord.until_ready(GUILD).await;
    let asked = discord.post_as(DADA, DCHANNEL, &format!("{} fix it", at_lucid(discord)));
    let failure = discord
        .wait_until("the failure in the thread", |d| {
            thread_messages(d, &asked)
                .into_iter()
                .find(|m| m.content.contains("The session failed"))
        })
        .await;
    assert!(
        failure.content.contains("refused the API key"),
        "{failure:#?}"
    );
    let session = only_session(&lucid).await;
    assert_eq!(
        state(&lucid.api(&format!("/sessions/{session}")).await),
        "failed"
    );
    let status_message = thread_messages(discord, &asked)[0].clone();
    let status_message = discord.message(&status_message.id).unwrap();
    assert!(
        status_message.content.contains("Failed"),
        "{status_message:#?}"
    );
    assert!(!has_stop_button(&status_message));

    // `/lucid` typed in the session's thread: said there for all to see, and the
    // session is taken up again.
    let command = discord.slash_command(GUILD, &asked, DADA, "lucid", &[("task", "try again")]);
    let (status, answer) = discord.deliver(&lucid.interactions_url(), &command).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["type"], 4, "{answer}");
    assert!(
        answer["data"]["content"]
            .as_str()
            .unwrap()
            .contains("asked: try again"),
        "{answer}"
    );
    lucid
        .until_session(&session, "the session to finish", |s| {
            state(s) == "completed"
        })
        .await;
    assert_eq!(lucid.sessions().await.len(), 1);
    assert_quiet(discord, &asked, &[]);
}
