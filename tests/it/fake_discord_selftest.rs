//! The fake Discord checked with plain HTTP / WebSocket and with serenity's own REST
//! and gateway clients (over plain HTTP with the rate limiter off, and as
//! https://discord.com over TLS with it on), so a failing end-to-end test points at
//! lucid, not at the fake.

use crate::fake_discord::{FakeDiscord, PostedVia};
use crate::harness::within;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use serenity::all::{
    ChannelId, Context, CreateAllowedMentions, CreateCommand, CreateCommandOption, CreateMessage,
    CreateThread, EditMessage, EventHandler, GatewayIntents, GuildId, Message, MessageId,
    ReactionType, Ready,
};
use serenity::http::{Http, HttpBuilder};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as WsMessage;

const TOKEN: &str = "MTIwMDAwMDAwMDAwMDAwMDAwMQ.fake.discord-bot-token";
const GUILD: &str = "1100000000000000001";
const CHANNEL: &str = "1100000000000000002";
const ALICE: &str = "1100000000000000003";

async fn started() -> FakeDiscord {
    let fake = FakeDiscord::start(TOKEN).await;
    fake.guild(GUILD, "Acme");
    fake.text_channel(GUILD, CHANNEL, "general");
    fake.person(ALICE, "alice");
    fake
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

async fn request(
    fake: &FakeDiscord,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Answer {
    let mut request = reqwest::Client::new().request(method, format!("{}{path}", fake.api_base));
    if let Some(token) = token {
        request = request.header("authorization", format!("Bot {token}"));
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = within("a call to the fake Discord", request.send())
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    Answer {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
    }
}

async fn get(fake: &FakeDiscord, path: &str) -> Answer {
    request(fake, reqwest::Method::GET, path, Some(TOKEN), None).await
}

async fn send(fake: &FakeDiscord, method: reqwest::Method, path: &str, body: Value) -> Answer {
    request(fake, method, path, Some(TOKEN), Some(body)).await
}

async fn post_message(fake: &FakeDiscord, body: Value) -> Answer {
    send(
        fake,
        reqwest::Method::POST,
        &format!("/channels/{CHANNEL}/messages"),
        body,
    )
    .await
}

/// serenity's REST client pointed at the fake. serenity 0.12.5 honours `proxy` only
/// with its rate limiter disabled: `Ratelimiter::perform` builds every request with no
/// proxy, so with the limiter on, requests go to https://discord.com (for that, see
/// `serenity_http_via_tls`).
fn serenity_http(fake: &FakeDiscord) -> Arc<Http> {
    Arc::new(plain_http(fake))
}

/// The same, not shared: what serenity's gateway client takes.
fn plain_http(fake: &FakeDiscord) -> Http {
    let app: u64 = fake.bot().application_id.parse().unwrap();
    HttpBuilder::new(TOKEN)
        .proxy(&fake.origin)
        .ratelimiter_disabled(true)
        .application_id(app.into())
        .build()
}

/// serenity's REST client as lucid runs it: rate limiter ON, no proxy. Its requests go
/// to `https://discord.com`, which this client resolves to the fake's HTTPS listener and
/// trusts with the fake's certificate.
fn serenity_http_via_tls(fake: &FakeDiscord) -> Http {
    let client = reqwest::Client::builder()
        .resolve("discord.com", fake.tls_addr)
        .add_root_certificate(reqwest::Certificate::from_pem(fake.ca_pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let app: u64 = fake.bot().application_id.parse().unwrap();
    let http = HttpBuilder::new(TOKEN)
        .client(client)
        .application_id(app.into())
        .build();
    assert!(http.ratelimiter.is_some(), "the rate limiter is on");
    http
}

/// What serenity's rate limiter told its callback each time it waited: (timeout, global).
type Waits = Arc<std::sync::Mutex<Vec<(Duration, bool)>>>;

fn watch_waits(http: &mut Http) -> Waits {
    let waits = Waits::default();
    let seen = waits.clone();
    http.ratelimiter
        .as_mut()
        .unwrap()
        .set_ratelimit_callback(Box::new(move |info| {
            seen.lock().unwrap().push((info.timeout, info.global));
        }));
    waits
}

fn top_level_keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/data/discord/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

#[tokio::test]
async fn discovery_and_the_bot_token() {
    let fake = started().await;
    let gateway = get(&fake, "/gateway").await;
    assert_eq!(gateway.status, 200);
    assert_eq!(gateway.body["url"], fake.gateway_url);
    let bot = get(&fake, "/gateway/bot?v=10").await;
    assert_eq!(bot.body["shards"], 1);
    assert_eq!(bot.body["session_start_limit"]["max_concurrency"], 1);
    let me = get(&fake, "/users/@me").await;
    assert_eq!(me.body["id"], fake.bot().user_id);
    assert_eq!(me.body["bot"], true);
    assert_eq!(me.body["discriminator"], "0");
    assert!(me.headers.contains_key("x-ratelimit-bucket"));
    assert!(fake.unexpected().is_empty(), "{:?}", fake.unexpected());

    let wrong = request(
        &fake,
        reqwest::Method::GET,
        "/users/@me",
        Some("nope"),
        None,
    )
    .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(
        wrong.body,
        json!({"message": "401: Unauthorized", "code": 0})
    );
    let missing = request(&fake, reqwest::Method::GET, "/users/@me", None, None).await;
    assert_eq!(missing.status, 401);
    let unknown = get(&fake, "/guilds/1/bans").await;
    assert_eq!(unknown.status, 404);
    assert_eq!(fake.unexpected().len(), 3, "{:?}", fake.unexpected());
}

#[tokio::test]
async fn messages_are_checked_against_discords_limits() {
    let fake = started().await;
    // 2000 characters is the limit, counted in characters, not bytes.
    let ok = post_message(
        &fake,
        json!({"content": "é".repeat(2000), "allowed_mentions": {"parse": []}}),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    for key in [
        "id",
        "channel_id",
        "author",
        "content",
        "embeds",
        "components",
        "timestamp",
        "edited_timestamp",
        "type",
        "mentions",
        "mention_roles",
        "attachments",
        "tts",
        "mention_everyone",
        "pinned",
        "flags",
        "guild_id",
    ] {
        assert!(
            ok.body.get(key).is_some(),
            "message lacks {key}: {}",
            ok.body
        );
    }
    assert_eq!(ok.body["author"]["id"], fake.bot().user_id);
    assert_eq!(ok.body["type"], 0);
    assert!(ok.headers.contains_key("x-ratelimit-remaining"));

    let long = post_message(&fake, json!({"content": "x".repeat(2001)})).await;
    assert_eq!(long.status, 400);
    assert_eq!(long.body["code"], 50035);
    assert_eq!(long.body["message"], "Invalid Form Body");
    assert_eq!(
        long.body["errors"]["content"]["_errors"][0]["code"],
        "BASE_TYPE_MAX_LENGTH"
    );

    let empty = post_message(&fake, json!({"content": ""})).await;
    assert_eq!(
        (empty.status, empty.body["code"].clone()),
        (400, json!(50006))
    );
    assert_eq!(empty.body["message"], "Cannot send an empty message");

    let embeds: Vec<Value> = (0..11).map(|i| json!({"title": format!("e{i}")})).collect();
    let many = post_message(&fake, json!({"embeds": embeds})).await;
    assert_eq!(many.body["code"], 50035);
    let big: Vec<Value> = (0..2)
        .map(|_| json!({"description": "d".repeat(3001)}))
        .collect();
    let too_big = post_message(&fake, json!({"embeds": big})).await;
    assert_eq!(
        too_big.body["errors"]["embeds"]["_errors"][0]["code"],
        "MAX_EMBED_SIZE_EXCEEDED"
    );

    let button = |style: u64, extra: Value| {
        let mut b = json!({"type": 2, "style": style, "label": "Go"});
        b.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        b
    };
    let no_id = post_message(
        &fake,
        json!({"content": "c", "components": [{"type": 1, "components": [button(1, json!({}))]}]}),
    )
    .await;
    assert_eq!(no_id.body["code"], 50035, "{}", no_id.body);
    let six: Vec<Value> = (0..6)
        .map(|i| button(2, json!({"custom_id": format!("b{i}")})))
        .collect();
    let too_many = post_message(
        &fake,
        json!({"content": "c", "components": [{"type": 1, "components": six}]}),
    )
    .await;
    assert_eq!(too_many.body["code"], 50035);
    let fine = post_message(
        &fake,
        json!({"content": "c", "components": [{"type": 1, "components": [
            button(1, json!({"custom_id": "stop:1"})),
            button(5, json!({"url": "https://example.com/run/1"})),
        ]}]}),
    )
    .await;
    assert_eq!(fine.status, 200, "{}", fine.body);
    // Two components of a message may not share a custom_id.
    let twice = post_message(
        &fake,
        json!({"content": "c", "components": [{"type": 1, "components": [
            button(3, json!({"custom_id": "allow:1:2"})),
            button(4, json!({"custom_id": "allow:1:2"})),
        ]}]}),
    )
    .await;
    assert_eq!(twice.body["code"], 50035, "{}", twice.body);
    assert_eq!(
        twice.body["errors"]["components"]["0"]["components"]["1"]["custom_id"]["_errors"][0]["code"],
        "COMPONENT_CUSTOM_ID_DUPLICATED",
        "{}",
        twice.body
    );

    let nowhere = send(
        &fake,
        reqwest::Method::POST,
        "/channels/42/messages",
        json!({"content": "hi"}),
    )
    .await;
    assert_eq!(
        (nowhere.status, nowhere.body.clone()),
        (404, json!({"code": 10003, "message": "Unknown Channel"}))
    );

    // The record keeps the body as sent.
    let first = &fake.messages()[0];
    assert_eq!(first.allowed_mentions, Some(json!({"parse": []})));
    assert_eq!(first.via, PostedVia::BotToken);
    assert_eq!(fake.unexpected().len(), 8, "{:#?}", fake.unexpected());
}

#[tokio::test]
async fn edits_history_threads_and_reactions() {
    let fake = started().await;
    let theirs = fake.post_as(ALICE, CHANNEL, "<@1200000000000000001> fix the build");
    let mine = post_message(
        &fake,
        json!({"content": "on it", "message_reference": {"message_id": theirs}}),
    )
    .await;
    assert_eq!(mine.body["type"], 19);
    let mine = mine.body["id"].as_str().unwrap().to_owned();

    let edit = send(
        &fake,
        reqwest::Method::PATCH,
        &format!("/channels/{CHANNEL}/messages/{mine}"),
        json!({"content": "done"}),
    )
    .await;
    assert_eq!(edit.status, 200);
    assert!(edit.body["edited_timestamp"].is_string());
    assert_eq!(fake.message(&mine).unwrap().edit_count(), 1);
    let other = send(
        &fake,
        reqwest::Method::PATCH,
        &format!("/channels/{CHANNEL}/messages/{theirs}"),
        json!({"content": "x"}),
    )
    .await;
    assert_eq!(
        (other.status, other.body["code"].clone()),
        (403, json!(50005))
    );
    let unknown = send(
        &fake,
        reqwest::Method::PATCH,
        &format!("/channels/{CHANNEL}/messages/77"),
        json!({"content": "x"}),
    )
    .await;
    assert_eq!(
        (unknown.status, unknown.body["code"].clone()),
        (404, json!(10008))
    );

    // History: newest first; before/after/limit.
    let third = fake.post_as(ALICE, CHANNEL, "third");
    let all = get(&fake, &format!("/channels/{CHANNEL}/messages")).await;
    let ids: Vec<&str> = all
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![third.as_str(), mine.as_str(), theirs.as_str()]);
    // Without MESSAGE_CONTENT only the mention and the bot's own keep their content.
    assert_eq!(all.body[0]["content"], "");
    assert_eq!(all.body[1]["content"], "done");
    assert_eq!(all.body[2]["mentions"][0]["id"], fake.bot().user_id);
    let after = get(
        &fake,
        &format!("/channels/{CHANNEL}/messages?after={theirs}&limit=1"),
    )
    .await;
    assert_eq!(after.body.as_array().unwrap().len(), 1);
    assert_eq!(after.body[0]["id"], mine);
    let before = get(
        &fake,
        &format!("/channels/{CHANNEL}/messages?before={third}"),
    )
    .await;
    assert_eq!(before.body[0]["id"], mine);
    let bad = get(&fake, &format!("/channels/{CHANNEL}/messages?limit=101")).await;
    assert_eq!(bad.body["code"], 50035);

    // A thread from a message has the message's id.
    let path = format!("/channels/{CHANNEL}/messages/{theirs}/threads");
    let thread = send(
        &fake,
        reqwest::Method::POST,
        &path,
        json!({"name": "fix the build", "auto_archive_duration": 1440}),
    )
    .await;
    assert!(
        thread.status == 201 || thread.status == 200,
        "{}",
        thread.body
    );
    assert_eq!(thread.body["id"], theirs);
    assert_eq!(thread.body["type"], 11);
    assert_eq!(thread.body["parent_id"], CHANNEL);
    assert_eq!(fake.thread_of(&theirs).unwrap().name, "fix the build");
    let twice = send(
        &fake,
        reqwest::Method::POST,
        &path,
        json!({"name": "again"}),
    )
    .await;
    assert_eq!(
        (twice.status, twice.body["code"].clone()),
        (400, json!(160004))
    );
    let long_name = send(
        &fake,
        reqwest::Method::POST,
        &format!("/channels/{CHANNEL}/messages/{mine}/threads"),
        json!({"name": "n".repeat(101)}),
    )
    .await;
    assert_eq!(long_name.body["code"], 50035);
    let bad_archive = send(
        &fake,
        reqwest::Method::POST,
        &format!("/channels/{CHANNEL}/messages/{mine}/threads"),
        json!({"name": "n", "auto_archive_duration": 30}),
    )
    .await;
    assert_eq!(bad_archive.body["code"], 50035);
    let in_thread = fake.post_as(ALICE, &theirs, "in the thread");
    let nested = send(
        &fake,
        reqwest::Method::POST,
        &format!("/channels/{theirs}/messages/{in_thread}/threads"),
        json!({"name": "n"}),
    )
    .await;
    assert_eq!(
        (nested.status, nested.body["code"].clone()),
        (400, json!(50024))
    );
    let channel = get(&fake, &format!("/channels/{theirs}")).await;
    assert_eq!(channel.body["type"], 11);
    assert_eq!(channel.body["guild_id"], GUILD);
    assert_eq!(
        channel.body["thread_metadata"]["auto_archive_duration"],
        1440
    );
    assert_eq!(
        get(&fake, &format!("/channels/{CHANNEL}")).await.body["name"],
        "general"
    );

    // Reactions: unicode, URL-encoded.
    let eyes = "%F0%9F%91%80";
    let react = request(
        &fake,
        reqwest::Method::PUT,
        &format!("/channels/{CHANNEL}/messages/{theirs}/reactions/{eyes}/@me"),
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(react.status, 204);
    assert_eq!(fake.reactions()[0].emoji, "👀");
    let bogus = request(
        &fake,
        reqwest::Method::PUT,
        &format!("/channels/{CHANNEL}/messages/{theirs}/reactions/eyes/@me"),
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(bogus.body["code"], 10014);
}

#[tokio::test]
async fn guild_commands_are_validated_and_replaced() {
    let fake = started().await;
    let app = fake.bot().application_id.clone();
    let path = format!("/applications/{app}/guilds/{GUILD}/commands");
    let lucid = json!({"name": "lucid", "description": "Start a session", "options": [
        {"type": 3, "name": "task", "description": "What to do", "required": true, "max_length": 6000},
        {"type": 3, "name": "repo", "description": "owner/name"},
    ]});
    let first = send(&fake, reqwest::Method::PUT, &path, json!([lucid])).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let id = first.body[0]["id"].clone();
    assert_eq!(first.body[0]["application_id"], app);
    assert_eq!(first.body[0]["guild_id"], GUILD);
    assert!(first.body[0]["version"].is_string());
    let second = send(
        &fake,
        reqwest::Method::PUT,
        &path,
        json!([lucid, {"name": "status", "description": "Sessions"}]),
    )
    .await;
    assert_eq!(second.body[0]["id"], id);
    assert_eq!(fake.commands(GUILD).len(), 2);
    let listed = get(&fake, &path).await;
    assert_eq!(listed.body.as_array().unwrap().len(), 2);

    for bad in [
        json!([{"name": "Lucid", "description": "d"}]),
        json!([{"name": "lucid", "description": "d".repeat(101)}]),
        json!([{"name": "lucid", "description": ""}]),
        json!([{"name": "has space", "description": "d"}]),
        json!([{"name": "lucid", "description": "d", "options": [
            {"type": 3, "name": "a", "description": "d"},
            {"type": 3, "name": "b", "description": "d", "required": true},
        ]}]),
        json!([{"name": "lucid", "description": "d", "options": [{"type": 3, "name": "a", "description": "d", "max_length": 6001}]}]),
        json!([{"name": "lucid", "description": "d", "options": [{"type": 12, "name": "a", "description": "d"}]}]),
        json!([{"name": "lucid", "description": "d", "options": (0..26).map(|i| json!({"type": 3, "name": format!("o{i}"), "description": "d"})).collect::<Vec<_>>()}]),
    ] {
        let answer = send(&fake, reqwest::Method::PUT, &path, bad.clone()).await;
        assert_eq!(
            (answer.status, answer.body["code"].clone()),
            (400, json!(50035)),
            "{bad} -> {}",
            answer.body
        );
    }
    assert_eq!(fake.commands(GUILD).len(), 2, "refusals change nothing");
    let wrong_app = send(
        &fake,
        reqwest::Method::PUT,
        &format!("/applications/1/guilds/{GUILD}/commands"),
        json!([]),
    )
    .await;
    assert_eq!(wrong_app.status, 403);
}

#[tokio::test]
async fn serenity_http_posts_edits_threads_reacts_and_registers_commands() {
    let fake = started().await;
    let http = serenity_http(&fake);
    let me = http.get_current_user().await.unwrap();
    assert_eq!(me.id.to_string(), fake.bot().user_id);
    let channel = ChannelId::new(CHANNEL.parse().unwrap());

    let sent = channel
        .send_message(
            &http,
            CreateMessage::new()
                .content("Working on it")
                .allowed_mentions(CreateAllowedMentions::new()),
        )
        .await
        .unwrap();
    let recorded = fake.message(&sent.id.to_string()).unwrap();
    assert_eq!(recorded.content, "Working on it");
    assert_eq!(recorded.allowed_mentions.unwrap()["parse"], json!([]));
    let edited = channel
        .edit_message(&http, sent.id, EditMessage::new().content("Done"))
        .await
        .unwrap();
    assert_eq!(edited.content, "Done");
    assert!(edited.edited_timestamp.is_some());

    let thread = channel
        .create_thread_from_message(&http, sent.id, CreateThread::new("the run"))
        .await
        .unwrap();
    assert_eq!(thread.id.get(), sent.id.get());
    assert_eq!(thread.parent_id, Some(channel));
    let in_thread = thread
        .id
        .send_message(&http, CreateMessage::new().content("step 1"))
        .await
        .unwrap();
    assert_eq!(
        fake.channel_messages(&thread.id.to_string())[0].id,
        in_thread.id.to_string()
    );
    let fetched = http.get_channel(thread.id).await.unwrap();
    assert!(fetched.guild().is_some());

    channel
        .create_reaction(&http, sent.id, ReactionType::Unicode("👀".into()))
        .await
        .unwrap();
    assert_eq!(fake.reactions()[0].emoji, "👀");

    let commands = GuildId::new(GUILD.parse().unwrap())
        .set_commands(
            &http,
            vec![
                CreateCommand::new("lucid")
                    .description("Start a session")
                    .add_option(
                        CreateCommandOption::new(
                            serenity::all::CommandOptionType::String,
                            "task",
                            "What to do",
                        )
                        .required(true)
                        .max_length(6000),
                    ),
            ],
        )
        .await
        .unwrap();
    assert_eq!(commands[0].name, "lucid");
    let history = channel
        .messages(&http, serenity::all::GetMessages::new().limit(10))
        .await
        .unwrap();
    assert_eq!(history[0].id, sent.id);
    assert!(fake.unexpected().is_empty(), "{:#?}", fake.unexpected());

    // Refusals reach serenity as Discord's errors (raw bodies: serenity's builders would
    // refuse some of these themselves).
    let refused = |e: serenity::Error| match e {
        serenity::Error::Http(serenity::http::HttpError::UnsuccessfulRequest(r)) => {
            (r.status_code.as_u16(), r.error.code, r.error.errors)
        }
        other => panic!("not a Discord refusal: {other:?}"),
    };
    let (status, code, errors) = refused(
        http.send_message(channel, vec![], &json!({"content": "x".repeat(2001)}))
            .await
            .unwrap_err(),
    );
    assert_eq!((status, code), (400, 50035));
    assert_eq!(errors[0].path, "content");
    assert_eq!(errors[0].code, "BASE_TYPE_MAX_LENGTH");
    let (_, code, _) = refused(
        http.send_message(channel, vec![], &json!({}))
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 50006);
    let (_, code, _) = refused(
        channel
            .create_thread_from_message(&http, sent.id, CreateThread::new("again"))
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 160004);
    let theirs: u64 = fake.post_as(ALICE, CHANNEL, "mine").parse().unwrap();
    let (status, code, _) = refused(
        channel
            .edit_message(
                &http,
                MessageId::new(theirs),
                EditMessage::new().content("no"),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!((status, code), (403, 50005));
}

#[tokio::test]
async fn serenity_waits_out_a_429_and_ignoring_retry_after_is_flagged() {
    let fake = started().await;
    let http = serenity_http(&fake);
    let channel = ChannelId::new(CHANNEL.parse().unwrap());
    // Without its rate limiter (see `serenity_http`) serenity surfaces the 429 as
    // Discord's error; waiting it out is the caller's business.
    for global in [false, true] {
        fake.rate_limit_next(1, Duration::from_millis(300), global);
        let err = channel.say(&http, "limited").await.unwrap_err();
        match err {
            serenity::Error::Http(serenity::http::HttpError::UnsuccessfulRequest(r)) => {
                assert_eq!(r.status_code.as_u16(), 429);
            }
            other => panic!("{other:?}"),
        }
        let retry_after = fake.calls().last().unwrap().response["retry_after"]
            .as_f64()
            .unwrap();
        tokio::time::sleep(Duration::from_secs_f64(retry_after)).await;
        let sent = channel
            .say(&http, format!("after a 429 (global: {global})"))
            .await
            .unwrap();
        assert!(fake.message(&sent.id.to_string()).is_some());
    }
    let posts = fake.calls_to("POST", "/channels/*/messages");
    let statuses: Vec<u16> = posts.iter().map(|c| c.status).collect();
    assert_eq!(statuses, vec![429, 200, 429, 200]);
    assert_eq!(posts[0].response["retry_after"], 0.3);
    assert_eq!(posts[2].response["global"], true);
    assert!(fake.unexpected().is_empty(), "{:#?}", fake.unexpected());

    // A client that comes straight back is told again, and flagged.
    fake.rate_limit_next(1, Duration::from_secs(5), false);
    let limited = post_message(&fake, json!({"content": "one"})).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.headers["retry-after"], "5");
    assert_eq!(limited.headers["x-ratelimit-scope"], "user");
    assert_eq!(limited.body["message"], "You are being rate limited.");
    let again = post_message(&fake, json!({"content": "two"})).await;
    assert_eq!(again.status, 429);
    assert_eq!(fake.unexpected().len(), 1, "{:#?}", fake.unexpected());

    // A bucket storm: the third request inside the window is refused.
    let other = started().await;
    other.enforce_bucket(2, Duration::from_secs(30));
    let path = format!("/channels/{CHANNEL}/messages");
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(
            send(
                &other,
                reqwest::Method::POST,
                &path,
                json!({"content": "x"}),
            )
            .await
            .status,
        );
    }
    assert_eq!(statuses, vec![200, 200, 429]);
}

#[tokio::test]
async fn serenity_with_its_rate_limiter_posts_and_edits_over_tls() {
    let fake = started().await;
    let http = serenity_http_via_tls(&fake);
    let channel = ChannelId::new(CHANNEL.parse().unwrap());

    let me = within("GET /users/@me over TLS", http.get_current_user())
        .await
        .unwrap();
    assert_eq!(me.id.to_string(), fake.bot().user_id);
    let sent = within("a message over TLS", channel.say(&http, "over TLS"))
        .await
        .unwrap();
    let edited = within(
        "an edit over TLS",
        channel.edit_message(
            &http,
            sent.id,
            EditMessage::new().content("edited over TLS"),
        ),
    )
    .await
    .unwrap();
    assert_eq!(edited.content, "edited over TLS");

    let recorded = fake.message(&sent.id.to_string()).unwrap();
    assert_eq!(recorded.content, "edited over TLS");
    assert_eq!(recorded.edits.len(), 1);
    assert_eq!(recorded.via, PostedVia::BotToken);
    assert_eq!(fake.calls_to("POST", "/channels/*/messages").len(), 1);
    assert_eq!(fake.calls_to("PATCH", "/channels/*/messages/*").len(), 1);
    assert!(fake.unexpected().is_empty(), "{:#?}", fake.unexpected());

    // The limiter read the bucket headers of the answer (X-RateLimit-Limit, -Remaining,
    // -Reset-After) into its route's bucket.
    let route = serenity::http::Route::ChannelMessages {
        channel_id: channel,
    };
    let routes = http.ratelimiter.as_ref().unwrap().routes();
    let bucket = routes.read().await[&route.ratelimiting_bucket()].clone();
    let bucket = bucket.lock().await;
    assert_eq!((bucket.limit(), bucket.remaining()), (50, 49));
    assert!(bucket.reset_after().unwrap() <= Duration::from_secs(1));

    // The plain HTTP origin serves the same records.
    let history = get(&fake, &format!("/channels/{CHANNEL}/messages")).await;
    assert_eq!(history.body[0]["content"], "edited over TLS");
}

/// Sends through serenity's limiter while the fake answers the next two writes 429, and
/// checks serenity waited both out (the `Retry-After` header: whole seconds, so 1 s each
/// for a 0.3 s retry_after) and posted exactly once.
async fn serenity_waits_out_two_429s(global: bool) {
    let fake = started().await;
    let mut http = serenity_http_via_tls(&fake);
    let waits = watch_waits(&mut http);
    let channel = ChannelId::new(CHANNEL.parse().unwrap());

    fake.rate_limit_next(2, Duration::from_millis(300), global);
    let started = std::time::Instant::now();
    let sent = within(
        "a message through two 429s",
        channel.say(&http, format!("through two 429s (global: {global})")),
    )
    .await
    .unwrap();
    let elapsed = started.elapsed();

    let posts = fake.calls_to("POST", "/channels/*/messages");
    let statuses: Vec<u16> = posts.iter().map(|c| c.status).collect();
    assert_eq!(statuses, vec![429, 429, 200]);
    for limited in &posts[..2] {
        assert_eq!(limited.response["retry_after"], 0.3);
        assert_eq!(limited.response["global"], global);
        assert!(limited.unexpected.is_none(), "{limited:?}");
    }
    // Each retry came after the 300 ms it was told (no request during a live retry_after).
    assert!(posts[1].at - posts[0].at >= Duration::from_millis(300));
    assert!(posts[2].at - posts[1].at >= Duration::from_millis(300));
    assert_eq!(
        *waits.lock().unwrap(),
        vec![(Duration::from_secs(1), global); 2],
        "serenity slept for the Retry-After header, whole seconds"
    );
    assert!(elapsed >= Duration::from_secs(2), "{elapsed:?}");

    let content = format!("through two 429s (global: {global})");
    let recorded: Vec<_> = fake
        .messages()
        .into_iter()
        .filter(|m| m.content == content)
        .collect();
    assert_eq!(recorded.len(), 1, "posted exactly once");
    assert_eq!(recorded[0].id, sent.id.to_string());
    assert!(fake.unexpected().is_empty(), "{:#?}", fake.unexpected());
}

#[tokio::test]
async fn serenity_rate_limiter_waits_out_route_429s_over_tls() {
    serenity_waits_out_two_429s(false).await;
}

#[tokio::test]
async fn serenity_rate_limiter_waits_out_global_429s_over_tls() {
    serenity_waits_out_two_429s(true).await;
}

#[derive(Debug)]
enum Seen {
    Ready(String),
    Message(String, String),
}

struct Handler(mpsc::UnboundedSender<Seen>);

#[serenity::async_trait]
impl EventHandler for Handler {
    async fn ready(&self, _: Context, ready: Ready) {
        let _ = self.0.send(Seen::Ready(ready.session_id));
    }

    async fn message(&self, _: Context, msg: Message) {
        let _ = self.0.send(Seen::Message(msg.id.to_string(), msg.content));
    }
}

async fn next_message(rx: &mut mpsc::UnboundedReceiver<Seen>) -> (String, String) {
    loop {
        match within("a message event", rx.recv()).await.unwrap() {
            Seen::Message(id, content) => return (id, content),
            Seen::Ready(_) => {}
        }
    }
}

/// serenity's gateway client on `http`, started: what it sees comes on the receiver.
async fn gateway_client(
    http: Http,
) -> (
    mpsc::UnboundedReceiver<Seen>,
    Arc<serenity::all::ShardManager>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let mut client = serenity::all::ClientBuilder::new_with_http(
        http,
        GatewayIntents::GUILDS | GatewayIntents::GUILD_MESSAGES,
    )
    .event_handler(Handler(tx))
    .await
    .unwrap();
    let shards = client.shard_manager.clone();
    tokio::spawn(async move { client.start().await });
    (rx, shards)
}

#[tokio::test]
async fn serenity_gateway_gets_mentions_and_resumes_after_a_drop() {
    let fake = started().await;
    let http = plain_http(&fake);
    let (mut rx, shards) = gateway_client(http).await;

    match within("READY", rx.recv()).await.unwrap() {
        Seen::Ready(session) => assert_eq!(session, fake.gateway_sessions()[0].session_id),
        other => panic!("{other:?}"),
    }
    let session = fake.gateway_sessions()[0].clone();
    assert_eq!(session.intents, (1 << 0) | (1 << 9));
    assert_eq!(session.dispatches[1].1, "GUILD_CREATE");

    let mention = fake.post_as(ALICE, CHANNEL, "<@1200000000000000001> fix the build");
    assert_eq!(
        next_message(&mut rx).await,
        (mention, "<@1200000000000000001> fix the build".into())
    );
    // No MESSAGE_CONTENT intent: a message that does not mention the bot comes blank.
    let plain = fake.post_as(ALICE, CHANNEL, "lunch?");
    assert_eq!(next_message(&mut rx).await, (plain, String::new()));

    fake.drop_gateway();
    let missed = fake.post_as(ALICE, CHANNEL, "<@1200000000000000001> while you were away");
    fake.wait_until("a RESUME", |f| (f.resume_count() == 1).then_some(()))
        .await;
    assert_eq!(
        next_message(&mut rx).await,
        (
            missed.clone(),
            "<@1200000000000000001> while you were away".into()
        )
    );
    let after = fake.post_as(ALICE, CHANNEL, "<@1200000000000000001> and now");
    assert_eq!(
        next_message(&mut rx).await.0,
        after,
        "the missed message came exactly once"
    );
    assert_eq!(fake.identify_count(), 1);
    let session = &fake.gateway_sessions()[0];
    assert!(session.dispatches.iter().any(|(_, t, _)| t == "RESUMED"));
    let seqs: Vec<u64> = session.dispatches.iter().map(|(s, _, _)| *s).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
    assert!(fake.unexpected().is_empty(), "{:#?}", fake.unexpected());
    shards.shutdown_all().await;
}

#[tokio::test]
async fn keeping_little_drops_the_copies_but_resume_still_replays() {
    let fake = started().await;
    fake.keep_little();
    let http = || plain_http(&fake);
    let (mut rx, shards) = gateway_client(http()).await;
    assert!(matches!(
        within("READY", rx.recv()).await.unwrap(),
        Seen::Ready(_)
    ));

    fake.drop_gateway();
    let missed = fake.post_as(ALICE, CHANNEL, "<@1200000000000000001> while you were away");
    fake.wait_until("a RESUME", |f| (f.resume_count() == 1).then_some(()))
        .await;
    assert_eq!(next_message(&mut rx).await.0, missed);
    http()
        .send_message(
            ChannelId::new(CHANNEL.parse().unwrap()),
            vec![],
            &serde_json::json!({"content": "hello", "allowed_mentions": {"parse": []}}),
        )
        .await
        .unwrap();
    // What was sent is kept only as the frames a RESUME replays.
    assert!(fake.gateway_sessions()[0].dispatches.is_empty());
    assert!(fake.gateway_frames().iter().all(|f| f.from_client));
    let posted = fake.calls_to("POST", "channels/*/messages");
    assert_eq!(posted.len(), 1);
    assert_eq!((posted[0].status, &posted[0].body), (200, &Value::Null));
    assert!(fake.unexpected().is_empty(), "{:#?}", fake.unexpected());
    shards.shutdown_all().await;
}

#[tokio::test]
async fn serenity_client_with_its_rate_limiter_finds_the_gateway_over_tls() {
    let fake = started().await;
    let http = serenity_http_via_tls(&fake);
    let (mut rx, shards) = gateway_client(http).await;

    match within("READY", rx.recv()).await.unwrap() {
        Seen::Ready(session) => assert_eq!(session, fake.gateway_sessions()[0].session_id),
        other => panic!("{other:?}"),
    }
    // The gateway URL (`Client::start` asks `GET /gateway`) came through the HTTPS
    // listener, and is the plain ws:// one; `/gateway/bot` answers the same.
    let discovery = fake.calls_to("GET", "/gateway");
    assert_eq!(discovery.len(), 1, "{:#?}", fake.calls());
    assert_eq!(discovery[0].response["url"], fake.gateway_url.as_str());
    assert!(fake.gateway_url.starts_with("ws://127.0.0.1:"));
    let bot_gateway = within(
        "GET /gateway/bot over TLS",
        serenity_http_via_tls(&fake).get_bot_gateway(),
    )
    .await
    .unwrap();
    assert_eq!(bot_gateway.url, fake.gateway_url);

    let mention = fake.post_as(ALICE, CHANNEL, "<@1200000000000000001> over TLS");
    assert_eq!(
        next_message(&mut rx).await,
        (mention, "<@1200000000000000001> over TLS".into())
    );
    assert!(fake.unexpected().is_empty(), "{:#?}", fake.unexpected());
    shards.shutdown_all().await;
}

/// A raw gateway connection: HELLO read, then frames sent and read by hand.
async fn raw_gateway(
    fake: &FakeDiscord,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let (mut ws, _) = within(
        "a gateway connection",
        tokio_tungstenite::connect_async(format!("{}/?v=10&encoding=json", fake.gateway_url)),
    )
    .await
    .unwrap();
    let hello = read_frame(&mut ws).await;
    assert_eq!(hello["op"], 10);
    assert_eq!(hello["d"]["heartbeat_interval"], 41250);
    ws
}

async fn read_frame(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> Value {
    match within("a gateway frame", ws.next()).await {
        Some(Ok(WsMessage::Text(text))) => serde_json::from_str(&text).unwrap(),
        Some(Ok(WsMessage::Close(Some(frame)))) => json!({"close": u16::from(frame.code)}),
        other => panic!("unexpected {other:?}"),
    }
}

fn identify(token: &str, intents: u64) -> WsMessage {
    WsMessage::Text(json!({"op": 2, "d": {"token": token, "intents": intents, "properties": {"os": "linux", "browser": "test", "device": "test"}}}).to_string())
}

#[tokio::test]
async fn raw_gateway_protocol_and_its_refusals() {
    let fake = started().await;
    let mut ws = raw_gateway(&fake).await;
    ws.send(identify(TOKEN, 1 | (1 << 9))).await.unwrap();
    let ready = read_frame(&mut ws).await;
    assert_eq!(
        (ready["t"].as_str(), ready["s"].as_u64()),
        (Some("READY"), Some(1))
    );
    assert_eq!(ready["d"]["v"], 10);
    assert_eq!(ready["d"]["resume_gateway_url"], fake.gateway_url);
    assert_eq!(
        ready["d"]["guilds"][0],
        json!({"id": GUILD, "unavailable": true})
    );
    let ready_keys = top_level_keys(&ready["d"]);
    let fixture_keys = top_level_keys(&fixture("gateway.ready.json")["d"]);
    assert!(
        fixture_keys.is_subset(
            &ready_keys
                .iter()
                .cloned()
                .chain(["shard".to_owned()])
                .collect()
        ),
        "{fixture_keys:?} vs {ready_keys:?}"
    );
    let guild = read_frame(&mut ws).await;
    assert_eq!(guild["t"], "GUILD_CREATE");
    assert_eq!(guild["d"]["channels"][0]["id"], CHANNEL);
    // serenity can read the guild.
    serde_json::from_value::<serenity::all::Guild>(guild["d"].clone()).unwrap();
    ws.send(WsMessage::Text(json!({"op": 1, "d": 2}).to_string()))
        .await
        .unwrap();
    assert_eq!(read_frame(&mut ws).await["op"], 11);

    let id = fake.post_as(
        ALICE,
        CHANNEL,
        "<@1200000000000000001> hi <@1100000000000000003>",
    );
    let created = read_frame(&mut ws).await;
    assert_eq!(created["t"], "MESSAGE_CREATE");
    assert_eq!(created["s"], 3);
    assert_eq!(created["d"]["id"], id);
    let fixture_keys = top_level_keys(&fixture("gateway.message_create.mention.d.json"));
    assert_eq!(top_level_keys(&created["d"]), fixture_keys);
    assert_eq!(created["d"]["mentions"].as_array().unwrap().len(), 2);
    serde_json::from_value::<Message>(created["d"].clone()).unwrap();

    // The session survives the connection: RESUME replays what was missed.
    let session = ready["d"]["session_id"].as_str().unwrap().to_owned();
    drop(ws);
    fake.wait_until("the connection to close", |f| {
        (f.gateway_connections() == 0).then_some(())
    })
    .await;
    let missed = fake.post_as(ALICE, CHANNEL, "<@1200000000000000001> missed");
    let mut ws = raw_gateway(&fake).await;
    ws.send(WsMessage::Text(
        json!({"op": 6, "d": {"token": format!("Bot {TOKEN}"), "session_id": session, "seq": 3}})
            .to_string(),
    ))
    .await
    .unwrap();
    let replayed = read_frame(&mut ws).await;
    assert_eq!(
        (replayed["s"].as_u64(), replayed["d"]["id"].as_str()),
        (Some(4), Some(missed.as_str()))
    );
    let resumed = read_frame(&mut ws).await;
    assert_eq!(
        (resumed["t"].as_str(), resumed["s"].as_u64()),
        (Some("RESUMED"), Some(5))
    );
    fake.invalidate_session(false);
    assert_eq!(
        read_frame(&mut ws).await,
        json!({"op": 9, "d": false, "s": null, "t": null})
    );
    let mut ws = raw_gateway(&fake).await;
    ws.send(WsMessage::Text(
        json!({"op": 6, "d": {"token": TOKEN, "session_id": session, "seq": 5}}).to_string(),
    ))
    .await
    .unwrap();
    assert_eq!(read_frame(&mut ws).await["op"], 9);

    // Refusals close with Discord's codes.
    let mut ws = raw_gateway(&fake).await;
    ws.send(identify("wrong", 1)).await.unwrap();
    assert_eq!(read_frame(&mut ws).await, json!({"close": 4004}));
    let mut ws = raw_gateway(&fake).await;
    ws.send(identify(TOKEN, 1 | (1 << 15))).await.unwrap();
    assert_eq!(read_frame(&mut ws).await, json!({"close": 4014}));
    let mut ws = raw_gateway(&fake).await;
    ws.send(identify(TOKEN, 1 << 30)).await.unwrap();
    assert_eq!(read_frame(&mut ws).await, json!({"close": 4013}));
    let mut ws = raw_gateway(&fake).await;
    ws.send(WsMessage::Text(json!({"op": 3, "d": {}}).to_string()))
        .await
        .unwrap();
    assert_eq!(read_frame(&mut ws).await, json!({"close": 4003}));

    // With MESSAGE_CONTENT allowed and asked for, every message has its content.
    fake.allow_message_content(true);
    let mut ws = raw_gateway(&fake).await;
    ws.send(identify(TOKEN, (1 << 9) | (1 << 15)))
        .await
        .unwrap();
    assert_eq!(read_frame(&mut ws).await["t"], "READY");
    fake.post_as(ALICE, CHANNEL, "lunch?");
    assert_eq!(read_frame(&mut ws).await["d"]["content"], "lunch?");
}

/// A stand-in for lucid's interactions endpoint: checks the signature with serenity's
/// verifier and answers per interaction type.
async fn endpoint(public_key: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/discord/interactions",
        listener.local_addr().unwrap()
    );
    let verifier = Arc::new(serenity::interactions_endpoint::Verifier::new(&public_key));
    let app = axum::Router::new().route(
        "/discord/interactions",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let verifier = verifier.clone();
                async move {
                    let header = |n: &str| {
                        headers
                            .get(n)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned()
                    };
                    if verifier
                        .verify(
                            &header("x-signature-ed25519"),
                            &header("x-signature-timestamp"),
                            &body,
                        )
                        .is_err()
                    {
                        return (
                            axum::http::StatusCode::UNAUTHORIZED,
                            "invalid request signature".to_owned(),
                        );
                    }
                    let interaction: Value = serde_json::from_slice(&body).unwrap();
                    let answer = match interaction["type"].as_u64() {
                        Some(1) => json!({"type": 1}),
                        Some(2) => json!({"type": 5}),
                        _ if interaction["data"]["custom_id"] == "bad" => {
                            json!({"type": 4, "data": {"content": ""}})
                        }
                        _ => json!({"type": 7, "data": {"content": "Stopped", "components": []}}),
                    };
                    (axum::http::StatusCode::OK, answer.to_string())
                }
            },
        ),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test]
async fn interactions_are_signed_delivered_and_answered() {
    let fake = started().await;
    assert_eq!(fake.public_key_hex().len(), 64);
    assert_eq!(fake.sign("1", b"x"), fake.sign("1", b"x"), "deterministic");
    let url = endpoint(fake.public_key_hex()).await;

    // The builders carry the keys real interactions carry.
    let ping = fake.ping();
    assert!(top_level_keys(&fixture("interaction.ping.json")).is_subset(&top_level_keys(&ping)));
    let slash = fake.slash_command(
        GUILD,
        CHANNEL,
        ALICE,
        "lucid",
        &[("task", "fix the build"), ("repo", "acme/app")],
    );
    let button_fixture = fixture("interaction.message_component.button.json");
    let mut without_message = top_level_keys(&button_fixture);
    without_message.remove("message");
    assert_eq!(top_level_keys(&slash), without_message);
    assert!(
        top_level_keys(&fixture("interaction.application_command.json"))
            .is_subset(&top_level_keys(&slash))
    );
    assert_eq!(
        slash["data"]["options"][1],
        json!({"name": "repo", "type": 3, "value": "acme/app"})
    );
    serde_json::from_value::<serenity::all::Interaction>(slash.clone()).unwrap();

    assert_eq!(fake.deliver(&url, &ping).await, (200, json!({"type": 1})));
    let (status, _) = fake.deliver_badly_signed(&url, &ping).await;
    assert_eq!(status, 401);

    // A deferred answer shows "thinking" until @original is edited.
    assert_eq!(fake.deliver(&url, &slash).await, (200, json!({"type": 5})));
    let original = fake.channel_messages(CHANNEL)[0].clone();
    assert!(original.is_loading());
    assert_eq!(
        original.via,
        PostedVia::Interaction(slash["id"].as_str().unwrap().to_owned())
    );
    let app = fake.bot().application_id.clone();
    let token = slash["token"].as_str().unwrap();
    let webhook = format!("/webhooks/{app}/{token}");
    let edited = request(
        &fake,
        reqwest::Method::PATCH,
        &format!("{webhook}/messages/@original"),
        None,
        Some(json!({"content": "Session started"})),
    )
    .await;
    assert_eq!(edited.status, 200, "{}", edited.body);
    assert_eq!(edited.body["interaction_metadata"]["user"]["id"], ALICE);
    assert!(!fake.message(&original.id).unwrap().is_loading());
    let follow = request(
        &fake,
        reqwest::Method::POST,
        &webhook,
        None,
        Some(json!({"content": "only you", "flags": 64})),
    )
    .await;
    assert_eq!(follow.status, 200, "{}", follow.body);
    assert_eq!(fake.ephemerals()[0].user_id, ALICE);
    assert_eq!(
        fake.channel_messages(CHANNEL).len(),
        1,
        "ephemerals are not in the channel"
    );
    let callback_twice = request(
        &fake,
        reqwest::Method::POST,
        &format!(
            "/interactions/{}/{token}/callback",
            slash["id"].as_str().unwrap()
        ),
        None,
        Some(json!({"type": 4, "data": {"content": "x"}})),
    )
    .await;
    assert_eq!(callback_twice.body["code"], 40060);

    // A button click updates its message (type 7).
    let button = fake.button_click(GUILD, CHANNEL, ALICE, &original.id, "stop:1");
    assert_eq!(top_level_keys(&button), top_level_keys(&button_fixture));
    fake.deliver(&url, &button).await;
    assert_eq!(fake.message(&original.id).unwrap().content, "Stopped");

    // An invalid answer (type 4 with nothing to show) is a failure.
    let bad = fake.button_click(GUILD, CHANNEL, ALICE, &original.id, "bad");
    fake.deliver(&url, &bad).await;
    let responses: Vec<_> = fake
        .interaction_responses()
        .into_iter()
        .filter(|r| !r.via_callback_endpoint)
        .collect();
    assert_eq!(responses.len(), 4);
    assert!(responses[..3].iter().all(|r| r.accepted), "{responses:#?}");
    assert!(!responses[3].accepted);

    // Tokens expire.
    fake.set_interaction_token_ttl(Duration::ZERO);
    let expired = request(
        &fake,
        reqwest::Method::PATCH,
        &format!("{webhook}/messages/@original"),
        None,
        Some(json!({"content": "late"})),
    )
    .await;
    assert_eq!(
        (expired.status, expired.body.clone()),
        (
            401,
            json!({"code": 50027, "message": "Invalid Webhook Token"})
        )
    );
    let unexpected = fake.unexpected();
    assert_eq!(unexpected.len(), 3, "{unexpected:#?}");
}

/// Interaction webhooks are limited per interaction (webhook id and token, not the
/// application alone), and not by the bot's global limit.
#[tokio::test]
async fn interaction_webhooks_are_bucketed_per_token_outside_the_global_limit() {
    let fake = started().await;
    let url = endpoint(fake.public_key_hex()).await;
    let app = fake.bot().application_id.clone();
    let mut tokens = Vec::new();
    for task in ["one", "two"] {
        let slash = fake.slash_command(GUILD, CHANNEL, ALICE, "lucid", &[("task", task)]);
        assert_eq!(fake.deliver(&url, &slash).await, (200, json!({"type": 5})));
        tokens.push(slash["token"].as_str().unwrap().to_owned());
    }
    // The bot is globally limited for a while…
    fake.rate_limit_next(1, Duration::from_secs(30), true);
    let limited = post_message(&fake, json!({"content": "limited"})).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.body["global"], true);
    // …which does not hold back the interactions' answers.
    let mut hashes = Vec::new();
    for token in &tokens {
        let edited = request(
            &fake,
            reqwest::Method::PATCH,
            &format!("/webhooks/{app}/{token}/messages/@original"),
            None,
            Some(json!({"content": "Session started"})),
        )
        .await;
        assert_eq!(edited.status, 200, "{}", edited.body);
        assert!(!edited.headers.contains_key("x-ratelimit-global"));
        hashes.push(edited.headers["x-ratelimit-bucket"].clone());
    }
    // One route (one bucket hash), one bucket per token.
    assert_eq!(hashes[0], hashes[1]);
    let buckets: Vec<Option<String>> = fake
        .calls_to("PATCH", "/webhooks/*/*/messages/@original")
        .into_iter()
        .map(|c| c.bucket)
        .collect();
    let expected: Vec<Option<String>> = tokens
        .iter()
        .map(|t| Some(format!("PATCH /webhooks/:w/:t/messages/:m [{app}/{t}]")))
        .collect();
    assert_eq!(buckets, expected);
    assert!(fake.unexpected().is_empty(), "{:#?}", fake.unexpected());
}
