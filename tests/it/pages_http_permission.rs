//! Answering an agent's permission request from outside a thread, over real HTTP:
//! the API's `POST /api/v1/sessions/{id}/permission`, and the session page's box with
//! its Allow and Reject buttons (its form refused from elsewhere or with bad fields,
//! and the box shown while a request waits, then live in a real browser). No agent
//! runs: the requests are logged here as an agent's run would log them.

use crate::browser::Browser;
use crate::harness::{API_TOKEN, Backend, TestDb, docker_host, migrated_store, new_session};
use lucid::core::{Event, EventBody, PermissionOutcome, SessionId, SessionState};
use lucid::http::AppState;
use lucid::registry::Registry;
use lucid::sandbox::DockerEngine;
use lucid::store::Store;
use reqwest::header::{COOKIE, LOCATION, ORIGIN, SET_COOKIE};
use secrecy::SecretString;
use serde_json::{Value, json};
use std::sync::Arc;

crate::harness::on_both_stores!(
    the_api_answers_a_waiting_request_once_per_key_and_not_for_a_finished_session,
    the_page_form_answers_and_is_refused_from_elsewhere_or_with_bad_fields,
    the_page_shows_the_waiting_request_escaped_until_it_is_settled,
);

/// A title that would be markup, were it not escaped.
const HOSTILE: &str = "rm -rf <b>build</b> && echo \"done\" <script>alert(1)</script>";
const HOSTILE_ESCAPED: &str = "rm -rf &#60;b&#62;build&#60;/b&#62; &#38;&#38; echo &#34;done&#34; &#60;script&#62;alert(1)&#60;/script&#62;";

/// lucid's router with its acting routes on (lucid's own platform only, no worker),
/// served on a random port.
struct Acting {
    url: String,
    store: Store,
    http: reqwest::Client,
    _db: TestDb,
}

impl Acting {
    async fn spawn(backend: Backend) -> Acting {
        let (store, db) = migrated_store(backend).await;
        let mut registry = Registry::default();
        registry.add_platform(Arc::new(lucid::web::WebPlatform));
        let registry = Arc::new(registry);
        let docker = Arc::new(DockerEngine::new(&docker_host()).unwrap());
        let state = AppState::new(store.clone(), docker, Some(SecretString::from(API_TOKEN)));
        let intake = registry.intake(&store, &state.links);
        let router = lucid::http::router(state.with_actions(intake, registry));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Acting {
            url,
            store,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            _db: db,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// `POST /api/v1{path}` with the API token and `key` as its Idempotency-Key.
    async fn api_post(&self, path: &str, body: &Value, key: Option<&str>) -> (u16, Value) {
        let mut request = self
            .http
            .post(self.url(&format!("/api/v1{path}")))
            .bearer_auth(API_TOKEN)
            .json(body);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let answer = request.send().await.unwrap();
        let status = answer.status().as_u16();
        (status, answer.json().await.unwrap_or(Value::Null))
    }

    async fn ask(&self, session: SessionId, number: u32, title: &str) {
        self.store
            .append_event(
                session,
                EventBody::PermissionAsked {
                    number,
                    title: title.into(),
                    tool: Some("execute".into()),
                    within_secs: 300,
                },
            )
            .await
            .unwrap();
    }

    async fn settle(&self, session: SessionId, number: u32) {
        self.store
            .append_event(
                session,
                EventBody::PermissionSettled {
                    number,
                    outcome: PermissionOutcome::Rejected,
                    by: Some("operator".into()),
                },
            )
            .await
            .unwrap();
    }

    async fn log(&self, session: SessionId) -> Vec<Event> {
        self.store.events_after(session, 0, 1000).await.unwrap()
    }

    /// The answers in the session's log: (author, request, allowed).
    async fn answers(&self, session: SessionId) -> Vec<(String, Option<u32>, bool)> {
        self.log(session)
            .await
            .into_iter()
            .filter_map(|e| match e.body {
                EventBody::PermissionAnswered {
                    author,
                    number,
                    allow,
                } => Some((author, number, allow)),
                _ => None,
            })
            .collect()
    }

    /// Signs in with the API token; answers the cookie to send.
    async fn sign_in(&self) -> String {
        let answer = self
            .http
            .post(self.url("/signin"))
            .form(&[("password", API_TOKEN), ("next", "/")])
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), 303);
        let set = answer.headers()[SET_COOKIE].to_str().unwrap().to_owned();
        set.split(';').next().unwrap().to_owned()
    }

