//! lucid's pages over real HTTP, without a browser: who may see what, the forms'
//! defences against cross-site requests, the list's filters, paging and month total,
//! the live stream's resuming, and the headers every page is served with.

use crate::harness::{
    API_TOKEN, Backend, SseReader, TestApp, new_session, on_both_stores, trigger_in, within,
};
use lucid::core::{EventBody, RepoRef, SessionState, ThreadRef};
use lucid::store::Recorded;
use reqwest::header::{COOKIE, LOCATION, ORIGIN, SET_COOKIE};

on_both_stores!(
    pages_need_signing_in_and_say_nothing_before,
    signing_in_sets_a_strict_http_only_cookie_and_forms_refuse_other_sites,
    the_list_filters_pages_and_totals_the_month,
    the_live_stream_resumes_after_the_last_event_seen,
    going_back_from_the_page_is_refused_from_elsewhere_and_needs_a_step_number,
);

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Signs in with the API token; answers the cookie to send.
async fn sign_in(app: &TestApp, http: &reqwest::Client) -> String {
    let answer = http
        .post(app.url("/signin"))
        .form(&[("password", API_TOKEN), ("next", "/")])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 303);
    let set = answer.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    set.split(';').next().unwrap().to_owned()
}

/// The value of a hidden field named `name` in a page.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

