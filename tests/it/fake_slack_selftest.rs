//! The fake Slack checked with plain HTTP and with slack-morphism's own client, so a
//! failing end-to-end test points at lucid, not at the fake.

use crate::fake_slack::{FakeSlack, SlackIdentity};
use crate::harness::within;
use serde_json::{Value, json};
use std::time::Duration;

const TOKEN: &str = "xoxb-fake-0123456789";
const CHANNEL: &str = "C0AAAA001";

/// What a call answered: HTTP status, Retry-After header, JSON body.
struct Answer {
    status: u16,
    retry_after: Option<String>,
    body: Value,
}

async fn send(request: reqwest::RequestBuilder) -> Answer {
    let response = within("a call to the fake Slack", request.send())
        .await
        .unwrap();
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    Answer {
        status,
        retry_after,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
    }
}

/// `POST {api_url}{method}` with a JSON body and the token as Bearer, like slack-morphism.
async fn call_as(slack: &FakeSlack, token: &str, method: &str, body: Value) -> Answer {
    let request = reqwest::Client::new()
        .post(format!("{}{method}", slack.api_url))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json; charset=utf-8")
        .body(body.to_string());
    send(request).await
}

async fn call(slack: &FakeSlack, method: &str, body: Value) -> Answer {
    call_as(slack, TOKEN, method, body).await
}

