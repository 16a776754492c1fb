//! The toy platform's parts on their own, without Docker: ToyChat refuses what a real
//! chat service would, `ToyPlatform` speaks its API, and the webhook route verifies,
//! parses and hands requests to lucid's intake (no worker runs here).

use super::chat::{MAX_TEXT, ToyChat};
use super::platform::{ToyPlatform, thread_of};
use super::*;
use crate::harness::{Backend, migrated_store};
use lucid::chat::{ChatPlatform, StatusView};
use lucid::core::{Author, Timestamp};
use lucid::registry::Registry;
use lucid::store::Store;

async fn call(
    chat: &ToyChat,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Value,
) -> (u16, Value) {
    let response = reqwest::Client::new()
        .request(method, format!("{}{path}", chat.origin))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    (
        response.status().as_u16(),
        response.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn toychat_refuses_what_a_real_chat_service_would() {
    use reqwest::Method;
    let chat = toychat().await;
    let root = chat.post_as(ADA, ROOM, None, "hello");
    let post = |room: &str| format!("/api/rooms/{room}/messages");
    let ok = json!({"text": "hi", "thread": root});

    let (status, answer) = call(&chat, Method::POST, &post(ROOM), "wrong-token", ok.clone()).await;
    assert_eq!((status, &answer["error"]), (401, &json!("invalid_token")));
    let long = json!({"text": "x".repeat(MAX_TEXT + 1), "thread": root});
    let (status, answer) = call(&chat, Method::POST, &post(ROOM), TOY_TOKEN, long).await;
    assert_eq!(
        (status, &answer["error"]),
        (400, &json!("message_too_long"))
    );
    let (status, answer) = call(
        &chat,
        Method::POST,
        &post("r-nowhere"),
        TOY_TOKEN,
        ok.clone(),
    )
    .await;
    assert_eq!((status, &answer["error"]), (404, &json!("room_not_found")));
    let elsewhere = json!({"text": "hi", "thread": "m999"});
    let (status, answer) = call(&chat, Method::POST, &post(ROOM), TOY_TOKEN, elsewhere).await;
    assert_eq!(
        (status, &answer["error"]),
        (404, &json!("thread_not_found"))
    );
    let edit = format!("/api/rooms/{ROOM}/messages/{root}");
    let (status, answer) = call(
        &chat,
        Method::PATCH,
        &edit,
        TOY_TOKEN,
        json!({"text": "mine now"}),
    )
    .await;
    assert_eq!(
        (status, &answer["error"]),
        (403, &json!("cant_edit_message"))
    );
    let (status, _) = call(
        &chat,
        Method::GET,
        "/api/users/nobody",
        TOY_TOKEN,
        Value::Null,
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(chat.refused().len(), 6);
    assert_eq!(chat.message(&root).unwrap().history, ["hello"]);

    // Exactly at the limit is fine, and lands in the thread.
    let full = json!({"text": "y".repeat(MAX_TEXT), "thread": root});
    let (status, answer) = call(&chat, Method::POST, &post(ROOM), TOY_TOKEN, full).await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(chat.said_by_bot(ROOM, &root).len(), 1);
    assert_eq!(chat.refused().len(), 6);
}

#[tokio::test]
async fn the_platform_posts_edits_reacts_and_names_people_through_the_api() {
    let chat = toychat().await;
    let platform = toy_platform(&chat, "acme/calc");
    let root = chat.post_as(ADA, ROOM, None, "@lucid fix add()");
    let thread = thread_of(ROOM, &root);

    let id = platform
        .post_status(&thread, &"working".into())
        .await
        .unwrap();
    platform
        .update_status(&thread, &id, &"done".into())
        .await
        .unwrap();
    platform.say(&thread, "a reply").await.unwrap();
    let origin = lucid::core::Origin {
        delivery: lucid::core::DeliveryId::parse("ev-x").unwrap(),
        thread: thread.clone(),
        author: Author {
            id: ADA.into(),
            display_name: ADA.into(),
        },
        message: Some(root.clone()),
        addressed: true,
    };
    platform.acknowledge(&origin).await.unwrap();
    // Acknowledging twice (a retried request) is not an error.
    platform.acknowledge(&origin).await.unwrap();
    let name = platform
        .display_name(&Author {
            id: ADA.into(),
            display_name: ADA.into(),
        })
        .await;
    assert_eq!(name, "Ada Lovelace");

    let said = chat.said_by_bot(ROOM, &root);
    assert_eq!(said.len(), 2);
    assert_eq!(said[0].history, ["working", "done"]);
    assert_eq!(said[1].text, "a reply");
    assert_eq!(chat.reactions().len(), 1);
    assert_eq!(chat.reactions()[0].emoji, "eyes");

    // ToyChat's refusals come back as errors naming them.
    let nowhere = thread_of("r-nowhere", &root);
    let error = platform.say(&nowhere, "hi").await.unwrap_err();
    assert!(error.to_string().contains("room_not_found"), "{error}");
    let error = platform
        .say(&thread, &"z".repeat(MAX_TEXT + 1))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("message_too_long"), "{error}");
    let wrong = ToyPlatform::new(platform::ToySettings {
        token: "not-the-token".into(),
        ..settings_of(&chat)
    });
    let error = wrong.say(&thread, "hi").await.unwrap_err();
    assert!(error.to_string().contains("401"), "{error}");
    // A thread of another platform is not ToyChat's.
    let slack = lucid::core::ThreadRef::Web { id: "w".into() };
    assert!(platform.say(&slack, "hi").await.is_err());
}

fn settings_of(chat: &ToyChat) -> platform::ToySettings {
    platform::ToySettings {
        api_url: chat.origin.clone(),
        token: TOY_TOKEN.into(),
        secrets: vec![TOY_SECRET.into()],
        bot_user: chat.bot().to_owned(),
        rooms: vec![],
        users: vec![],
        github_logins: vec![],
        edit_interval: Duration::from_millis(50),
    }
}

#[test]
fn a_status_message_always_fits_in_a_toychat_message() {
    use lucid::core::SessionState;
    let settings = platform::ToySettings {
        api_url: "http://127.0.0.1:1".into(),
        ..settings_of_nothing()
    };
    let platform = ToyPlatform::new(settings);
    let mut session = lucid::messages::examples::example_session(SessionState::Failed);
    session.reason = Some(format!("[{}]", "why ".repeat(2_000)));
    let status = platform
        .render_status(&StatusView {
            session: &session,
            events: &[],
            now: Timestamp::now(),
            session_url: "http://lucid/sessions/x",
        })
        .as_str()
        .to_owned();
    assert!(status.chars().count() <= MAX_TEXT, "{}", status.len());
    assert!(status.contains("[b]Failed[/b]"), "{status}");
    assert!(
        status.ends_with("[url=http://lucid/sessions/x]session log[/url]"),
        "{status}"
    );
    assert!(
        status.contains("\\[why"),
        "a [ from the log is escaped: {status}"
    );
}

fn settings_of_nothing() -> platform::ToySettings {
    platform::ToySettings {
        api_url: String::new(),
        token: TOY_TOKEN.into(),
        secrets: vec![],
        bot_user: "lucid".into(),
        rooms: vec![],
        users: vec![],
        github_logins: vec![],
        edit_interval: Duration::from_millis(50),
    }
}

/// lucid's intake and the toy route on loopback, over a fresh store, no worker.
struct Route {
    base: String,
    store: Store,
    _db: crate::harness::TestDb,
}

async fn route(chat: &ToyChat) -> Route {
    let (store, db) = migrated_store(Backend::Sqlite).await;
    let mut registry = Registry::default();
    registry.add_platform(toy_platform(chat, "acme/calc"));
    let intake = registry.intake(&store, &lucid::web::Links::unshared("http://lucid.test"));
    let router = registry.routes(&intake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    Route {
        base,
        store,
        _db: db,
    }
}

async fn session_count(store: &Store) -> usize {
    store
        .list_sessions(&lucid::store::SessionFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .len()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_webhook_verifies_parses_and_takes_each_delivery_once() {
    let chat = toychat().await;
    let route = route(&chat).await;
    let mention = chat.post_as(ADA, ROOM, None, "@lucid please fix add()");
    let event = posted(&chat, "ev-1", &mention);
    let body = serde_json::to_vec(&event).unwrap();

    // A wrong or missing secret: 401, and nothing is stored or said.
    for secret in [Some("not-the-secret"), None] {
        let (status, answer) = deliver(&route.base, secret, body.clone()).await;
        assert_eq!(status, 401, "{answer}");
        assert!(answer["error"].as_str().unwrap().contains("X-Toy-Secret"));
    }
    assert_eq!(session_count(&route.store).await, 0);

    // Malformed: 400 saying where.
    let mut broken = event.clone();
    broken["message"]["user"] = json!("ada");
    let (status, answer) = deliver(
        &route.base,
        Some(TOY_SECRET),
        serde_json::to_vec(&broken).unwrap(),
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("message.user"),
        "{answer}"
    );
    let (status, answer) = deliver(&route.base, Some(TOY_SECRET), b"{not json".to_vec()).await;
    assert_eq!(status, 400, "{answer}");
    // Too big: refused before it is read.
    let huge = vec![b' '; inbound::MAX_BODY + 1];
    let (status, _) = deliver(&route.base, Some(TOY_SECRET), huge).await;
    assert_eq!(status, 413);
    // An event lucid does not handle is fine.
    let reaction = json!({"event_id": "ev-r", "type": "reaction.added", "room": ROOM});
    let (status, answer) = deliver_event(&route.base, &reaction).await;
    assert_eq!(
        (status, answer["ignored"].is_string()),
        (200, true),
        "{answer}"
    );
    assert_eq!(session_count(&route.store).await, 0);

    // The mention, signed with the old secret (secrets rotate): a session, and 👀.
    let (status, answer) = deliver(&route.base, Some(OLD_TOY_SECRET), body.clone()).await;
    assert_eq!(status, 200, "{answer}");
    let id: lucid::core::SessionId = answer["session"].as_str().unwrap().parse().unwrap();
    let session = route.store.session(id).await.unwrap().unwrap();
    assert_eq!(session.trigger.thread, thread_of(ROOM, &mention));
    assert_eq!(session.trigger.task, "please fix add()");
    assert_eq!(session.trigger.repo.unwrap().to_string(), "acme/calc");
    assert_eq!(session.trigger.author.display_name, "Ada Lovelace");
    chat.wait_until("the eyes", |c| {
        c.reactions()
            .into_iter()
            .find(|r| r.message == mention && r.emoji == "eyes")
    })
    .await;
    // ToyChat sends it again: nothing twice.
    let (status, answer) = deliver(&route.base, Some(TOY_SECRET), body).await;
    assert_eq!(
        (status, &answer["duplicate"]),
        (200, &json!(true)),
        "{answer}"
    );
    assert_eq!(session_count(&route.store).await, 1);

    // Eve is not listed: told so once, in her thread; no session.
    let asked = chat.post_as(EVE, ROOM, None, "@lucid delete everything");
    let (status, answer) = deliver_event(&route.base, &posted(&chat, "ev-2", &asked)).await;
    assert_eq!(status, 200);
    assert!(answer["refused"].is_string(), "{answer}");
    let refusal = chat
        .wait_until("the refusal", |c| {
            c.said_by_bot(ROOM, &asked).first().cloned()
        })
        .await;
    assert!(refusal.text.contains("[@eve]"), "{}", refusal.text);
    // A room lucid is not set up for: refused too.
    let elsewhere = chat.post_as(ADA, OTHER_ROOM, None, "@lucid fix it");
    let (_, answer) = deliver_event(&route.base, &posted(&chat, "ev-3", &elsewhere)).await;
    assert!(answer["refused"].is_string(), "{answer}");
    let refusal = chat
        .wait_until("the refusal", |c| {
            c.said_by_bot(OTHER_ROOM, &elsewhere).first().cloned()
        })
        .await;
    assert!(refusal.text.contains("[@ada]"), "{}", refusal.text);
    // A room with no repository: asked which.
    let bare = chat.post_as(ADA, BARE_ROOM, None, "@lucid fix add()");
    let (_, answer) = deliver_event(&route.base, &posted(&chat, "ev-4", &bare)).await;
    assert_eq!(answer["asked"], "which repository", "{answer}");
    let question = chat
        .wait_until("the question", |c| {
            c.said_by_bot(BARE_ROOM, &bare).first().cloned()
        })
        .await;
    assert!(question.text.contains("[@ada]"), "{}", question.text);
    // …and the answer in the thread starts the session there.
    let answer_text = chat.post_as(ADA, BARE_ROOM, Some(&bare), "acme/calc please");
    let (_, answer) = deliver_event(&route.base, &posted(&chat, "ev-5", &answer_text)).await;
    assert!(answer["session"].is_string(), "{answer}");
    // Words in a session's thread not said to lucid are a note.
    let chatter = chat.post_as(ADA, ROOM, Some(&mention), "nice");
    let (_, answer) = deliver_event(&route.base, &posted(&chat, "ev-6", &chatter)).await;
    assert_eq!(answer["as"], "note", "{answer}");
    assert_eq!(session_count(&route.store).await, 2);

    assert!(chat.refused().is_empty(), "{:#?}", chat.refused());
    let said: usize = chat
        .messages()
        .iter()
        .filter(|m| m.author == "lucid")
        .count();
    assert_eq!(
        said, 3,
        "one refusal, one question, and nothing for the others"
    );
}

/// The forge's permission check is the intake's, not GitHub's route's: a person of
/// any platform whose GitHub login is known is asked about on GitHub too.
#[tokio::test(flavor = "multi_thread")]
async fn the_forge_is_asked_about_a_person_it_knows_whatever_the_platform() {
    use lucid::config::{GithubAuth, GithubSettings};
    const TOKEN: &str = "ghp_toyForgeCheckToken0123456789";
    let chat = toychat().await;
    chat.add_user("mal", "Mallory");
    let github = crate::fake_github::FakeGithub::start("lucid").await;
    github.accept_token(TOKEN);
    github.add_repo("acme/calc", &[("calc.py", "x = 1\n")]);
    github.set_permission("acme/calc", "ada-gh", "write");
    github.set_permission("acme/calc", "mal-gh", "read");
    let mut settings = settings_of(&chat);
    settings.rooms = vec![(
        ROOM.to_owned(),
        Some(lucid::core::RepoRef::parse("acme/calc").unwrap()),
    )];
    settings.github_logins = vec![
        (ADA.to_owned(), "ada-gh".to_owned()),
        ("mal".to_owned(), "mal-gh".to_owned()),
    ];
    let github_settings = GithubSettings {
        webhook_secrets: vec!["unused".into()],
        auth: GithubAuth::Token(TOKEN.into()),
        bot_login: "lucid".into(),
        api_url: github.origin.clone(),
        trigger_label: "lucid".into(),
        edit_interval: Duration::from_millis(50),
    };
    let client =
        Arc::new(lucid::github::outbound::client::GithubClient::new(&github_settings).unwrap());
    let (store, _db) = migrated_store(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let mut registry = Registry::default();
    registry.add_platform(ToyPlatform::new(settings));
    registry.add_forge(Arc::new(lucid::github::GithubForge::new(
        client,
        "lucid".into(),
        dir.path().to_owned(),
    )));
    let intake = registry.intake(&store, &lucid::web::Links::unshared("http://lucid.test"));
    let router = registry.routes(&intake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });

    // Mallory may read acme/calc, not write to it: refused, once, in her thread.
    let asked = chat.post_as("mal", ROOM, None, "@lucid delete the tests");
    let (status, answer) = deliver_event(&base, &posted(&chat, "ev-mal", &asked)).await;
    assert_eq!(status, 200, "{answer}");
    assert!(
        answer["refused"]
            .as_str()
            .is_some_and(|r| r.contains("may not write to acme/calc")),
        "{answer}"
    );
    let refusal = chat
        .wait_until("the refusal", |c| {
            c.messages()
                .into_iter()
                .find(|m| m.author == chat.bot() && m.text.contains("write to this repository"))
        })
        .await;
    assert!(refusal.text.contains("[@mal]"), "{}", refusal.text);
    assert_eq!(session_count(&store).await, 0);

    // Ada may write: her request starts a session.
    let asked = chat.post_as(ADA, ROOM, None, "@lucid fix add()");
    let (status, answer) = deliver_event(&base, &posted(&chat, "ev-ada", &asked)).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer["session"].is_string(), "{answer}");
    // GitHub was asked about each of them, by their logins.
    let asked_about: Vec<String> = github
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("/collaborators/"))
        .map(|r| r.path)
        .collect();
    assert_eq!(asked_about.len(), 2, "{asked_about:#?}");
    assert!(asked_about.iter().any(|p| p.contains("/mal-gh/")));
    assert!(asked_about.iter().any(|p| p.contains("/ada-gh/")));
}
