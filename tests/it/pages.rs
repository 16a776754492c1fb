//! lucid's pages in a real headless Chromium, against the real `lucid serve` with the
//! fake model, the fake GitHub and real sandboxes: the list, a session page filling
//! live, reloading mid-session, starting, messaging and stopping from the page, share
//! links, and hostile text. Each test saves screenshots (see `browser`).

use crate::browser::Browser;
use crate::fake_llm::Reply;
use crate::rig::{API_TOKEN, Lucid, REPO, comment_payload, fixing_script, within_command};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// A browser signed in to `lucid`.
async fn signed_in(lucid: &Lucid, test: &str) -> Browser {
    let browser = Browser::start(test).await;
    browser.sign_in(&lucid.url, API_TOKEN).await;
    browser
}

/// Starts a session through the API; answers its id.
async fn start_by_api(lucid: &Lucid, task: &str) -> String {
    let (status, body) = lucid
        .api_post("/sessions", &json!({"task": task, "repo": REPO}), None)
        .await;
    assert_eq!(status, 201, "{body}");
    body["session"].as_str().unwrap().to_owned()
}

/// The event numbers the page shows, in order.
async fn shown_seqs(browser: &Browser) -> Vec<u64> {
    let seqs = browser
        .js("return [...document.querySelectorAll('#timeline > li')].map(li => Number(li.dataset.seq))")
        .await;
    serde_json::from_value(seqs).unwrap()
}

/// The event numbers the page should show: every event but usage totals.
async fn expected_seqs(lucid: &Lucid, id: &str) -> Vec<u64> {
    lucid
        .events(id)
        .await
        .iter()
        .filter(|e| e["kind"] != "usage")
        .map(|e| e["seq"].as_u64().unwrap())
        .collect()
}

async fn until_finished(browser: &Browser) {
    browser
        .until(
            "the page to show the session finished",
            "return document.getElementById('session').dataset.finished === 'true' \
             && document.getElementById('live').textContent === 'Finished'",
        )
        .await;
}

/// Starts a session with the list page's form; answers its id once its page shows.
async fn start_from_the_form(browser: &Browser, task: &str) -> String {
    browser.click("#new-session summary").await;
    browser.type_into("#new-repo", REPO).await;
    browser.type_into("#new-task", task).await;
    browser.click("#start").await;
    browser
        .until(
            "the new session's page",
            "return !!document.getElementById('timeline')",
        )
        .await;
    let url = browser.client.current_url().await.unwrap().to_string();
    session_of(&url)
}