/// `POST {api_url}{method}` with a form body (the token as a field unless a header).
async fn call_form(slack: &FakeSlack, method: &str, fields: &[(&str, &str)]) -> Answer {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    let request = reqwest::Client::new()
        .post(format!("{}{method}", slack.api_url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    send(request).await
}

async fn post(slack: &FakeSlack, body: Value) -> String {
    let answer = call(slack, "chat.postMessage", body).await;
    assert_eq!(answer.body["ok"], true, "{}", answer.body);
    answer.body["ts"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn posted_messages_get_increasing_ts_and_keep_their_edit_history() {
    let slack = FakeSlack::start(TOKEN).await;
    assert_eq!(slack.api_url, format!("{}/api/", slack.origin));
    let blocks = json!([{"type": "section", "text": {"type": "mrkdwn", "text": "*Working*"}}]);
    let answer = call(
        &slack,
        "chat.postMessage",
        json!({"channel": CHANNEL, "text": "Working", "blocks": blocks, "thread_ts": "1699999999.000100"}),
    )
    .await;
    assert_eq!(answer.status, 200);
    let body = answer.body;
    assert_eq!(body["ok"], true);
    assert_eq!(body["channel"], CHANNEL);
    let ts = body["ts"].as_str().unwrap().to_owned();
    assert_eq!(ts, "1700000000.000100");
    assert_eq!(body["message"]["ts"], ts.as_str());
    assert_eq!(body["message"]["text"], "Working");
    assert_eq!(body["message"]["blocks"], blocks);
    assert_eq!(body["message"]["user"], "U0LUCID");
    assert_eq!(body["message"]["bot_id"], "B0001");
    assert_eq!(body["message"]["thread_ts"], "1699999999.000100");

    let second = post(&slack, json!({"channel": CHANNEL, "text": "second"})).await;
    assert!(second.as_str() > ts.as_str(), "{second} after {ts}");

    let answer = call(
        &slack,
        "chat.update",
        json!({"channel": CHANNEL, "ts": ts, "text": "Step 1 done"}),
    )
    .await;
    assert_eq!(answer.body["ok"], true, "{}", answer.body);
    assert_eq!(answer.body["channel"], CHANNEL);
    assert_eq!(answer.body["ts"], ts.as_str());
    assert_eq!(answer.body["text"], "Step 1 done");
    assert_eq!(answer.body["message"]["text"], "Step 1 done");
    // Blocks left out of an update stay as they were.
    assert_eq!(answer.body["message"]["blocks"], blocks);
    let done = json!([{"type": "section", "text": {"type": "mrkdwn", "text": "*Done*"}}]);
    let answer = call(
        &slack,
        "chat.update",
        json!({"channel": CHANNEL, "ts": ts, "text": "Done", "blocks": done}),
    )
    .await;
    assert_eq!(answer.body["ok"], true);

    let messages = slack.messages();
    assert_eq!(messages.len(), 2);
    let first = &messages[0];
    assert_eq!(first.ts, ts);
    assert_eq!(first.thread_ts.as_deref(), Some("1699999999.000100"));
    assert_eq!(first.text, "Done");
    assert_eq!(first.blocks, done);
    assert_eq!(first.user, "U0LUCID");
    assert_eq!(
        first.edits,
        vec![
            ("Step 1 done".to_owned(), blocks.clone()),
            ("Done".to_owned(), done.clone())
        ]
    );
    assert_eq!(first.texts(), ["Working", "Step 1 done", "Done"]);
    assert_eq!(first.params["blocks"], blocks);
    assert_eq!(slack.message(CHANNEL, &second).unwrap().text, "second");
    assert!(slack.unexpected().is_empty());

    // Updating a message the bot never posted (or in another channel) is a bug.
    let answer = call(
        &slack,
        "chat.update",
        json!({"channel": CHANNEL, "ts": "1600000000.000100", "text": "x"}),
    )
    .await;
    assert_eq!(
        (answer.status, answer.body["ok"].clone()),
        (200, json!(false))
    );
    assert_eq!(answer.body["error"], "message_not_found");
    let answer = call(
        &slack,
        "chat.update",
        json!({"channel": "C0OTHER", "ts": ts, "text": "x"}),
    )
    .await;
    assert_eq!(answer.body["error"], "message_not_found");
    assert_eq!(slack.unexpected().len(), 2);
    assert_eq!(slack.messages()[0].edits.len(), 2);
}

#[tokio::test]
async fn a_thread_holds_the_replies_and_the_bots_own_parent() {
    let slack = FakeSlack::start(TOKEN).await;
    let mention = "1699999999.000100";
    let a = post(
        &slack,
        json!({"channel": CHANNEL, "text": "a", "thread_ts": mention}),
    )
    .await;
    let top = post(&slack, json!({"channel": CHANNEL, "text": "top"})).await;
    let b = post(
        &slack,
        json!({"channel": CHANNEL, "text": "b", "thread_ts": mention}),
    )
    .await;
    post(
        &slack,
        json!({"channel": "C0OTHER", "text": "c", "thread_ts": mention}),
    )
    .await;
    let reply = post(
        &slack,
        json!({"channel": CHANNEL, "text": "r", "thread_ts": top}),
    )
    .await;

    let thread: Vec<_> = slack
        .thread(CHANNEL, mention)
        .into_iter()
        .map(|m| m.ts)
        .collect();
    assert_eq!(thread, [a, b]);
    let thread: Vec<_> = slack
        .thread(CHANNEL, &top)
        .into_iter()
        .map(|m| m.ts)
        .collect();
    assert_eq!(thread, [top, reply]);
    assert_eq!(slack.thread("C0OTHER", mention).len(), 1);
    assert!(slack.thread(CHANNEL, "1600000000.000100").is_empty());
}

#[tokio::test]
async fn reacting_twice_answers_already_reacted() {
    let slack = FakeSlack::start(TOKEN).await;
    let mention = json!({"channel": CHANNEL, "timestamp": "1699999999.000100", "name": "eyes"});
    let answer = call(&slack, "reactions.add", mention.clone()).await;
    assert_eq!(answer.body, json!({"ok": true}));
    let answer = call(&slack, "reactions.add", mention.clone()).await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.body,
        json!({"ok": false, "error": "already_reacted"})
    );
    let reactions = slack.reactions();
    assert_eq!(reactions.len(), 1);
    assert_eq!(reactions[0].channel, CHANNEL);
    assert_eq!(reactions[0].timestamp, "1699999999.000100");
    assert_eq!(reactions[0].name, "eyes");
    assert_eq!(reactions[0].user, "U0LUCID");

    let answer = call(&slack, "reactions.remove", mention.clone()).await;
    assert_eq!(answer.body["ok"], true);
    assert!(slack.reactions().is_empty());
    assert_eq!(
        call(&slack, "reactions.remove", mention).await.body["error"],
        "no_reaction"
    );
    // A client may meet these; they are not mistakes.
    assert!(slack.unexpected().is_empty());

    let colons = json!({"channel": CHANNEL, "timestamp": "1699999999.000100", "name": ":eyes:"});
    let answer = call(&slack, "reactions.add", colons).await;
    assert_eq!(answer.body["error"], "invalid_name");
    assert_eq!(slack.unexpected().len(), 1);
}

#[tokio::test]
async fn a_wrong_or_missing_token_is_refused_with_http_200() {
    let slack = FakeSlack::start(TOKEN).await;
    let message = json!({"channel": CHANNEL, "text": "hi"});
    let answer = call_as(&slack, "xoxb-wrong", "chat.postMessage", message.clone()).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, json!({"ok": false, "error": "invalid_auth"}));

    let anonymous = reqwest::Client::new()
        .post(format!("{}chat.postMessage", slack.api_url))
        .header("content-type", "application/json; charset=utf-8")
        .body(message.to_string());
    assert_eq!(send(anonymous).await.body["error"], "not_authed");
    // Slack reads no token from a JSON body: it wants the Authorization header.
    let in_body = reqwest::Client::new()
        .post(format!("{}chat.postMessage", slack.api_url))
        .json(&json!({"channel": CHANNEL, "text": "hi", "token": TOKEN}));
    assert_eq!(send(in_body).await.body["error"], "not_authed");
    let answer = call_as(&slack, "xoxb-wrong", "auth.test", json!({})).await;
    assert_eq!(answer.body["error"], "invalid_auth");

    assert!(slack.messages().is_empty());
    let unexpected = slack.unexpected();
    assert_eq!(unexpected.len(), 4);
    assert_eq!(unexpected[0].token.as_deref(), Some("xoxb-wrong"));
    assert_eq!(unexpected[0].error.as_deref(), Some("invalid_auth"));
    assert_eq!(unexpected[1].token, None);
}

#[tokio::test]
async fn a_429_storm_carries_retry_after_and_then_lets_writes_through() {
    let slack = FakeSlack::start(TOKEN).await;
    slack.rate_limit_next(3, 2);
    // auth.test is not a write: it is not rate limited.
    assert_eq!(call(&slack, "auth.test", json!({})).await.body["ok"], true);
    for _ in 0..3 {
        let answer = call(
            &slack,
            "chat.postMessage",
            json!({"channel": CHANNEL, "text": "hi"}),
        )
        .await;
        assert_eq!(answer.status, 429);
        assert_eq!(answer.retry_after.as_deref(), Some("2"));
        assert_eq!(answer.body, json!({"ok": false, "error": "ratelimited"}));
    }
    assert!(slack.messages().is_empty());
    let answer = call(
        &slack,
        "chat.postMessage",
        json!({"channel": CHANNEL, "text": "hi"}),
    )
    .await;
    assert_eq!((answer.status, answer.retry_after), (200, None));
    assert_eq!(slack.messages().len(), 1);

    let calls = slack.calls_to("chat.postMessage");
    assert_eq!(calls.len(), 4);
    assert_eq!(calls.iter().filter(|c| c.rate_limited).count(), 3);
    assert!(calls[0].at <= calls[3].at);
    assert_eq!(calls[0].status, 429);
    assert_eq!(calls[0].error.as_deref(), Some("ratelimited"));
    assert_eq!(calls[0].response["error"], "ratelimited");
    assert_eq!(calls[3].response["ok"], true);
    assert!(slack.unexpected().is_empty());
}

#[tokio::test]
async fn channel_pacing_refuses_a_second_write_too_soon_in_the_same_channel() {
    let slack = FakeSlack::start(TOKEN).await;
    slack.enforce_channel_rate(Duration::from_secs(30));
    let ts = post(&slack, json!({"channel": CHANNEL, "text": "one"})).await;
    let answer = call(
        &slack,
        "chat.update",
        json!({"channel": CHANNEL, "ts": ts, "text": "two"}),
    )
    .await;
    assert_eq!(answer.status, 429);
    let secs: u64 = answer.retry_after.unwrap().parse().unwrap();
    assert!((29..=30).contains(&secs), "Retry-After {secs}");
    // Another channel, and reactions, are not paced.
    post(&slack, json!({"channel": "C0OTHER", "text": "one"})).await;
    let reaction = json!({"channel": CHANNEL, "timestamp": ts, "name": "eyes"});
    assert_eq!(call(&slack, "reactions.add", reaction).await.status, 200);
    assert_eq!(slack.messages()[0].edits.len(), 0);

    // With a tiny interval, writes spaced by it go through.
    slack.enforce_channel_rate(Duration::from_millis(1));
    // Passing the interval is the point here, so this one sleep waits for nothing else.
    tokio::time::sleep(Duration::from_millis(2)).await;
    let answer = call(
        &slack,
        "chat.update",
        json!({"channel": CHANNEL, "ts": ts, "text": "two"}),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
}

#[tokio::test]
async fn an_unknown_method_is_recorded_as_unexpected() {
    let slack = FakeSlack::start(TOKEN).await;
    let answer = call(
        &slack,
        "conversations.kick",
        json!({"channel": CHANNEL, "user": "U1"}),
    )
    .await;
    assert_eq!(answer.status, 404);
    assert_eq!(answer.body["ok"], false);
    assert_eq!(answer.body["error"], "unknown_method");
    let stray = send(reqwest::Client::new().get(format!("{}/nowhere", slack.origin))).await;
    assert_eq!(stray.status, 404);

    let unexpected = slack.unexpected();
    assert_eq!(unexpected.len(), 2);
    assert_eq!(unexpected[0].method, "conversations.kick");
    assert_eq!(unexpected[0].path, "/api/conversations.kick");
    assert_eq!(unexpected[0].param("user").as_deref(), Some("U1"));
    assert_eq!(unexpected[1].method, "/nowhere");
}

#[tokio::test]
async fn form_and_json_bodies_are_both_accepted() {
    let slack = FakeSlack::start(TOKEN).await;
    let blocks = json!([{"type": "section", "text": {"type": "mrkdwn", "text": "from a form"}}]);
    let answer = call_form(
        &slack,
        "chat.postMessage",
        &[
            ("token", TOKEN),
            ("channel", CHANNEL),
            ("text", "from a form"),
            ("blocks", &blocks.to_string()),
            ("thread_ts", "1699999999.000100"),
        ],
    )
    .await;
    assert_eq!(answer.body["ok"], true, "{}", answer.body);
    let json_ts = post(&slack, json!({"channel": CHANNEL, "text": "from JSON"})).await;

    let messages = slack.messages();
    assert_eq!(messages[0].text, "from a form");
    assert_eq!(messages[0].blocks, blocks);
    assert_eq!(messages[0].thread_ts.as_deref(), Some("1699999999.000100"));
    assert_eq!(messages[0].params.get("token"), None);
    assert_eq!(messages[1].text, "from JSON");

    // A form with the token in the header.
    let request = reqwest::Client::new()
        .post(format!("{}chat.update", slack.api_url))
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "channel={CHANNEL}&ts={json_ts}&text=edited+by+form"
        ));
    assert_eq!(send(request).await.body["ok"], true);
    assert_eq!(slack.messages()[1].text, "edited by form");
    let calls = slack.calls();
    assert_eq!(
        calls[0].content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(calls[0].token.as_deref(), Some(TOKEN));
    assert_eq!(calls[0].params["blocks"], blocks);
    assert_eq!(
        calls[1].content_type.as_deref(),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(calls[2].param("text").as_deref(), Some("edited by form"));
    assert_eq!(
        calls[1].body,
        json!({"channel": CHANNEL, "text": "from JSON"}).to_string()
    );

    // A broken JSON body.
    let request = reqwest::Client::new()
        .post(format!("{}chat.postMessage", slack.api_url))
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", "application/json")
        .body("{not json");
    assert_eq!(send(request).await.body["error"], "invalid_json");
    assert_eq!(slack.unexpected().len(), 1);
}

#[tokio::test]
async fn bad_parameters_answer_slacks_errors() {
    let slack = FakeSlack::start(TOKEN).await;
    let cases = [
        (json!({"text": "no channel"}), "channel_not_found"),
        (json!({"channel": CHANNEL}), "no_text"),
        (json!({"channel": CHANNEL, "text": ""}), "no_text"),
        (
            json!({"channel": CHANNEL, "text": "x".repeat(40_001)}),
            "msg_too_long",
        ),
        (
            json!({"channel": CHANNEL, "blocks": vec![json!({"type": "divider"}); 51]}),
            "invalid_blocks",
        ),
        (
            json!({"channel": CHANNEL, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "y".repeat(3001)}}]}),
            "invalid_blocks",
        ),
        (
            json!({"channel": CHANNEL, "blocks": [{"text": "no type"}]}),
            "invalid_blocks",
        ),
    ];
    for (body, error) in &cases {
        let answer = call(&slack, "chat.postMessage", body.clone()).await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.body["error"], *error, "{body}");
    }
    assert!(slack.messages().is_empty());
    assert_eq!(slack.unexpected().len(), cases.len());

    // Blocks alone are enough.
    post(
        &slack,
        json!({"channel": CHANNEL, "blocks": [{"type": "divider"}]}),
    )
    .await;
    assert_eq!(slack.messages()[0].text, "");

    // A closed channel list.
    slack.set_channels(&[CHANNEL]);
    let answer = call(
        &slack,
        "chat.postMessage",
        json!({"channel": "C0GONE", "text": "hi"}),
    )
    .await;
    assert_eq!(answer.body["error"], "channel_not_found");
    post(&slack, json!({"channel": CHANNEL, "text": "still here"})).await;
}

