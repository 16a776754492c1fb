//! A platform's API down for a long stretch while a session runs, end to end: the real
//! `lucid serve`, the fake platform taken down by its `outage` switch (answering 5xx,
//! or closing every connection) right after the session was acknowledged (or, on
//! GitHub, right after the pull request was opened), the session running to its end
//! meanwhile, and the outage going on well after it. When the API answers again the
//! thread catches up from the event log: the status message in its final state, every
//! moment of the log told once, the pull request announced once, one status message.
//!
//! How long is "long": lucid waits between tries of a thread's writes with a backoff
//! that doubles up to `lucid::worker::backoff::CAP` (a constant, 15 s). Each outage
//! here lasts [`AFTER_THE_END`] past the session's end, so lucid's wait reaches its
//! cap several times (asserted from the moments the fake turned requests away); a
//! longer outage only repeats that capped step. Once the API is back, the thread is
//! caught up within one capped wait and the writes it takes.

use crate::rig::{
    ADA, BOT_USER, CHANNEL, DADA, DCHANNEL, GUILD, Lucid, REPO, comment_payload, fixing_script,
    slack_message,
};
use lucid::worker::backoff::CAP;
use serde_json::Value;
use std::time::{Duration, Instant};

/// How long each outage goes on after the session ended.
const AFTER_THE_END: Duration = Duration::from_secs(110);
/// How many times lucid's wait must reach its cap during an outage.
const CAPPED_WAITS: usize = 3;

pub(crate) fn state(session: &Value) -> &str {
    session["state"].as_str().unwrap_or_default()
}