    async fn page(&self, session: SessionId, cookie: &str) -> String {
        let answer = self
            .http
            .get(self.url(&format!("/sessions/{session}")))
            .header(COOKIE, cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), 200);
        answer.text().await.unwrap()
    }
}

/// The value of the first hidden field named `name` in `html`.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

/// The page's permission box, from its opening tag to its end; None if it has none.
fn permission_box(html: &str) -> Option<&str> {
    let start = html.find("<section class=\"card permission\" id=\"permission\"")?;
    let end = html[start..].find("</section>").unwrap();
    Some(&html[start..start + end])
}

/// Whether the box is hidden (its opening tag says so).
fn box_hidden(section: &str) -> bool {
    section.split('>').next().unwrap().contains(" hidden")
}

async fn the_api_answers_a_waiting_request_once_per_key_and_not_for_a_finished_session(
    backend: Backend,
) {
    let app = Acting::spawn(backend).await;
    let s = new_session(&app.store, "d-permission-api").await;
    app.ask(s.id, 3, "rm -rf build").await;
    let path = format!("/sessions/{}/permission", s.id);
    let allow = json!({"allow": true, "request": 3, "author": "Ada"});

    let (status, body) = app.api_post(&path, &allow, Some("k-1")).await;
    assert_eq!((status, &body), (202, &json!({"session": s.id})));
    // The same request again (a client's retry): nothing logged twice.
    let (status, again) = app.api_post(&path, &allow, Some("k-1")).await;
    assert_eq!((status, &again), (202, &json!({"duplicate": true})));
    assert_eq!(
        app.answers(s.id).await,
        vec![("Ada".to_owned(), Some(3), true)]
    );
    // As the API lists it.
    let events: Value = app
        .http
        .get(app.url(&format!("/api/v1/sessions/{}/events", s.id)))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let answered: Vec<&Value> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "permission_answered")
        .collect();
    assert_eq!(answered.len(), 1, "{events:#}");
    assert_eq!(answered[0]["author"], "Ada");
    assert_eq!(answered[0]["number"], 3);
    assert_eq!(answered[0]["allow"], true);

    // Without a number or an author: the waiting one, by the API token's holder.
    let (status, body) = app
        .api_post(&path, &json!({"allow": false}), Some("k-2"))
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(
        app.answers(s.id).await,
        vec![
            ("Ada".to_owned(), Some(3), true),
            ("operator".to_owned(), None, false)
        ]
    );

    // Bad requests say why and log nothing.
    for (body, says) in [
        (json!({"request": 3}), "missing field `allow`"),
        (json!({"allow": "yes"}), "invalid type"),
        (json!({"allow": true, "request": -1}), "invalid value"),
        (json!({"allow": true, "colour": "red"}), "unknown field"),
    ] {
        let (status, answer) = app.api_post(&path, &body, None).await;
        assert_eq!(status, 400, "{body}: {answer}");
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(error.contains(says), "{body}: {answer}");
    }
    let unknown = "01890000-0000-7000-8000-000000000009";
    let (status, answer) = app
        .api_post(
            &format!("/sessions/{unknown}/permission"),
            &json!({"allow": true}),
            None,
        )
        .await;
    assert_eq!(status, 404, "{answer}");
    let anonymous = app
        .http
        .post(app.url(&format!("/api/v1{path}")))
        .json(&json!({"allow": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
    assert_eq!(app.answers(s.id).await.len(), 2);

    // A finished session waits for nothing: 409, and nothing logged.
    app.store
        .transition(s.id, SessionState::Cancelled, None, None)
        .await
        .unwrap();
    let logged = app.log(s.id).await.len();
    let (status, answer) = app.api_post(&path, &allow, Some("k-3")).await;
    assert_eq!(status, 409, "{answer}");
    assert_eq!(
        answer["error"],
        "the session is over: nothing waits for an answer"
    );
    assert_eq!(app.log(s.id).await.len(), logged);
    let state = app.store.session(s.id).await.unwrap().unwrap().state;
    assert_eq!(state, SessionState::Cancelled, "not taken up again");
}

async fn the_page_form_answers_and_is_refused_from_elsewhere_or_with_bad_fields(backend: Backend) {
    let app = Acting::spawn(backend).await;
    let s = new_session(&app.store, "d-permission-form").await;
    app.ask(s.id, 1, "cargo publish").await;
    let cookie = app.sign_in().await;
    let html = app.page(s.id, &cookie).await;
    let section = permission_box(&html).expect("the box while a request waits");
    let token = hidden(section, "form");
    let once = hidden(section, "once");
    assert_eq!(hidden(section, "request"), "1");
    let url = app.url(&format!("/sessions/{}/permission", s.id));
    let form = |allow: &str, request: &str| {
        [
            ("form", token.clone()),
            ("once", once.clone()),
            ("allow", allow.to_owned()),
            ("request", request.to_owned()),
        ]
    };

    let evil = app
        .http
        .post(&url)
        .header(COOKIE, &cookie)
        .header(ORIGIN, "http://evil.example")
        .form(&form("yes", "1"))
        .send()
        .await
        .unwrap();
    assert_eq!(evil.status().as_u16(), 403);
    let forged = app
        .http
        .post(&url)
        .header(COOKIE, &cookie)
        .form(&[
            ("form", "forged"),
            ("once", "k"),
            ("allow", "yes"),
            ("request", "1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status().as_u16(), 403);
    let signed_out = app
        .http
        .post(&url)
        .form(&form("yes", "1"))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_out.status().as_u16(), 401);
    for (allow, request, status, says) in [
        ("yes", "abc", 400, "A request is a whole number"),
        ("yes", "-1", 400, "A request is a whole number"),
        ("maybe", "1", 400, "An answer is yes (allow) or no (reject)"),
        ("", "1", 400, "An answer is yes (allow) or no (reject)"),
    ] {
        let bad = app
            .http
            .post(&url)
            .header(COOKIE, &cookie)
            .form(&form(allow, request))
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status().as_u16(), status, "{allow} {request}");
        let body = bad.text().await.unwrap();
        assert!(body.contains(says), "{allow} {request}: {body}");
    }
    assert!(app.answers(s.id).await.is_empty(), "nothing answered yet");

    // Reject, from the page itself: logged, and back to the page.
    let answer = app
        .http
        .post(&url)
        .header(COOKIE, &cookie)
        .header(ORIGIN, &app.url)
        .form(&form("no", "1"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 303);
    assert_eq!(answer.headers()[LOCATION], format!("/sessions/{}", s.id));
    // A double click sends the same one-time key: answered once.
    let again = app
        .http
        .post(&url)
        .header(COOKIE, &cookie)
        .form(&form("no", "1"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status().as_u16(), 303);
    assert_eq!(
        app.answers(s.id).await,
        vec![("operator".to_owned(), Some(1), false)]
    );

    // Over: refused with why, nothing logged.
    app.store
        .transition(s.id, SessionState::Failed, Some("gone".into()), None)
        .await
        .unwrap();
    let over = app
        .http
        .post(&url)
        .header(COOKIE, &cookie)
        .form(&[
            ("form", token.as_str()),
            ("once", "another"),
            ("allow", "yes"),
            ("request", "1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(over.status().as_u16(), 409);
    assert!(
        over.text()
            .await
            .unwrap()
            .contains("the session is over: nothing waits for an answer")
    );
    assert_eq!(app.answers(s.id).await.len(), 1);
    let html = app.page(s.id, &cookie).await;
    assert!(
        permission_box(&html).is_none(),
        "no box on a finished session"
    );
}

async fn the_page_shows_the_waiting_request_escaped_until_it_is_settled(backend: Backend) {
    let app = Acting::spawn(backend).await;
    let s = new_session(&app.store, "d-permission-box").await;
    let cookie = app.sign_in().await;

    let html = app.page(s.id, &cookie).await;
    let section = permission_box(&html).expect("an operator's page has the box, hidden");
    assert!(box_hidden(section), "nothing waits yet: {section}");
    assert!(section.contains("<code id=\"permission-title\"></code>"));

    app.ask(s.id, 2, HOSTILE).await;
    let html = app.page(s.id, &cookie).await;
    let section = permission_box(&html).unwrap();
    assert!(!box_hidden(section), "{section}");
    assert!(section.contains("The agent asks leave"), "{section}");
    assert!(
        section.contains(&format!(
            "<code id=\"permission-title\">{HOSTILE_ESCAPED}</code>"
        )),
        "{section}"
    );
    assert!(
        section.contains("Request 2 · without an answer within 5m of its asking, it is rejected"),
        "{section}"
    );
    assert!(section.contains(">Allow</button>") && section.contains(">Reject</button>"));
    assert!(section.contains("name=\"allow\" value=\"yes\""));
    assert!(section.contains("name=\"allow\" value=\"no\""));
    assert_eq!(hidden(section, "request"), "2");
    assert!(hidden(section, "once").ends_with("-permission-2"));
    // Nowhere on the page is the title markup: the box, the timeline's item and the
    // item's data for the live box all escape it.
    assert!(!html.contains("<b>build") && !html.contains("<script>alert"));
    assert!(html.contains(&format!(
        "the agent asked leave (request 2): {HOSTILE_ESCAPED}"
    )));
    assert!(html.contains(&format!(
        "data-asked=\"2\" data-title=\"{HOSTILE_ESCAPED}\""
    )));
    // A share link's reader sees the request in the timeline, and no box to answer it.
    let made = app
        .http
        .post(app.url(&format!("/sessions/{}/share", s.id)))
        .header(COOKIE, &cookie)
        .form(&[("form", hidden(&html, "form"))])
        .send()
        .await
        .unwrap();
    assert_eq!(made.status().as_u16(), 200);
    let made = made.text().await.unwrap();
    let at = made
        .find("id=\"new-share-link\"")
        .expect("a new share link");
    let start = made[..at].rfind("value=\"").unwrap() + 7;
    let link = made[start..]
        .split('"')
        .next()
        .unwrap()
        .replace("&#38;", "&");
    let link = &link[link.find("/sessions/").unwrap()..];
    let shared = app.http.get(app.url(link)).send().await.unwrap();
    assert_eq!(shared.status().as_u16(), 200, "{link}");
    let shared = shared.text().await.unwrap();
    assert!(shared.contains("You are reading a shared session."));
    assert!(shared.contains("the agent asked leave (request 2)"));
    assert!(permission_box(&shared).is_none(), "no box for a reader");

    // Answered and settled: the box is gone, the timeline says how it ended.
    app.store
        .append_event(
            s.id,
            EventBody::PermissionAnswered {
                author: "Ada".into(),
                number: Some(2),
                allow: false,
            },
        )
        .await
        .unwrap();
    app.settle(s.id, 2).await;
    let html = app.page(s.id, &cookie).await;
    let section = permission_box(&html).unwrap();
    assert!(box_hidden(section), "{section}");
    assert!(
        section.contains("<code id=\"permission-title\"></code>"),
        "{section}"
    );
    assert!(html.contains("Ada rejected request 2"), "{html}");
    assert!(html.contains("request 2 rejected by operator"), "{html}");
    assert!(html.contains("data-settled=\"2\""));

    // A second request waits, then the run ends without settling it: no box.
    app.ask(s.id, 3, "git push --force").await;
    let section_of = |html: &str| permission_box(html).map(str::to_owned);
    let html = app.page(s.id, &cookie).await;
    let section = section_of(&html).unwrap();
    assert!(!box_hidden(&section) && section.contains(">git push --force</code>"));
    app.store
        .append_event(
            s.id,
            EventBody::Status {
                state: SessionState::Failed,
                message: Some("the agent stopped".into()),
            },
        )
        .await
        .unwrap();
    let html = app.page(s.id, &cookie).await;
    let section = section_of(&html).unwrap();
    assert!(box_hidden(&section), "a run that ended waits for nothing");
}

/// In a real browser: the box comes when the agent asks and goes when the request is
/// settled, while the page is open; its title is text, never markup; its buttons
/// answer the request it shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_box_comes_and_goes_live_and_its_buttons_answer() {
    let app = Acting::spawn(Backend::Sqlite).await;
    let s = new_session(&app.store, "d-permission-live").await;
    let browser = Browser::start("permission_box").await;
    browser.sign_in(&app.url, API_TOKEN).await;
    browser.goto(&app.url(&format!("/sessions/{}", s.id))).await;
    browser
        .until(
            "the page's stream to open, no box",
            "return document.getElementById('live').textContent === 'Live' \
             && document.getElementById('permission').hidden",
        )
        .await;

    app.ask(s.id, 1, HOSTILE).await;
    browser
        .until(
            "the box with the request's title",
            &format!(
                "var box = document.getElementById('permission'); \
                 return !box.hidden && document.getElementById('permission-title').textContent === {}",
                json!(HOSTILE)
            ),
        )
        .await;
    assert_eq!(
        browser
            .js("return document.querySelectorAll('#permission b, #permission script, #timeline b').length")
            .await,
        json!(0),
        "the title is text"
    );
    assert_eq!(
        browser
            .js("return document.querySelectorAll('script:not([src])').length")
            .await,
        json!(0)
    );
    assert_eq!(
        browser.text("#permission-note").await.unwrap(),
        "Request 1 · without an answer within 5m of its asking, it is rejected"
    );
    browser.screenshot("asked").await;

    app.settle(s.id, 1).await;
    browser
        .until(
            "the box to go once the request is settled",
            "return document.getElementById('permission').hidden",
        )
        .await;

    // A second request: the buttons now answer it, with a key of its own.
    app.ask(s.id, 2, "git push --force").await;
    browser
        .until(
            "the box for request 2",
            "return !document.getElementById('permission').hidden \
             && document.getElementById('permission-title').textContent === 'git push --force'",
        )
        .await;
    let fields = browser
        .js("return Array.from(document.querySelectorAll('#permission input[name=request], #permission input[name=once]')).map(function (i) { return i.value; })")
        .await;
    let fields: Vec<String> = serde_json::from_value(fields).unwrap();
    assert_eq!(fields.len(), 4, "{fields:?}");
    assert_eq!(fields.iter().filter(|v| *v == "2").count(), 2, "{fields:?}");
    assert_eq!(
        fields
            .iter()
            .filter(|v| v.ends_with("-permission-2"))
            .count(),
        2,
        "{fields:?}"
    );
    let mut news = app.store.watch(s.id);
    browser.click("#allow").await;
    crate::harness::within("the answer to be logged", async {
        while app.answers(s.id).await.is_empty() {
            news.changed().await;
        }
    })
    .await;
    assert_eq!(
        app.answers(s.id).await,
        vec![("operator".to_owned(), Some(2), true)]
    );
    browser
        .until(
            "the page again after answering",
            "return document.getElementById('permission-title') !== null \
             && document.getElementById('timeline').textContent.indexOf('operator allowed request 2') >= 0",
        )
        .await;

    // The run ends: the box goes with it.
    app.store
        .transition(s.id, SessionState::Failed, Some("over".into()), None)
        .await
        .unwrap();
    browser
        .until(
            "the box to go when the session ends",
            "var box = document.getElementById('permission'); return !box || box.hidden",
        )
        .await;
}