/// A button in an actions block, changed by `extra`.
fn button(action_id: &str, extra: Value) -> Value {
    let mut b = json!({"type": "button", "action_id": action_id, "text": {"type": "plain_text", "text": "Go"}});
    b.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    b
}

fn actions(elements: Vec<Value>) -> Value {
    json!({"channel": CHANNEL, "text": "t", "blocks": [{"type": "actions", "elements": elements}]})
}

#[tokio::test]
async fn buttons_are_checked_against_block_kits_limits() {
    let slack = FakeSlack::start(TOKEN).await;
    let refused = [
        actions(vec![]),
        actions(
            (0..26)
                .map(|i| button(&format!("b{i}"), json!({})))
                .collect(),
        ),
        actions(vec![button(
            "a",
            json!({"text": {"type": "plain_text", "text": "x".repeat(76)}}),
        )]),
        actions(vec![button(
            "a",
            json!({"text": {"type": "mrkdwn", "text": "*Go*"}}),
        )]),
        actions(vec![button(&"a".repeat(256), json!({}))]),
        actions(vec![button("a", json!({"value": "v".repeat(2001)}))]),
        actions(vec![button("a", json!({"style": "default"}))]),
        actions(vec![button("a", json!({})), button("a", json!({}))]),
        json!({"channel": CHANNEL, "blocks": [{"type": "divider", "block_id": "x"}, {"type": "divider", "block_id": "x"}]}),
    ];
    for body in &refused {
        let answer = call(&slack, "chat.postMessage", body.clone()).await;
        assert_eq!(answer.body["error"], "invalid_blocks", "{body}");
        let why = &answer.body["response_metadata"]["messages"][0];
        assert!(
            why.as_str().is_some_and(|w| w.starts_with("[ERROR] ")),
            "{}",
            answer.body
        );
    }
    // At the limits, and an update is checked the same way.
    let most: Vec<Value> = (0..25)
        .map(|i| {
            button(
                &format!("{i}{}", "a".repeat(250)),
                json!({"text": {"type": "plain_text", "text": "é".repeat(75)}, "value": "v".repeat(2000), "style": "primary"}),
            )
        })
        .collect();
    let ts = post(&slack, actions(most)).await;
    let update = call(
        &slack,
        "chat.update",
        json!({"channel": CHANNEL, "ts": ts, "blocks": [{"type": "actions", "elements": [button("a", json!({"style": "danger"})), button("a", json!({}))]}]}),
    )
    .await;
    assert_eq!(update.body["error"], "invalid_blocks");
    assert_eq!(slack.unexpected().len(), refused.len() + 1);
}