async fn pages_need_signing_in_and_say_nothing_before(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let s = new_session(&app.store, "d-secret").await;
    let http = client();
    for path in [
        "/".to_owned(),
        format!("/sessions/{}", s.id),
        format!("/sessions/{}/live", s.id),
    ] {
        let answer = http.get(app.url(&path)).send().await.unwrap();
        assert_eq!(answer.status().as_u16(), 401, "{path}");
        let body = answer.text().await.unwrap();
        assert!(!body.contains("make the tests pass"), "{path}: {body}");
        if path != format!("/sessions/{}/live", s.id) {
            assert!(body.contains("Sign in to see this page."), "{path}: {body}");
        }
    }
    for path in [
        format!("/sessions/{}?share=guess", s.id),
        format!("/sessions/{}/live?share=guess", s.id),
        "/sessions/not-an-id?share=guess".to_owned(),
    ] {
        let answer = http.get(app.url(&path)).send().await.unwrap();
        assert_eq!(answer.status().as_u16(), 404, "{path}");
        assert!(!answer.text().await.unwrap().contains("make the tests pass"));
    }
    // Every page is served under the strict policy, cached nowhere.
    let answer = http.get(app.url("/signin")).send().await.unwrap();
    let headers = answer.headers();
    let policy = headers["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("script-src 'self'") && policy.contains("frame-ancestors 'none'"));
    assert!(!policy.contains("unsafe"), "{policy}");
    assert_eq!(headers["referrer-policy"], "same-origin");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let script = http.get(app.url("/assets/live.js")).send().await.unwrap();
    assert_eq!(
        script.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert!(script.text().await.unwrap().contains("EventSource"));
}

async fn signing_in_sets_a_strict_http_only_cookie_and_forms_refuse_other_sites(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let s = new_session(&app.store, "d-forms").await;
    let http = client();
    let wrong = http
        .post(app.url("/signin"))
        .form(&[("password", "not-the-token-at-all")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    assert!(wrong.headers().get(SET_COOKIE).is_none());
    assert!(
        wrong
            .text()
            .await
            .unwrap()
            .contains("That password is not right.")
    );

    let answer = http
        .post(app.url("/signin"))
        .form(&[("password", API_TOKEN), ("next", "//elsewhere.example/")])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 303);
    assert_eq!(answer.headers()[LOCATION], "/", "never off to another site");
    let set = answer.headers()[SET_COOKIE].to_str().unwrap();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(flag), "{set}");
    }
    let cookie = set.split(';').next().unwrap().to_owned();

    let page = http
        .get(app.url(&format!("/sessions/{}", s.id)))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("make the tests pass"));
    let token = hidden(&html, "form");
    let stop = format!("/sessions/{}/stop", s.id);

    // Without the form token, with another's, or from another site: refused, and the
    // session runs on.
    for (form_token, origin) in [
        ("", None),
        ("forged", None),
        (token.as_str(), Some("http://evil.example")),
    ] {
        let mut request = http
            .post(app.url(&stop))
            .header(COOKIE, &cookie)
            .form(&[("form", form_token)]);
        if let Some(origin) = origin {
            request = request.header(ORIGIN, origin);
        }
        let answer = request.send().await.unwrap();
        assert_eq!(answer.status().as_u16(), 403, "{form_token} {origin:?}");
    }
    // Without the cookie the form token alone is nothing.
    let answer = http
        .post(app.url(&stop))
        .form(&[("form", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 401);
    let session = app.store.session(s.id).await.unwrap().unwrap();
    assert_eq!(session.state, SessionState::Queued);

    // Signing out drops the cookie.
    let out = http
        .post(app.url("/signout"))
        .header(COOKIE, &cookie)
        .form(&[("form", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status().as_u16(), 303);
    assert!(
        out.headers()[SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
}

async fn the_list_filters_pages_and_totals_the_month(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let http = client();
    let cookie = sign_in(&app, &http).await;
    let get = |path: &str| {
        http.get(app.url(path))
            .header(COOKIE, cookie.as_str())
            .send()
    };
    // 51 sessions on acme/app from GitHub, one on acme/web from Slack that failed.
    for i in 0..51 {
        let s = new_session(&app.store, &format!("d-list-{i}")).await;
        if i == 0 {
            app.store
                .append_event(
                    s.id,
                    EventBody::Usage {
                        tokens_in: 1_000,
                        tokens_out: 234,
                        cost_micros: 1_500_000,
                    },
                )
                .await
                .unwrap();
        }
    }
    let mut trigger = trigger_in(
        ThreadRef::Slack {
            team: "T1".into(),
            channel: "C1".into(),
            thread_ts: "1.2".into(),
        },
        "d-slack",
    );
    trigger.repo = Some(RepoRef::parse("acme/web").unwrap());
    trigger.task = "tidy the <b>docs</b>\nand more".into();
    let Recorded::Created(slack) = app.store.record_trigger(trigger).await.unwrap() else {
        panic!("a duplicate");
    };
    app.store
        .transition(slack.id, SessionState::Failed, Some("no luck".into()), None)
        .await
        .unwrap();

    let first = get("/").await.unwrap().text().await.unwrap();
    assert_eq!(first.matches("class=\"session-row\"").count(), 50);
    assert!(
        first.contains("This month: $1.5000 over 52 sessions, 1,234 tokens"),
        "{first}"
    );
    assert!(
        first.contains("tidy the &#60;b&#62;docs&#60;/b&#62;"),
        "the newest first, escaped"
    );
    assert!(!first.contains("and more"), "only the task's first line");
    let older = hidden_href(&first, "older");
    let second = get(&older).await.unwrap().text().await.unwrap();
    assert_eq!(second.matches("class=\"session-row\"").count(), 2);
    assert!(!second.contains("id=\"older\""));
    assert!(second.contains("id=\"newest\""));

    let slack_only = get("/?platform=slack").await.unwrap().text().await.unwrap();
    assert_eq!(slack_only.matches("class=\"session-row\"").count(), 1);
    let failed = get("/?state=failed&repo=acme/web")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(failed.matches("class=\"session-row\"").count(), 1);
    assert!(failed.contains("Failed"));
    let none = get("/?state=completed")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(none.contains("No sessions match these filters."));
    let bad = get("/?state=sleeping").await.unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    assert!(bad.text().await.unwrap().contains("is not a session state"));
}

/// The `href` of the link with `id`.
fn hidden_href(html: &str, id: &str) -> String {
    let marker = format!("id=\"{id}\"");
    let at = html.find(&marker).unwrap_or_else(|| panic!("no #{id}"));
    let start = html[..at].rfind("href=\"").unwrap() + 6;
    html[start..]
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&")
}

async fn the_live_stream_resumes_after_the_last_event_seen(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let http = client();
    let cookie = sign_in(&app, &http).await;
    let s = new_session(&app.store, "d-live").await;
    for i in 0..3 {
        app.store
            .append_event(
                s.id,
                EventBody::Thought {
                    text: format!("step {i}"),
                },
            )
            .await
            .unwrap();
    }
    let open = |last: Option<&str>| {
        let mut request = http
            .get(app.url(&format!("/sessions/{}/live?after=0", s.id)))
            .header(COOKIE, cookie.as_str());
        if let Some(last) = last {
            request = request.header("last-event-id", last);
        }
        request.send()
    };
    let logged = app.store.events_after(s.id, 0, 100).await.unwrap().len() as u64;
    let mut stream = SseReader::new(open(None).await.unwrap());
    let ids: Vec<String> = within("the logged items", async {
        let mut ids = Vec::new();
        while (ids.len() as u64) < logged {
            let event = next_item(&mut stream).await;
            ids.push(event.id.unwrap());
        }
        ids
    })
    .await;
    let expected: Vec<String> = (1..=logged).map(|n| n.to_string()).collect();
    assert_eq!(ids, expected);
    // One more while the page watches.
    app.store
        .append_event(
            s.id,
            EventBody::Thought {
                text: "step 3".into(),
            },
        )
        .await
        .unwrap();
    let live = within("the new item", next_item(&mut stream)).await;
    assert_eq!(live.id, Some((logged + 1).to_string()));
    assert!(live.data.contains("step 3"));
    drop(stream);
    // A browser that reconnects says the last event it got: only what came after.
    app.store
        .append_event(
            s.id,
            EventBody::Thought {
                text: "step 4".into(),
            },
        )
        .await
        .unwrap();
    let last = (logged + 1).to_string();
    let mut resumed = SseReader::new(open(Some(&last)).await.unwrap());
    let event = within("the next item", next_item(&mut resumed)).await;
    assert_eq!(event.id, Some((logged + 2).to_string()));
    assert!(event.data.contains("step 4"));
    assert!(event.data.contains(&format!("id=\"event-{}\"", logged + 2)));
}

async fn next_item(stream: &mut SseReader) -> crate::harness::Sse {
    loop {
        let event = stream.next().await.expect("the stream ended");
        if event.event.as_deref() == Some("item") {
            return event;
        }
    }
}

async fn going_back_from_the_page_is_refused_from_elsewhere_and_needs_a_step_number(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let s = new_session(&app.store, "d-revert-page").await;
    let http = client();
    let cookie = sign_in(&app, &http).await;
    let page = http
        .get(app.url(&format!("/sessions/{}", s.id)))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    let html = page.text().await.unwrap();
    assert!(html.contains("Undo the last step") && html.contains("Back to step"));
    let token = hidden(&html, "form");
    let revert = app.url(&format!("/sessions/{}/revert", s.id));
    let form = |step: &'static str| {
        [
            ("form", token.clone()),
            ("once", "k1".into()),
            ("checkpoint", step.into()),
        ]
    };
    let evil = http
        .post(&revert)
        .header(COOKIE, &cookie)
        .header(ORIGIN, "http://evil.example")
        .form(&form("1"))
        .send()
        .await
        .unwrap();
    assert_eq!(evil.status().as_u16(), 403);
    let bad = http
        .post(&revert)
        .header(COOKIE, &cookie)
        .form(&form("two"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    assert!(
        bad.text()
            .await
            .unwrap()
            .contains("A step is a whole number")
    );
    let logged = app.store.events_after(s.id, 0, 100).await.unwrap();
    assert!(
        !logged
            .iter()
            .any(|e| matches!(e.body, EventBody::RevertAsked { .. })),
        "nothing asked"
    );
}
