//! The model provider busy (429 with Retry-After, Anthropic's 529), failing (5xx) and
//! cutting its streams, more times than lucid's retry budget allows, end to end: the
//! real `lucid serve`, a Slack thread, the fake model. The session fails within a
//! bounded time, its thread says what the provider did in words from
//! `messages::model_gave_no_answer` (snapshot-tested there), and the tries respected
//! the provider's Retry-After and lucid's backoff (`RetryPolicy::default()`: 5 tries,
//! 0.5 s doubling, no wait over 60 s).

use crate::fake_anthropic::{FakeAnthropic, Reply as AnthropicReply};
use crate::fake_llm::Reply;
use crate::fake_slack::SlackMessage;
use crate::rig::{ADA, BOT_USER, CHANNEL, Lucid, slack_message};
use lucid::agent::llm::RetryPolicy;
use lucid::messages::{ProviderTrouble, model_gave_no_answer};
use serde_json::Value;
use std::time::{Duration, Instant};

/// From the mention to the failure in the thread, at most: the waits below (under
/// 15 s) and a sandbox's start, with room to spare.
const BOUND: Duration = Duration::from_secs(60);

/// Mentions lucid in a thread of its own; answers the session's id.
async fn mention(lucid: &Lucid, ts: &str) -> String {
    let text = format!("<@{BOT_USER}> please fix add()");
    let payload = slack_message("app_mention", CHANNEL, ADA, ts, None, &text);
    let (status, answer) = lucid.slack_event(&payload, None).await;
    assert_eq!(status, 200, "{answer}");
    answer["session"].as_str().unwrap().to_owned()
}