#[tokio::test]
async fn a_click_on_a_button_reaches_lucid_signed_as_slack_signs() {
    use lucid::slack::inbound::{SlackRequest, parse_interaction, verify};
    const SECRET: &str = "click-secret";
    let slack = FakeSlack::start(TOKEN).await;
    // Where lucid would listen: checks the signature and reads the click as lucid does.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/webhooks/slack/interactions",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| async move {
                let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_secs() as i64;
                verify(
                    &secrecy::SecretString::from(SECRET),
                    header("x-slack-request-timestamp"),
                    &body,
                    header("x-slack-signature"),
                    now,
                )
                .unwrap();
                tx.send(parse_interaction(&body).unwrap()).unwrap();
                axum::Json(json!({"as": "permission"}))
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let lucid_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let blocks = |value: &str| {
        json!([
            {"type": "section", "text": {"type": "mrkdwn", "text": "*Working*"}},
            {"type": "actions", "elements": [
                button("permission_allow", json!({"value": value, "style": "primary"})),
                button("stop", json!({"value": "s1", "style": "danger"})),
            ]},
        ])
    };
    let thread = "1699999999.000100";
    post(
        &slack,
        json!({"channel": CHANNEL, "text": "old", "thread_ts": thread, "blocks": blocks("s0:1")}),
    )
    .await;
    let latest = post(
        &slack,
        json!({"channel": CHANNEL, "text": "new", "thread_ts": thread, "blocks": blocks("s1:2")}),
    )
    .await;

    let (status, answer) = slack
        .click_button_answered(&lucid_url, SECRET, "U0ADA", "permission_allow")
        .await;
    assert_eq!((status, answer), (200, json!({"as": "permission"})));
    let SlackRequest::Action(click) = rx.recv().await.unwrap() else {
        panic!("not a click");
    };
    assert_eq!(
        (
            click.action_id.as_str(),
            click.value.as_str(),
            click.user.as_str()
        ),
        ("permission_allow", "s1:2", "U0ADA")
    );
    assert_eq!(
        (
            click.channel.as_str(),
            click.message_ts.as_str(),
            click.thread_ts.as_deref()
        ),
        (CHANNEL, latest.as_str(), Some(thread))
    );
    assert_eq!(click.team, slack.identity().team_id);

    // Each click is its own: another trigger_id.
    assert_eq!(
        slack
            .click_button(&lucid_url, SECRET, "U0ADA", "stop")
            .await,
        200
    );
    let SlackRequest::Action(stop) = rx.recv().await.unwrap() else {
        panic!("not a click");
    };
    assert_eq!(
        (stop.action_id.as_str(), stop.value.as_str()),
        ("stop", "s1")
    );
    assert_ne!(stop.trigger_id, click.trigger_id);
    assert!(slack.unexpected().is_empty());
}

