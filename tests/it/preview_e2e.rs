//! Live previews with the real `lucid serve`, the fake Slack and model, and a real
//! sandbox on the default (registries) network: a server the agent starts in the sandbox answers at
//! `/preview/<session>/` with the session's share token, 404 without it, its link
//! is posted in the thread once however often it is asked for, and it is gone with
//! the sandbox.

use crate::fake_llm::Reply;
use crate::harness::within;
use crate::rig::{ADA, BOT_USER, CHANNEL, Lucid, slack_message, within_command};
use serde_json::json;

/// A page and an echo of the request's headers, served in the sandbox.
const SERVER: &str = r#"import http.server, json
class Page(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        if not self.path.startswith('/echo'):
            return super().do_GET()
        body = json.dumps(dict(self.headers)).encode()
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Set-Cookie', 'app=1')
        self.end_headers()
        self.wfile.write(body)
http.server.ThreadingHTTPServer(('0.0.0.0', 8000), lambda *a: Page(*a, directory='site')).serve_forever()
"#;

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The preview link in a Slack message: `<url|open the preview>`.
fn preview_link(text: &str) -> Option<String> {
    let at = text.find("/preview/")?;
    let start = text[..at].rfind('<')? + 1;
    let end = start + text[start..].find('|')?;
    Some(text[start..end].to_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_in_the_sandbox_is_previewed_with_the_share_token_and_gone_with_the_sandbox() {
    let serve = "mkdir -p site && echo '<h1>calc preview</h1>' > site/index.html \
                 && (setsid python3 server.py >/dev/null 2>&1 &) && echo serving";
    let lucid = Lucid::start_setting(
        vec![
            Reply::tool_call(
                "p0",
                "write_file",
                &json!({ "path": "server.py", "content": SERVER }).to_string(),
            ),
            Reply::tool_call("p1", "run", &json!({ "command": serve }).to_string()),
            Reply::tool_call("p2", "preview", r#"{"port": 8000}"#),
            // Keeps the sandbox up until the session is stopped.
            Reply::tool_call(
                "p3",
                "run",
                r#"{"command": "until [ -e never ]; do sleep 0.2; done"}"#,
            ),
        ],
        &[],
    )
    .await;
    let slack = &lucid.slack;
    let ts = "1700000050.000100";
    let text = format!("<@{BOT_USER}> show me the site");
    let mention = slack_message("app_mention", CHANNEL, ADA, ts, None, &text);
    let (status, answer) = lucid.slack_event(&mention, None).await;
    assert_eq!(status, 200, "{answer}");
    let id = answer["session"].as_str().unwrap().to_owned();
    within_command(&lucid, &id, "until [").await;

    // Asked again from the thread, for the same port: nothing new is posted.
    let text = format!("<@{BOT_USER}> preview 8000");
    let again = slack_message(
        "app_mention",
        CHANNEL,
        ADA,
        "1700000050.000200",
        Some(ts),
        &text,
    );
    let (status, answer) = lucid.slack_event(&again, None).await;
    assert_eq!(
        (status, &answer["as"]),
        (200, &json!("preview")),
        "{answer}"
    );

    let link = slack
        .wait_until("the preview's link in the thread", |s| {
            s.thread(CHANNEL, ts)
                .iter()
                .find_map(|m| preview_link(&m.text))
        })
        .await;
    assert!(link.contains(&format!("/preview/{id}/?share=")), "{link}");
    let http = no_redirects();
    // The entry sends the browser on to an address that keeps the token.
    let entry = http.get(&link).send().await.unwrap();
    assert_eq!(entry.status().as_u16(), 303);
    let location = entry.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with(&format!("/preview/{id}/~")),
        "{location}"
    );
    let page_url = format!("{}{location}", lucid.url);
    let page = within("the preview to answer", async {
        loop {
            let answer = http.get(&page_url).send().await.unwrap();
            if answer.status() == 200 {
                return answer;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    })
    .await;
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(policy.starts_with("sandbox "), "{policy}");
    assert!(!policy.contains("allow-same-origin"), "{policy}");
    assert!(page.text().await.unwrap().contains("<h1>calc preview</h1>"));

    // lucid's cookies, credentials and the referrer (it may hold the token) never
    // reach the sandbox; the page's cookies never reach the browser.
    let echo = http
        .get(format!("{page_url}echo"))
        .header("cookie", "lucid_signin=secret-cookie")
        .header("authorization", "Bearer secret-token")
        .header("referer", &link)
        .header("x-kept", "yes")
        .send()
        .await
        .unwrap();
    assert_eq!(echo.status().as_u16(), 200);
    assert!(echo.headers().get("set-cookie").is_none());
    let seen: serde_json::Value = echo.json().await.unwrap();
    let seen = seen.to_string().to_ascii_lowercase();
    assert!(seen.contains("\"x-kept\""), "{seen}");
    for gone in ["cookie", "authorization", "referer", "secret"] {
        assert!(!seen.contains(gone), "{gone} reached the sandbox: {seen}");
    }

    // Without the token, or with another, nothing.
    for path in [
        format!("/preview/{id}/"),
        format!("/preview/{id}/?share=not-a-token"),
        format!("/preview/{id}/~not-a-token/"),
        format!("/preview/{id}/index.html"),
    ] {
        let answer = http
            .get(format!("{}{path}", lucid.url))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), 404, "{path}");
    }
    let posted = slack
        .thread(CHANNEL, ts)
        .iter()
        .filter(|m| m.text.contains("/preview/"))
        .count();
    assert_eq!(posted, 1, "the link is posted once");

    // Stopped, the sandbox goes, and the preview with it.
    let (status, _) = lucid
        .api_post(&format!("/sessions/{id}/stop"), &json!({}), None)
        .await;
    assert_eq!(status, 200);
    within("the preview to close", async {
        loop {
            let answer = http.get(&page_url).send().await.unwrap();
            if answer.status() == 404 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    })
    .await;
}