/// The session once it ended, within [`BOUND`] of `asked`.
async fn until_ended(lucid: &Lucid, id: &str, asked: Instant) -> Value {
    loop {
        let session = lucid.api(&format!("/sessions/{id}")).await;
        if ["completed", "failed", "cancelled"].contains(&session["state"].as_str().unwrap_or("")) {
            return session;
        }
        assert!(
            asked.elapsed() < BOUND,
            "the session still runs {BOUND:?} after it was asked for: {session}\n{}",
            lucid.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The thread's status message and its one reply, the failure, once it is there.
async fn failure_in_thread(lucid: &Lucid, ts: &str) -> (SlackMessage, String) {
    let thread = lucid
        .slack
        .wait_until("the failure in the thread", |s| {
            let thread = s.thread(CHANNEL, ts);
            thread
                .iter()
                .any(|m| m.text.contains("The session failed"))
                .then_some(thread)
        })
        .await;
    assert_eq!(thread.len(), 2, "status and failure only: {thread:#?}");
    let status = thread[0].clone();
    let shown = format!("{} {}", status.text, status.blocks);
    assert!(shown.contains("Failed"), "{status:#?}");
    assert!(!shown.contains("\"action_id\":\"stop\""), "{status:#?}");
    assert!(
        lucid.slack.unexpected().is_empty(),
        "{:#?}",
        lucid.slack.unexpected()
    );
    (status, thread[1].text.clone())
}

/// The waits between the tries: each at least `least`, and not much longer.
fn assert_waits(arrivals: &[Instant], least: &[Duration]) {
    let waits: Vec<Duration> = arrivals.windows(2).map(|w| w[1] - w[0]).collect();
    eprintln!("waits between the model's tries: {waits:?}");
    assert_eq!(waits.len(), least.len(), "{waits:?}");
    for (wait, least) in waits.iter().zip(least) {
        assert!(
            *wait >= *least && *wait < *least + Duration::from_secs(2),
            "waited {wait:?} where {least:?} was due: {waits:?}"
        );
    }
}

/// Whether `said` holds the reason lucid gives for `troubles` over some whole number
/// of seconds in `seconds`.
fn says(
    said: &str,
    troubles: &[ProviderTrouble],
    seconds: std::ops::RangeInclusive<u64>,
    last: &str,
) -> bool {
    seconds.into_iter().any(|s| {
        let reason = model_gave_no_answer(troubles, Duration::from_secs(s), last);
        said.contains(&reason)
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_model_busy_failing_and_cutting_off_past_the_retry_budget_fails_the_session_clearly() {
    let policy = RetryPolicy::default();
    assert_eq!(
        policy.attempts, 5,
        "the script below is written for 5 tries"
    );
    let fix = || Reply::tool_call("c1", "run", r#"{"command": "python3 test_calc.py"}"#);
    let lucid = Lucid::start(vec![
        Reply::error(429, "Rate limit reached for requests").retry_after("3"),
        Reply::error(503, "The server is overloaded"),
        Reply::error(502, "Bad gateway"),
        fix().cut_after(2),
        fix().cut_after(2),
        // More than the budget: never asked for.
        Reply::error(503, "The server is overloaded"),
        fix(),
    ])
    .await;
    let ts = "1700000601.000100";
    let asked = Instant::now();
    let id = mention(&lucid, ts).await;
    let session = until_ended(&lucid, &id, asked).await;
    assert_eq!(session["state"], "failed", "{session}");
    let (_, said) = failure_in_thread(&lucid, ts).await;
    let took = asked.elapsed();
    eprintln!("from the mention to the failure in the thread: {took:?}\n{said}");
    assert!(took < BOUND, "{took:?}");

    // Five tries, no more; the first wait is the provider's Retry-After (3 s), the
    // others lucid's backoff (1 s, 2 s, 4 s after tries 2, 3, 4).
    let arrivals = lucid.llm.arrivals();
    assert_eq!(arrivals.len(), 5, "tried past the budget");
    let secs = Duration::from_secs;
    assert_waits(&arrivals, &[secs(3), secs(1), secs(2), secs(4)]);

    // What the provider did, each try, in lucid's words. A cut stream reaches lucid
    // as an answer broken off, or (when the reset overtakes the answer) as none.
    use ProviderTrouble::*;
    let over = 10..=13;
    let cut_off = [BrokeOff, NoAnswer];
    let told = cut_off.iter().any(|fourth| {
        cut_off.iter().any(|fifth| {
            let troubles = [Busy(429), Failing(503), Failing(502), *fourth, *fifth];
            [
                "the answer's stream ended before the answer did",
                "the answer broke off",
                "the request failed",
            ]
            .iter()
            .any(|last| says(&said, &troubles, over.clone(), last))
        })
    });
    assert!(
        told,
        "the thread does not say what the provider did: {said}"
    );
    assert!(said.contains("429 Too Many Requests"), "{said}");
    assert!(
        said.contains("503 Service Unavailable, 502 Bad Gateway"),
        "{said}"
    );
    let reason = session["reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("the model provider gave no answer in 5 attempts"),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn anthropic_overloaded_past_the_retry_budget_fails_the_session_clearly() {
    let overloaded = || AnthropicReply::error(529, "overloaded_error", "Overloaded");
    let anthropic = FakeAnthropic::start(vec![
        overloaded().retry_after("2"),
        overloaded(),
        overloaded(),
        overloaded(),
        overloaded(),
        // More than the budget: never asked for.
        overloaded(),
    ])
    .await;
    let settings = [
        ("LUCID_LLM_PROVIDER", "anthropic"),
        ("LUCID_LLM_BASE_URL", anthropic.base_url.as_str()),
    ];
    let lucid = Lucid::start_setting(vec![], &settings).await;
    let ts = "1700000602.000100";
    let asked = Instant::now();
    let id = mention(&lucid, ts).await;
    let session = until_ended(&lucid, &id, asked).await;
    assert_eq!(session["state"], "failed", "{session}");
    let (_, said) = failure_in_thread(&lucid, ts).await;
    let took = asked.elapsed();
    eprintln!("from the mention to the failure in the thread: {took:?}\n{said}");
    assert!(took < BOUND, "{took:?}");

    let arrivals = anthropic.arrivals();
    assert_eq!(arrivals.len(), 5, "tried past the budget");
    let secs = Duration::from_secs;
    assert_waits(&arrivals, &[secs(2), secs(1), secs(2), secs(4)]);
    let troubles = [ProviderTrouble::Busy(529); 5];
    assert!(
        says(&said, &troubles, 9..=12, "Overloaded"),
        "the thread does not say the provider was overloaded: {said}"
    );
    assert!(
        lucid.llm.received().is_empty(),
        "the other provider was asked"
    );
}