#[tokio::test]
async fn ephemeral_messages_and_injected_failures() {
    let slack = FakeSlack::start(TOKEN).await;
    let answer = call(
        &slack,
        "chat.postEphemeral",
        json!({"channel": CHANNEL, "user": "U0ALICE", "text": "You may not run lucid here", "thread_ts": "1699999999.000100"}),
    )
    .await;
    assert_eq!(answer.body["ok"], true);
    let message_ts = answer.body["message_ts"].as_str().unwrap();
    let ephemerals = slack.ephemerals();
    assert_eq!(ephemerals.len(), 1);
    assert_eq!(ephemerals[0].user, "U0ALICE");
    assert_eq!(ephemerals[0].message_ts, message_ts);
    assert_eq!(
        ephemerals[0].thread_ts.as_deref(),
        Some("1699999999.000100")
    );
    assert!(slack.messages().is_empty());

    slack.fail_next("chat.postMessage", "is_archived");
    let message = json!({"channel": CHANNEL, "text": "hi"});
    let answer = call(&slack, "chat.postMessage", message.clone()).await;
    assert_eq!(answer.body, json!({"ok": false, "error": "is_archived"}));
    post(&slack, message).await;
    let calls = slack.calls_to("chat.postMessage");
    assert!(calls[0].injected && !calls[0].unexpected);
    assert!(slack.unexpected().is_empty());
}