fn session_of(url: &str) -> String {
    url.rsplit("/sessions/")
        .next()
        .unwrap()
        .split(['?', '#'])
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_started_from_the_form_fills_live_to_its_pr_card_and_the_list_shows_it() {
    let lucid = Lucid::start(fixing_script()).await;
    let browser = signed_in(&lucid, "start_from_the_form").await;
    browser.screenshot("empty-list").await;
    assert!(browser.text("#empty").await.is_some());

    let id = start_from_the_form(&browser, "fix add() in calc.py").await;
    // Marks this page: a reload would lose the mark.
    browser.js("window.stayedHere = true").await;
    let first_shown = shown_seqs(&browser).await.len();

    browser
        .until(
            "the pull request's card",
            "return !!document.querySelector('#timeline .pr-card a')",
        )
        .await;
    until_finished(&browser).await;
    browser.screenshot("session-done").await;
    assert_eq!(browser.js("return window.stayedHere === true").await, true);
    let expected = expected_seqs(&lucid, &id).await;
    assert!(
        first_shown < expected.len(),
        "the page was opened with {first_shown} of {} events: it did not fill live",
        expected.len()
    );
    assert_eq!(shown_seqs(&browser).await, expected);
    let pr = lucid.github.pulls(REPO);
    assert_eq!(pr.len(), 1);
    let card = browser.text("#timeline .pr-card").await.unwrap();
    assert!(
        card.contains(&format!("Pull request #{}", pr[0].number)),
        "{card}"
    );
    assert_eq!(browser.text("#state").await.unwrap(), "Done");
    let header_pr = browser
        .js("const a = document.querySelector('#head-pr:not([hidden]) a'); return a && a.href")
        .await;
    let pr_url = lucid.api(&format!("/sessions/{id}")).await["pr_url"].clone();
    assert_eq!(header_pr, pr_url, "the header links the PR once it exists");
    // The command, its output folded with its exit status, the edit as a diff.
    let timeline = browser.text("#timeline").await.unwrap();
    assert!(timeline.contains("$ python3 test_calc.py"), "{timeline}");
    assert!(
        timeline.contains("exit 1") && timeline.contains("exit 0"),
        "{timeline}"
    );
    assert_eq!(browser.count("#timeline .diff .add").await, 1);
    assert_eq!(browser.count("#timeline .diff .del").await, 1);

    // The list: the session with its state, platform, repository, PR; filters.
    browser.goto(&lucid.url).await;
    let row = browser
        .text(&format!("tr[data-session='{id}']"))
        .await
        .unwrap();
    for words in [
        "fix add() in calc.py",
        "Done",
        "lucid",
        REPO,
        "operator",
        "Pull request",
    ] {
        assert!(row.contains(words), "{words:?} missing from {row:?}");
    }
    browser.screenshot("list").await;
    browser
        .goto(&format!("{}/?platform=web&repo={REPO}", lucid.url))
        .await;
    assert_eq!(browser.count("tr.session-row").await, 1);
    browser.goto(&format!("{}/?state=failed", lucid.url)).await;
    assert_eq!(browser.count("tr.session-row").await, 0);
    assert!(
        browser
            .text("#empty")
            .await
            .unwrap()
            .contains("No sessions match")
    );

    // On a phone: the list as cards, the session page in one column.
    let phone = Browser::phone("start_from_the_form").await;
    phone.sign_in(&lucid.url, API_TOKEN).await;
    phone.screenshot("phone-list").await;
    phone.goto(&format!("{}/sessions/{id}", lucid.url)).await;
    until_finished(&phone).await;
    let overflow = phone
        .js("return document.documentElement.scrollWidth <= window.innerWidth + 1")
        .await;
    assert_eq!(overflow, true, "the session page is wider than the phone");
    phone.screenshot("phone-session").await;

    // In a dark colour scheme: dark page, light words.
    let dark = Browser::dark("start_from_the_form").await;
    dark.sign_in(&lucid.url, API_TOKEN).await;
    dark.goto(&format!("{}/sessions/{id}", lucid.url)).await;
    until_finished(&dark).await;
    let colours = dark
        .js("const s = getComputedStyle(document.body); return [s.backgroundColor, s.color]")
        .await;
    assert_eq!(colours, json!(["rgb(15, 18, 22)", "rgb(227, 231, 236)"]));
    dark.screenshot("dark-session").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn reloading_mid_session_resumes_without_duplicates_or_gaps() {
    let lucid = Lucid::start(vec![
        Reply::tool_call("c1", "run", r#"{"command": "echo one"}"#).saying("First, one."),
        Reply::tool_call("c2", "run", r#"{"command": "sleep 2; echo two"}"#),
        Reply::tool_call("c3", "run", r#"{"command": "echo three"}"#),
        Reply::tool_call("c4", "finish", r#"{"summary": "Counted to three"}"#),
    ])
    .await;
    let id = start_by_api(&lucid, "count").await;
    let browser = signed_in(&lucid, "reload_mid_session").await;
    browser.goto(&format!("{}/sessions/{id}", lucid.url)).await;
    within_command(&lucid, &id, "sleep 2").await;
    browser
        .until(
            "the sleeping command on the page",
            "return document.getElementById('timeline').textContent.includes('sleep 2')",
        )
        .await;
    browser.screenshot("before-reload").await;
    browser.client.refresh().await.unwrap();
    until_finished(&browser).await;
    browser.screenshot("after-reload").await;
    let shown = shown_seqs(&browser).await;
    assert_eq!(shown, expected_seqs(&lucid, &id).await);
    let timeline = browser.text("#timeline").await.unwrap();
    assert_eq!(timeline.matches("$ echo three").count(), 1, "{timeline}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_follow_up_from_the_page_reaches_the_agent() {
    let mut script = fixing_script();
    script.push(Reply::tool_call(
        "c9",
        "finish",
        r#"{"summary": "subtract() is fine too"}"#,
    ));
    let lucid = Lucid::start(script).await;
    let id = start_by_api(&lucid, "fix add()").await;
    let browser = signed_in(&lucid, "follow_up").await;
    browser.goto(&format!("{}/sessions/{id}", lucid.url)).await;
    until_finished(&browser).await;
    assert_eq!(browser.text("#send").await.unwrap(), "Send and resume");
    browser
        .type_into("#follow-up-text", "check subtract() too")
        .await;
    browser.click("#send").await;
    browser
        .until(
            "the message on the page",
            "return document.getElementById('timeline').textContent.includes('check subtract() too')",
        )
        .await;
    lucid
        .until_session(&id, "the session to finish again", |s| {
            s["reason"] == "subtract() is fine too"
        })
        .await;
    assert!(lucid.llm.heard("check subtract() too"));
    browser
        .until(
            "the second ending on the page",
            "return document.getElementById('timeline').textContent.includes('subtract() is fine too')",
        )
        .await;
    let said = browser.text("#timeline .ev-user_message").await.unwrap();
    assert!(said.contains("operator said"), "{said}");
    browser.screenshot("resumed").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn stop_on_the_page_ends_a_running_session_within_two_seconds() {
    let lucid = Lucid::start(vec![Reply::tool_call(
        "c1",
        "run",
        r#"{"command": "echo working; sleep 300"}"#,
    )])
    .await;
    let id = start_by_api(&lucid, "run the slow thing").await;
    let browser = signed_in(&lucid, "stop").await;
    browser.goto(&format!("{}/sessions/{id}", lucid.url)).await;
    within_command(&lucid, &id, "sleep 300").await;
    browser
        .until(
            "the command on the page",
            "return document.getElementById('timeline').textContent.includes('sleep 300')",
        )
        .await;
    let clicked = Instant::now();
    browser.click("#stop").await;
    browser
        .until(
            "the page to show it stopped",
            "return document.getElementById('state').textContent === 'Stopped'",
        )
        .await;
    let took = clicked.elapsed();
    browser.screenshot("stopped").await;
    assert!(took < Duration::from_secs(2), "stopping took {took:?}");
    let session = lucid.api(&format!("/sessions/{id}")).await;
    assert_eq!(session["state"], "cancelled");
    assert_eq!(browser.count("#stop-form:not([hidden])").await, 0);
}

/// The session link in lucid's progress comment on issue 7.
fn posted_link(lucid: &Lucid) -> Option<String> {
    let prefix = format!("{}/sessions/", lucid.url);
    lucid.github.comments(REPO, 7).iter().find_map(|c| {
        let start = c.body.find(&prefix)?;
        let link: String = c.body[start..]
            .chars()
            .take_while(|ch| ch.is_ascii_alphanumeric() || ":/.?=&-_".contains(*ch))
            .collect();
        Some(link)
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_share_link_opens_the_page_without_signing_in_until_it_is_revoked() {
    let lucid = Lucid::start(fixing_script()).await;
    let comment = lucid
        .github
        .add_comment(REPO, 7, "ada", "@lucid please fix add()");
    let payload = comment_payload(
        7,
        "add() subtracts",
        comment,
        "ada",
        "@lucid please fix add()",
    );
    let (status, answer) = lucid.deliver("issue_comment", "d-share-1", &payload).await;
    assert_eq!(status, 202, "{answer}");
    let id = answer["session"].as_str().unwrap().to_owned();
    lucid
        .until_session(&id, "the session to finish", |s| s["state"] == "completed")
        .await;
    let link = crate::harness::within("the progress comment's link", async {
        loop {
            if let Some(link) = posted_link(&lucid) {
                return link;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(link.contains(&format!("/sessions/{id}?share=")), "{link}");
    let pulls = lucid.github.pulls(REPO);
    assert!(
        pulls[0].body.as_deref().unwrap_or_default().contains(&link),
        "the pull request links the page too: {:?}",
        pulls[0].body
    );

    // Someone who never signed in: the page, read-only, live stream included.
    let reader = Browser::start("share_link").await;
    reader.goto(&link).await;
    until_finished(&reader).await;
    assert!(reader.text("#read-only").await.is_some());
    assert_eq!(reader.count("#controls").await, 0);
    assert_eq!(reader.count("#share").await, 0);
    assert_eq!(shown_seqs(&reader).await, expected_seqs(&lucid, &id).await);
    reader.screenshot("shared").await;

    // Without the token, or with a wrong one: nothing of the session shows.
    let page = format!("{}/sessions/{id}", lucid.url);
    for (url, status) in [
        (page.clone(), 401),
        (format!("{page}?share=not-the-token"), 404),
        (format!("{page}/live"), 401),
        (format!("{page}/live?share=not-the-token"), 404),
    ] {
        let response = lucid.http.get(&url).send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{url}");
        let body = response.text().await.unwrap();
        assert!(
            !body.contains("please fix add()") && !body.contains("test_calc"),
            "{url}: {body}"
        );
    }

    let revoked = lucid
        .http
        .delete(format!("{}/api/v1/sessions/{id}/share", lucid.url))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status().as_u16(), 204);
    reader.client.refresh().await.unwrap();
    assert_eq!(reader.count("#timeline").await, 0);
    let notice = reader.text("#notice").await.unwrap_or_default();
    assert!(notice.contains("revoked"), "{notice}");
    reader.screenshot("revoked").await;
    let status = lucid.http.get(&link).send().await.unwrap().status();
    assert_eq!(status.as_u16(), 404);

    // A new link made by the operator opens it again; the revoked one stays off.
    let (status, made) = lucid
        .api_post(&format!("/sessions/{id}/share"), &Value::Null, None)
        .await;
    assert_eq!(status, 201, "{made}");
    let fresh = made["url"].as_str().unwrap();
    assert_eq!(lucid.http.get(fresh).send().await.unwrap().status(), 200);
    assert_eq!(lucid.http.get(&link).send().await.unwrap().status(), 404);

    // The same from the page: a new link, shown once, then every link revoked.
    let operator = signed_in(&lucid, "share_link").await;
    operator.goto(&page).await;
    assert_eq!(
        operator.count("#share-link").await,
        0,
        "the posted link is revoked"
    );
    operator.click("#make-share").await;
    operator
        .until(
            "the new link",
            "return !!document.getElementById('new-share-link')",
        )
        .await;
    operator.screenshot("new-link").await;
    let made_on_page = operator
        .js("return document.getElementById('new-share-link').value")
        .await;
    let made_on_page = made_on_page.as_str().unwrap().to_owned();
    assert!(
        made_on_page.starts_with(&format!("{page}?share=")),
        "{made_on_page}"
    );
    assert_eq!(
        lucid.http.get(&made_on_page).send().await.unwrap().status(),
        200
    );
    operator.click("#revoke").await;
    operator
        .until(
            "the page again, without the new link",
            "return !document.getElementById('new-share-link') && !!document.getElementById('make-share')",
        )
        .await;
    for revoked in [fresh, made_on_page.as_str()] {
        let status = lucid.http.get(revoked).send().await.unwrap().status();
        assert_eq!(status.as_u16(), 404, "{revoked}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_script_in_a_task_an_output_and_a_diff_renders_as_text_and_runs_nothing() {
    let lucid = Lucid::start(vec![
        Reply::tool_call(
            "c1",
            "run",
            r#"{"command": "echo '<script>window.fromOutput=1</script><img src=x onerror=window.fromImg=1>'"}"#,
        ),
        Reply::tool_call(
            "c2",
            "edit_file",
            r#"{"path": "calc.py", "old_text": "return a - b", "new_text": "return a + b  # <script>window.fromDiff=1</script>"}"#,
        ),
        Reply::tool_call("c3", "finish", r#"{"summary": "<script>window.fromSummary=1</script>"}"#),
    ])
    .await;
    let task = "fix add() <script>window.fromTask=1</script>";
    let id = start_by_api(&lucid, task).await;
    let browser = signed_in(&lucid, "hostile_text").await;
    browser.goto(&format!("{}/sessions/{id}", lucid.url)).await;
    until_finished(&browser).await;
    browser.client.refresh().await.unwrap();
    until_finished(&browser).await;
    browser.screenshot("session").await;
    let ran = browser
        .js("return [window.fromOutput, window.fromImg, window.fromDiff, window.fromSummary, window.fromTask].filter(x => x !== undefined).length")
        .await;
    assert_eq!(ran, 0);
    let output = browser
        .js("return document.querySelector('#timeline .ev-output pre').textContent")
        .await;
    assert_eq!(
        output.as_str().unwrap().trim(),
        "<script>window.fromOutput=1</script><img src=x onerror=window.fromImg=1>"
    );
    let timeline = browser.text("#timeline").await.unwrap();
    assert!(
        timeline.contains("# <script>window.fromDiff=1</script>"),
        "{timeline}"
    );
    assert_eq!(browser.text("#title").await.unwrap(), task);
    browser.goto(&lucid.url).await;
    assert!(browser.text("#sessions").await.unwrap().contains(task));
    assert_eq!(
        browser.js("return window.fromTask === undefined").await,
        true
    );
    browser.screenshot("list").await;
    let response = lucid
        .http
        .get(format!("{}/sessions/{id}", lucid.url))
        .send()
        .await
        .unwrap();
    let policy = response.headers()["content-security-policy"]
        .to_str()
        .unwrap();
    assert!(
        policy.contains("script-src 'self'") && !policy.contains("unsafe-inline"),
        "{policy}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pages_work_in_firefox_too() {
    let lucid = Lucid::start(fixing_script()).await;
    let browser = Browser::firefox("firefox").await;
    browser.sign_in(&lucid.url, API_TOKEN).await;
    let id = start_from_the_form(&browser, "fix add() in calc.py").await;
    browser
        .until(
            "the pull request's card",
            "return !!document.querySelector('#timeline .pr-card a')",
        )
        .await;
    until_finished(&browser).await;
    assert_eq!(shown_seqs(&browser).await, expected_seqs(&lucid, &id).await);
    assert_eq!(browser.text("#state").await.unwrap(), "Done");
    browser.screenshot("session").await;
    browser.goto(&lucid.url).await;
    assert_eq!(browser.count("tr.session-row").await, 1);
    browser.screenshot("list").await;
}