/// Polls `f` every 100 ms until it answers, for at most `deadline`.
pub(crate) async fn until<T>(what: &str, deadline: Duration, f: impl Fn() -> Option<T>) -> T {
    let give_up = Instant::now() + deadline;
    loop {
        if let Some(value) = f() {
            return value;
        }
        assert!(
            Instant::now() < give_up,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The session once it ended, while the platform is down (nothing it does waits on
/// the platform's thread).
pub(crate) async fn until_ended(lucid: &Lucid, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let session = lucid.api(&format!("/sessions/{id}")).await;
        if ["completed", "failed", "cancelled"].contains(&state(&session)) {
            return session;
        }
        assert!(
            Instant::now() < deadline,
            "the session did not end during the outage: {session}\n{}",
            lucid.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Keeps the platform down until [`AFTER_THE_END`] past the session's end.
async fn outage_goes_on(session_ended: Instant) {
    tokio::time::sleep_until((session_ended + AFTER_THE_END).into()).await;
}

/// Tries of a thread's writes, as the fake turned them away, came further and further
/// apart, and reached lucid's cap at least [`CAPPED_WAITS`] times: lucid neither
/// hammered the platform nor gave up on it.
fn assert_backed_off(what: &str, tries: &[Instant], outage: Duration) {
    let gaps: Vec<Duration> = tries.windows(2).map(|w| w[1] - w[0]).collect();
    let capped = gaps
        .iter()
        .filter(|gap| **gap >= CAP - Duration::from_secs(1))
        .count();
    let longest = gaps.iter().max().copied().unwrap_or_default();
    eprintln!(
        "{what}: {} requests turned away over {outage:?}; longest wait {longest:?}, {capped} at the cap",
        tries.len()
    );
    assert!(
        capped >= CAPPED_WAITS,
        "{what}: the wait reached the cap {capped} times (gaps {gaps:?})"
    );
    assert!(
        longest <= CAP + Duration::from_secs(5),
        "{what}: a wait of {longest:?}, past the cap"
    );
    // A round of tries per wait: at most a handful of requests each.
    let rounds = 4 + (outage.as_secs_f64() / CAP.as_secs_f64()).ceil() as usize + 2;
    assert!(
        tries.len() <= rounds * 8,
        "{what}: {} requests in {outage:?}: lucid hammered a platform that was down",
        tries.len()
    );
}

/// What the thread should tell of the log, once each: every failed command and every
/// file edit, in Slack's and Discord's words (`messages::moment`).
pub(crate) fn moments_of(events: &[Value]) -> Vec<String> {
    let mut command = String::new();
    let mut moments = Vec::new();
    for event in events {
        match event["kind"].as_str().unwrap_or_default() {
            "command" => command = event["command"].as_str().unwrap_or_default().to_owned(),
            "output" => match event["exit_code"].as_i64() {
                Some(code) if code != 0 => {
                    moments.push(format!("`{command}` failed (exit {code})"));
                }
                _ => {}
            },
            "file_edit" => {
                let path = event["path"].as_str().unwrap_or_default();
                moments.push(format!("Edited `{path}`"));
            }
            _ => {}
        }
    }
    moments
}

/// Each of `moments` and the ending appears exactly once in `replies`, and no reply
/// is repeated.
pub(crate) fn assert_told_once(replies: &[String], moments: &[String], ending: &str) {
    let all = replies.join("\n---\n");
    assert!(!moments.is_empty(), "the log has no moments");
    for moment in moments.iter().map(String::as_str).chain([ending]) {
        assert_eq!(
            all.matches(moment).count(),
            moments
                .iter()
                .filter(|m| m.as_str() == moment)
                .count()
                .max(1),
            "{moment:?} is not told exactly once:\n{all}"
        );
    }
    let mut seen = std::collections::HashSet::new();
    for reply in replies {
        assert!(seen.insert(reply), "a reply posted twice: {reply}\n{all}");
    }
}

/// A Slack thread told a session whole, once: one status message (the
/// acknowledgement at `ack_ts`, edited in place), every moment of the log and the
/// ending once, the pull request once.
pub(crate) fn assert_slack_thread_whole(
    thread: &[crate::fake_slack::SlackMessage],
    ack_ts: &str,
    events: &[Value],
    pr_url: &str,
) {
    let statuses: Vec<_> = thread.iter().filter(|m| !m.blocks.is_null()).collect();
    assert_eq!(statuses.len(), 1, "status messages: {statuses:#?}");
    assert_eq!(statuses[0].ts, ack_ts);
    let replies: Vec<String> = thread
        .iter()
        .filter(|m| m.blocks.is_null())
        .map(|m| m.text.clone())
        .collect();
    assert_told_once(&replies, &moments_of(events), "*Done.*");
    let everything: String = thread
        .iter()
        .map(|m| format!("{}\n{}\n", m.text, m.blocks))
        .collect();
    assert_eq!(
        everything.matches(pr_url).count(),
        1,
        "the PR is announced once: {everything}"
    );
}

mod slack {
    use super::*;
    use crate::fake_slack::{Down, SlackMessage};

    fn shown(message: &SlackMessage) -> String {
        format!("{} {}", message.text, message.blocks)
    }

    fn has_stop_button(message: &SlackMessage) -> bool {
        shown(message).contains("\"action_id\":\"stop\"")
    }

    /// A mention; Slack goes down (`down`) once its acknowledgement is in the thread.
    async fn through_an_outage(down: Down, ts: &str) {
        let lucid = Lucid::start(fixing_script()).await;
        let slack = &lucid.slack;
        let text = format!("<@{BOT_USER}> please fix add()");
        let mention = slack_message("app_mention", CHANNEL, ADA, ts, None, &text);
        let (status, answer) = lucid.slack_event(&mention, None).await;
        assert_eq!(status, 200, "{answer}");
        let id = answer["session"].as_str().unwrap().to_owned();
        let ack = slack
            .wait_until("the acknowledgement", |s| {
                s.thread(CHANNEL, ts).first().cloned()
            })
            .await;

        slack.outage.begin(down);
        let began = Instant::now();
        let session = until_ended(&lucid, &id).await;
        let ended = Instant::now();
        assert_eq!(state(&session), "completed", "{session}\n{}", lucid.log());
        let pr_url = session["pr_url"].as_str().expect("a PR url").to_owned();
        outage_goes_on(ended).await;
        let said_while_down = slack.thread(CHANNEL, ts);
        assert!(
            !said_while_down.iter().any(|m| m.text.contains("*Done.*")),
            "the ending reached a Slack that was down: {said_while_down:#?}"
        );
        slack.outage.end();
        let back = Instant::now();

        // Caught up: the ending in the thread and the status message in its last state.
        let thread = until(
            "the thread to catch up",
            CAP + Duration::from_secs(20),
            || {
                let thread = slack.thread(CHANNEL, ts);
                let status = slack.message(CHANNEL, &ack.ts)?;
                let done = thread
                    .iter()
                    .any(|m| m.blocks.is_null() && m.text.contains("*Done.*"))
                    && shown(&status).contains("Done")
                    && !has_stop_button(&status);
                done.then_some(thread)
            },
        )
        .await;
        eprintln!(
            "Slack {down:?}: session ended {:?} into the outage, outage {:?}, thread caught up {:?} after",
            ended - began,
            back - began,
            back.elapsed()
        );
        // Writes to the thread (lucid's Slack url has a double slash: `/api//chat.…`);
        // a closed connection has no path.
        let tries: Vec<Instant> = slack
            .outage
            .turned_away()
            .iter()
            .filter(|t| down == Down::Closing || t.path.contains("/chat."))
            .map(|t| t.at)
            .collect();
        assert_backed_off(&format!("Slack {down:?}"), &tries, back - began);

        assert_slack_thread_whole(&thread, &ack.ts, &lucid.events(&id).await, &pr_url);
        assert!(slack.unexpected().is_empty(), "{:#?}", slack.unexpected());
        assert_eq!(lucid.github.pulls(REPO).len(), 1);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn with_slack_answering_5xx_for_minutes_the_thread_catches_up_from_the_log() {
        through_an_outage(Down::Failing, "1700000501.000100").await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn with_slack_closing_connections_for_minutes_the_thread_catches_up_from_the_log() {
        through_an_outage(Down::Closing, "1700000502.000100").await;
    }
}

mod github {
    use super::*;
    use crate::fake_github::{Down, FakeComment, FakeGithub};

    const ISSUES: &str = "/repos/acme/calc/issues";

    fn ours(github: &FakeGithub) -> Vec<FakeComment> {
        github
            .comments(REPO, 7)
            .into_iter()
            .filter(|c| c.author == "lucid")
            .collect()
    }

    /// A mention on issue 7; `outage` takes GitHub down at the right moment.
    async fn through_an_outage(what: &str, delivery: &str, outage: impl Fn(&FakeGithub)) {
        let lucid = Lucid::start(fixing_script()).await;
        let github = &lucid.github;
        let words = "@lucid please fix add()";
        let comment = github.add_comment(REPO, 7, "ada", words);
        let payload = comment_payload(7, "add() subtracts", comment, "ada", words);
        let (status, answer) = lucid.deliver("issue_comment", delivery, &payload).await;
        assert_eq!(status, 202, "{answer}");
        let id = answer["session"].as_str().unwrap().to_owned();
        github
            .wait_until("the progress comment", |g| ours(g).first().cloned())
            .await;

        outage(github);
        let session = until_ended(&lucid, &id).await;
        let ended = Instant::now();
        let began = github.outage.until_begun().await;
        assert_eq!(state(&session), "completed", "{session}\n{}", lucid.log());
        let pr_url = session["pr_url"].as_str().expect("a PR url").to_owned();
        outage_goes_on(ended).await;
        let while_down = ours(github);
        assert!(
            !while_down[0].body.contains(&pr_url),
            "the end reached a GitHub that was down: {}",
            while_down[0].body
        );
        github.outage.end();
        let back = Instant::now();

        let progress = until(
            "the progress comment to catch up",
            CAP + Duration::from_secs(20),
            || {
                ours(github)
                    .into_iter()
                    .find(|c| c.body.contains("Done") && c.body.contains(&pr_url))
            },
        )
        .await;
        eprintln!(
            "GitHub {what}: session ended {:?} into the outage, outage {:?}, thread caught up {:?} after",
            ended.saturating_duration_since(began),
            back - began,
            back.elapsed()
        );
        let tries: Vec<Instant> = github
            .outage
            .turned_away()
            .iter()
            .filter(|t| t.method.is_empty() || t.path.starts_with(ISSUES))
            .map(|t| t.at)
            .collect();
        assert_backed_off(&format!("GitHub {what}"), &tries, back - began);

        // One progress comment, in its final state: every command of the log in its
        // checklist, the summary, the pull request once.
        assert_eq!(ours(github).len(), 1, "{:#?}", ours(github));
        let body = &progress.body;
        for event in lucid.events(&id).await {
            if let Some(command) = event["command"].as_str() {
                assert!(body.contains(command), "{command:?} is not in {body}");
            }
        }
        assert!(body.contains("Make add() add"), "{body}");
        assert_eq!(body.matches(&pr_url).count(), 1, "{body}");
        assert_eq!(github.pulls(REPO).len(), 1);
        assert!(github.unrouted().is_empty(), "{:#?}", github.unrouted());
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn with_the_issues_api_answering_5xx_for_minutes_the_progress_comment_catches_up() {
        through_an_outage("issues API 5xx", "d-outage-1", |github| {
            github.outage.begin_on(Down::Failing, ISSUES);
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn with_github_closing_connections_after_the_pull_request_the_end_is_still_posted() {
        through_an_outage("closing connections", "d-outage-2", |github| {
            github
                .outage
                .begin_after("POST", "/repos/acme/calc/pulls", Down::Closing);
        })
        .await;
    }
}

mod discord {
    use super::*;
    use crate::fake_discord::{DiscordMessage, Down};

    fn has_stop_button(message: &DiscordMessage) -> bool {
        message
            .components
            .to_string()
            .contains("\"custom_id\":\"stop:")
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn with_discord_answering_5xx_for_minutes_the_thread_catches_up_from_the_log() {
        let lucid = Lucid::start_discord(fixing_script()).await;
        let discord = &lucid.discord;
        discord.until_ready(GUILD).await;
        let bot = format!("<@{}>", discord.bot().user_id);
        let asked = discord.post_as(DADA, DCHANNEL, &format!("{bot} please fix add()"));
        let status = discord
            .wait_until("the status message in the thread", |d| {
                d.channel_messages(&asked).into_iter().find(has_stop_button)
            })
            .await;
        let sessions = lucid.sessions().await;
        let id = sessions[0]["id"].as_str().unwrap().to_owned();

        discord.outage.begin(Down::Failing);
        let began = Instant::now();
        let session = until_ended(&lucid, &id).await;
        let ended = Instant::now();
        assert_eq!(state(&session), "completed", "{session}\n{}", lucid.log());
        let pr_url = session["pr_url"].as_str().expect("a PR url").to_owned();
        outage_goes_on(ended).await;
        discord.outage.end();
        let back = Instant::now();

        let thread = until(
            "the thread to catch up",
            CAP + Duration::from_secs(20),
            || {
                let thread = discord.channel_messages(&asked);
                let status = discord.message(&status.id)?;
                let done = thread
                    .iter()
                    .any(|m| m.id != status.id && m.content.contains("Done."))
                    && !has_stop_button(&status);
                done.then_some(thread)
            },
        )
        .await;
        eprintln!(
            "Discord 5xx: session ended {:?} into the outage, outage {:?}, thread caught up {:?} after",
            ended - began,
            back - began,
            back.elapsed()
        );
        let tries: Vec<Instant> = discord
            .outage
            .turned_away_on("/api/v10/channels")
            .iter()
            .map(|t| t.at)
            .collect();
        assert_backed_off("Discord 5xx", &tries, back - began);

        // Only a status message says who asked.
        let statuses: Vec<&DiscordMessage> = thread
            .iter()
            .filter(|m| m.content.contains("Asked by "))
            .collect();
        assert_eq!(statuses.len(), 1, "status messages: {statuses:#?}");
        assert_eq!(statuses[0].id, status.id);
        let replies: Vec<String> = thread
            .iter()
            .filter(|m| m.id != status.id && m.author_is_bot)
            .map(|m| m.content.clone())
            .collect();
        let events = lucid.events(&id).await;
        assert_told_once(&replies, &moments_of(&events), "Done.");
        let everything: String = thread
            .iter()
            .map(|m| format!("{}\n{}\n", m.content, m.components))
            .collect();
        assert_eq!(everything.matches(&pr_url).count(), 1, "{everything}");
        assert!(
            discord.unexpected().is_empty(),
            "{:#?}",
            discord.unexpected()
        );
    }
}