#[tokio::test]
async fn auth_test_answers_the_configured_identity_on_get_and_post() {
    let identity = SlackIdentity {
        team_id: "T0BETA".into(),
        team: "Beta".into(),
        user_id: "U0BOT".into(),
        user: "helper".into(),
        bot_id: "B0BOT".into(),
        app_id: "A0BOT".into(),
        url: "https://beta.slack.com/".into(),
    };
    let slack = FakeSlack::start_with(TOKEN, identity).await;
    let get = reqwest::Client::new()
        .get(format!("{}auth.test", slack.api_url))
        .header("authorization", format!("Bearer {TOKEN}"));
    let answer = send(get).await;
    assert_eq!(
        answer.body,
        json!({
            "ok": true, "url": "https://beta.slack.com/", "team": "Beta", "user": "helper",
            "team_id": "T0BETA", "user_id": "U0BOT", "bot_id": "B0BOT",
            "is_enterprise_install": false,
        })
    );
    let answer = call_form(&slack, "auth.test", &[("token", TOKEN)]).await;
    assert_eq!(answer.body["user_id"], "U0BOT");
    assert_eq!(slack.identity().bot_id, "B0BOT");
    let ts = post(&slack, json!({"channel": CHANNEL, "text": "hi"})).await;
    assert_eq!(slack.message(CHANNEL, &ts).unwrap().user, "U0BOT");
}

#[tokio::test]
async fn wait_until_wakes_on_a_call() {
    let slack = FakeSlack::start(TOKEN).await;
    let api_url = slack.api_url.clone();
    tokio::spawn(async move {
        reqwest::Client::new()
            .post(format!("{api_url}chat.postMessage"))
            .header("authorization", format!("Bearer {TOKEN}"))
            .json(&json!({"channel": CHANNEL, "text": "later"}))
            .send()
            .await
            .unwrap();
    });
    let text = slack
        .wait_until("a message", |s| {
            s.messages().first().map(|m| m.text.clone())
        })
        .await;
    assert_eq!(text, "later");
}

/// lucid's own Slack client (slack-morphism underneath) against the fake: every call
/// lucid makes is understood, answered in Slack's shapes, and recorded.
#[tokio::test]
async fn lucids_slack_client_speaks_to_the_fake() {
    use lucid::slack::outbound::{Post, SlackApi};
    let slack = FakeSlack::start(TOKEN).await;
    let api = SlackApi::new(
        &slack.api_url,
        &secrecy::SecretString::from(TOKEN),
        Duration::from_millis(10),
    );
    let me = within("auth.test", api.identity()).await.unwrap();
    assert_eq!(
        (me.team.as_str(), me.user_id.as_str()),
        ("T0001", "U0LUCID")
    );

    let root = within("a post", api.post(CHANNEL, None, &Post::text("root")))
        .await
        .unwrap();
    let reply = within(
        "a reply",
        api.post(CHANNEL, Some(&root), &Post::text("reply")),
    )
    .await
    .unwrap();
    within(
        "an update",
        api.update(CHANNEL, &reply, &Post::text("edited")),
    )
    .await
    .unwrap();
    within("a reaction", api.react(CHANNEL, &root, "eyes"))
        .await
        .unwrap();
    // Reacting twice is fine.
    within("the same reaction", api.react(CHANNEL, &root, "eyes"))
        .await
        .unwrap();
    within(
        "an ephemeral",
        api.ephemeral(CHANNEL, "U0ADA", Some(&root), "psst"),
    )
    .await
    .unwrap();

    let thread = slack.thread(CHANNEL, &root);
    assert_eq!(thread.len(), 2);
    assert_eq!(thread[1].thread_ts.as_deref(), Some(root.as_str()));
    assert_eq!(thread[1].text, "edited");
    assert_eq!(slack.reactions().len(), 1);
    assert_eq!(slack.ephemerals()[0].user, "U0ADA");
    assert!(slack.unexpected().is_empty(), "{:#?}", slack.unexpected());

    // A refusal is an error naming Slack's code, not a retry.
    slack.fail_next("chat.postMessage", "channel_not_found");
    let refused = within("a refused post", api.post(CHANNEL, None, &Post::text("x")))
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("channel_not_found"),
        "{refused}"
    );
}

/// A 429 is waited out (its Retry-After) and the call made again: the message arrives
/// once, late, and nothing is lost.
#[tokio::test]
async fn lucids_slack_client_waits_out_rate_limits() {
    use lucid::slack::outbound::{Post, SlackApi};
    let slack = FakeSlack::start(TOKEN).await;
    let api = SlackApi::new(
        &slack.api_url,
        &secrecy::SecretString::from(TOKEN),
        Duration::from_millis(10),
    );
    slack.rate_limit_next(2, 1);
    let started = std::time::Instant::now();
    within(
        "a rate-limited post",
        api.post(CHANNEL, None, &Post::text("patient")),
    )
    .await
    .unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "Retry-After was not honoured"
    );
    assert_eq!(slack.calls_to("chat.postMessage").len(), 3);
    assert_eq!(slack.messages().len(), 1);
}
