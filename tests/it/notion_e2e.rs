//! Notion end to end: the real `lucid serve` against the fake Notion (REST, limits
//! and refusals, signed webhooks), the fake GitHub, a fake model and the real Docker
//! sandbox. A task page moved to the trigger status becomes a session; the page shows
//! In progress, comments, then In review with the pull request's URL. Every test also
//! checks that lucid sent Notion nothing it would refuse or should never send.

use crate::fake_llm::Reply;
use crate::fake_notion::{BlockSpec, FakeNotion, NewPage};
use crate::rig::{LLM_KEY, Lucid, NOTION_TOKEN, REPO, TOKEN, fixing_script, within_command};
use serde_json::Value;
use std::time::Duration;

const TRIGGER: &str = "Ready for agent";

fn state(session: &Value) -> &str {
    session["state"].as_str().unwrap_or_default()
}

/// A task page for acme/calc, made by `by`, in no status yet.
fn task_page(lucid: &Lucid, by: &str) -> String {
    lucid.notion.add_page(
        &lucid.notion_db.data_source_id,
        NewPage {
            title: "Fix add() in calc.py".into(),
            status: None,
            repo: Some(REPO.into()),
            blocks: vec![
                BlockSpec::Paragraph("add() subtracts; make test_calc.py pass.".into()),
                BlockSpec::Toggle(
                    "Details".into(),
                    vec![BlockSpec::Bulleted("keep the signature".into())],
                ),
            ],
            by: Some(by.to_owned()),
        },
    )
}

/// With webhooks on, Ada makes a task page and moves it to the trigger status.
async fn task_moved_by_webhook(lucid: &Lucid) -> (String, String) {
    let notion = &lucid.notion;
    notion.enable_webhooks(&lucid.notion_url());
    let ada = notion.add_person("Ada Lovelace");
    let page = task_page(lucid, &ada);
    assert_eq!(notion.move_page(&page, TRIGGER, &ada).await, Some(200));
    (ada, page)
}

async fn until_status(notion: &FakeNotion, page: &str, status: &str) {
    notion
        .wait_until(&format!("the page to show {status}"), |n| {
            (n.status_of(page).as_deref() == Some(status)).then_some(())
        })
        .await;
}

/// The comments lucid made on `page`, in order.
fn lucid_comments(notion: &FakeNotion, page: &str) -> Vec<String> {
    notion
        .comments(page)
        .into_iter()
        .filter(|c| c.author == notion.bot().id)
        .map(|c| c.text)
        .collect()
}

/// Nothing refused or unexpected; every property write of lucid's wrote the status
/// as a status, by name.
fn assert_clean(notion: &FakeNotion) {
    let calls = notion.calls();
    let start = calls.first().map(|c| c.at);
    let timeline: Vec<String> = calls
        .iter()
        .map(|c| {
            let ms = start.map_or(0, |s| c.at.duration_since(s).as_millis());
            format!("{ms:>6} ms {} {} -> {}", c.method, c.path, c.status)
        })
        .collect();
    assert!(
        notion.unexpected().is_empty(),
        "unexpected: {:#?}\n{}",
        notion.unexpected(),
        timeline.join("\n")
    );
    let refused: Vec<_> = notion
        .calls()
        .into_iter()
        .filter(|c| c.status >= 400 && c.status != 429 && c.status != 529)
        .collect();
    assert!(refused.is_empty(), "refused: {refused:#?}");
    for write in notion.writes() {
        if write.by == notion.bot().id
            && let Some(status) = write.properties.get("Status")
        {
            assert!(status.get("select").is_none(), "{write:#?}");
            assert!(status["status"]["name"].is_string(), "{write:#?}");
        }
    }
}

fn assert_no_secrets(lucid: &Lucid) {
    let log = lucid.log();
    for secret in [TOKEN, LLM_KEY, NOTION_TOKEN] {
        assert!(!log.contains(secret), "a secret is in the log");
        for comment in lucid.notion.comments_all() {
            assert!(!comment.text.contains(secret), "a secret in a comment");
        }
    }
}

/// Waits until lucid's log (read from its output as it comes) holds `text`.
async fn until_logged(lucid: &Lucid, text: &str) {
    crate::harness::within("a line in lucid's log", async {
        while !lucid.log().contains(text) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

async fn until_completed(lucid: &Lucid, session: &str) -> Value {
    lucid
        .until_session(session, "the session to finish", |s| {
            state(s) == "completed"
        })
        .await
}

/// Waits until lucid has polled the task database twice more.
async fn until_two_polls(notion: &FakeNotion) {
    let queries = |n: &FakeNotion| n.calls_to("POST", "/v1/data_sources/").len();
    let before = queries(notion);
    notion
        .wait_until("two more polls", |n| {
            (queries(n) >= before + 2).then_some(())
        })
        .await;
}

async fn only_session(lucid: &Lucid) -> String {
    let sessions = lucid.sessions().await;
    assert_eq!(sessions.len(), 1, "{sessions:#?}");
    sessions[0]["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn by_webhook_a_page_moved_to_the_trigger_goes_in_progress_then_in_review_with_its_pr() {
    let lucid =
        Lucid::start_notion_with(fixing_script(), &[("LUCID_NOTION_POLL_INTERVAL", "off")]).await;
    let notion = &lucid.notion;
    let url = lucid.notion_url();

    // The subscription's verification request is answered, and its token logged for
    // the operator to paste back into Notion.
    assert_eq!(notion.deliver_verification(&url).await, Some(200));
    until_logged(&lucid, notion.verification_token()).await;
    notion.enable_webhooks(&url);

    let ada = notion.add_person("Ada Lovelace");
    let page = task_page(&lucid, &ada);
    assert_eq!(notion.move_page(&page, TRIGGER, &ada).await, Some(200));
    let moved = notion.deliveries().last().unwrap().body.clone();
    // The same event again is one session; a forged one is refused and kept nowhere.
    assert_eq!(notion.deliver(&url, &moved).await, Some(200));
    let mut forged = moved.clone();
    forged["id"] = "forged-event".into();
    assert_eq!(notion.deliver_badly_signed(&url, &forged).await, Some(401));
    assert_eq!(notion.deliver_unsigned(&url, &forged).await, Some(401));
    // Nothing of them was kept: the same event, signed, is new to lucid.
    let signed = |body: &[u8]| crate::fake_notion::signature(notion.verification_token(), body);
    let forged_body = serde_json::to_vec(&forged).unwrap();
    let kept = lucid
        .http
        .post(&url)
        .header("X-Notion-Signature", signed(&forged_body))
        .header("content-type", "application/json")
        .body(forged_body)
        .send()
        .await
        .unwrap();
    assert_eq!(kept.status().as_u16(), 200);
    assert_eq!(kept.json::<Value>().await.unwrap()["queued"], "page");
    // A signed body that is no event is a 400 with the reason.
    let body = br#"{"id": "e-bad", "type": "page.properties_updated"}"#.to_vec();
    let signature = signed(&body);
    let bad = lucid
        .http
        .post(&url)
        .header("X-Notion-Signature", signature)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    let reason = bad.json::<Value>().await.unwrap();
    assert!(
        reason["error"].as_str().unwrap().contains("entity"),
        "{reason}"
    );

    until_status(notion, &page, "In progress").await;
    let session = only_session(&lucid).await;
    let done = until_completed(&lucid, &session).await;
    let pr_url = done["pr_url"].as_str().expect("a pull request").to_owned();
    assert_eq!(lucid.github.pulls(REPO).len(), 1);
    until_status(notion, &page, "In review").await;
    notion
        .wait_until("the PR's URL in its property", |n| {
            (n.property(&page, "PR")? == pr_url.as_str()).then_some(())
        })
        .await;

    // The task the agent got: the title, the content read recursively, the page.
    assert!(lucid.llm.heard("Notion task: Fix add() in calc.py"));
    assert!(lucid.llm.heard("make test_calc.py pass"));
    assert!(lucid.llm.heard("keep the signature"));

    // The page's comments: the opening with the session's link, the key moments, the
    // ending with the summary and the PR's link, once.
    let comments = notion
        .wait_until("the ending on the page", |n| {
            let comments = lucid_comments(n, &page);
            comments
                .iter()
                .any(|c| c.contains("Done."))
                .then_some(comments)
        })
        .await;
    let all = comments.join("\n---\n");
    assert!(comments[0].contains("On it."), "{all}");
    assert!(
        comments[0].contains(&format!("Session {}", &session[..8])),
        "{all}"
    );
    assert!(all.contains("python3 test_calc.py"), "{all}");
    assert!(all.contains("return a + b"), "{all}");
    assert!(all.contains("Make add() add"), "{all}");
    assert_eq!(all.matches("Pull request").count(), 1, "{all}");
    assert!(comments.len() <= 5, "a noisy page: {all}");
    let link = notion
        .comments(&page)
        .into_iter()
        .find(|c| c.text.contains("Pull request"))
        .unwrap();
    assert!(link.rich_text.to_string().contains(&pr_url));

    // lucid's own writes came back as events, and started nothing.
    let own = notion
        .deliveries()
        .into_iter()
        .filter(|d| d.body["authors"].to_string().contains(&notion.bot().id))
        .count();
    assert!(own >= 2, "the fake sent lucid's own changes back");
    assert_eq!(lucid.sessions().await.len(), 1);
    assert_clean(notion);
    assert_no_secrets(&lucid);
}

#[tokio::test(flavor = "multi_thread")]
async fn by_polling_a_page_starts_once_across_a_restart_and_again_when_moved_back() {
    let mut script = fixing_script();
    script.push(Reply::tool_call(
        "c8",
        "finish",
        r#"{"summary": "Looked at subtract(): fine"}"#,
    ));
    script.push(Reply::tool_call(
        "c9",
        "finish",
        r#"{"summary": "Checked again: nothing to change"}"#,
    ));
    let mut lucid = Lucid::start_notion_with(
        script,
        &[
            ("LUCID_NOTION_POLL_INTERVAL", "1s"),
            ("LUCID_NOTION_WEBHOOK_SECRET", ""),
        ],
    )
    .await;
    let ada = lucid.notion.add_person("Ada Lovelace");
    let page = task_page(&lucid, &ada);
    // No webhooks: Notion cannot reach this lucid.
    assert_eq!(lucid.notion.move_page(&page, TRIGGER, &ada).await, None);
    until_status(&lucid.notion, &page, "In progress").await;
    let session = only_session(&lucid).await;
    until_completed(&lucid, &session).await;
    until_status(&lucid.notion, &page, "In review").await;

    // A comment to lucid is found by the poll too, and resumes the session.
    lucid
        .notion
        .mention_bot_as(&ada, &page, "look at subtract() too")
        .await;
    lucid
        .until_session(&session, "the session to finish again", |s| {
            state(s) == "completed" && s["reason"] == "Looked at subtract(): fine"
        })
        .await;
    assert!(lucid.llm.heard("look at subtract() too"));

    // Restarted, lucid polls on from where it left off and starts nothing again.
    lucid.kill();
    lucid.restart().await;
    until_two_polls(&lucid.notion).await;
    assert_eq!(lucid.sessions().await.len(), 1);
    let resumed = lucid.api(&format!("/sessions/{session}")).await;
    assert_eq!(
        resumed["reason"], "Looked at subtract(): fine",
        "the comment was taken once"
    );

    // Moved back to the trigger after its session ended: a new session.
    lucid.notion.move_page(&page, TRIGGER, &ada).await;
    let second = crate::harness::within("a second session", async {
        loop {
            let sessions = lucid.sessions().await;
            if let Some(new) = sessions.iter().find(|s| s["id"] != session.as_str()) {
                return new["id"].as_str().unwrap().to_owned();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    lucid
        .until_session(&second, "the second session to finish", |s| {
            state(s) == "completed"
        })
        .await;
    until_status(&lucid.notion, &page, "In review").await;
    assert_eq!(lucid.sessions().await.len(), 2);
    assert_clean(&lucid.notion);
    assert_no_secrets(&lucid);
}

#[tokio::test(flavor = "multi_thread")]
async fn webhooks_and_polling_together_start_a_page_once() {
    let lucid =
        Lucid::start_notion_with(fixing_script(), &[("LUCID_NOTION_POLL_INTERVAL", "1s")]).await;
    let notion = &lucid.notion;
    let (_, page) = task_moved_by_webhook(&lucid).await;
    let session = lucid.first_session().await;
    until_completed(&lucid, &session).await;
    until_status(notion, &page, "In review").await;
    // Polls after the end have seen the page too.
    until_two_polls(notion).await;
    let sessions = lucid.sessions().await;
    assert_eq!(sessions.len(), 1, "{sessions:#?}\n{}", lucid.log());
    assert_eq!(lucid.github.pulls(REPO).len(), 1);
    let openings = lucid_comments(notion, &page)
        .iter()
        .filter(|c| c.contains("On it."))
        .count();
    assert_eq!(openings, 1);
    assert_clean(notion);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_comment_to_lucid_resumes_the_session_on_its_pr() {
    let mut script = fixing_script();
    script.push(Reply::tool_call(
        "c9",
        "finish",
        r#"{"summary": "Nothing more to change"}"#,
    ));
    let lucid = Lucid::start_notion_with(script, &[("LUCID_NOTION_POLL_INTERVAL", "off")]).await;
    let notion = &lucid.notion;
    let (ada, page) = task_moved_by_webhook(&lucid).await;
    let session = lucid.first_session().await;
    let first = until_completed(&lucid, &session).await;
    until_status(notion, &page, "In review").await;

    // A comment not to lucid is nothing; one that mentions lucid takes it up again.
    notion.comment_as(&ada, &page, "looks good so far").await;
    notion
        .mention_bot_as(&ada, &page, "one more look at subtract(), please")
        .await;
    let again = lucid
        .until_session(&session, "the session to finish again", |s| {
            state(s) == "completed" && s["reason"] == "Nothing more to change"
        })
        .await;
    assert!(lucid.llm.heard("one more look at subtract(), please"));
    assert!(!lucid.llm.heard("looks good so far"));
    assert_eq!(again["pr_url"], first["pr_url"]);
    assert_eq!(lucid.github.pulls(REPO).len(), 1);
    assert_eq!(lucid.sessions().await.len(), 1);
    // The page went In progress again, then back to In review.
    let bot_statuses = |n: &FakeNotion| -> Vec<String> {
        n.writes_to(&page)
            .into_iter()
            .filter(|w| w.by == n.bot().id)
            .filter_map(|w| {
                w.properties["Status"]["status"]["name"]
                    .as_str()
                    .map(str::to_owned)
            })
            .collect()
    };
    let statuses = notion
        .wait_until("the second In review written", |n| {
            let statuses = bot_statuses(n);
            (statuses.len() >= 4).then_some(statuses)
        })
        .await;
    assert_eq!(
        statuses,
        ["In progress", "In review", "In progress", "In review"],
        "{statuses:?}"
    );
    assert_clean(notion);
}

#[tokio::test(flavor = "multi_thread")]
async fn moving_the_page_out_of_in_progress_stops_its_session() {
    let lucid = Lucid::start_notion_with(
        vec![Reply::tool_call(
            "c1",
            "run",
            r#"{"command": "echo working; sleep 300"}"#,
        )],
        &[("LUCID_NOTION_POLL_INTERVAL", "off")],
    )
    .await;
    let notion = &lucid.notion;
    let (ada, page) = task_moved_by_webhook(&lucid).await;
    let session = lucid.first_session().await;
    within_command(&lucid, &session, "sleep 300").await;
    until_status(notion, &page, "In progress").await;

    notion.move_page(&page, "Done", &ada).await;
    let stopped = lucid
        .until_session(&session, "the session to stop", |s| state(s) == "cancelled")
        .await;
    assert!(
        stopped["reason"].as_str().unwrap().contains("Ada Lovelace"),
        "{stopped}"
    );
    // The ending is said, and the page stays where Ada put it.
    notion
        .wait_until("the stop said on the page", |n| {
            lucid_comments(n, &page)
                .iter()
                .any(|c| c.contains("Stopped"))
                .then_some(())
        })
        .await;
    assert_eq!(notion.status_of(&page).as_deref(), Some("Done"));
    assert_clean(notion);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rate_limit_storm_delays_the_page_but_loses_no_write() {
    let lucid =
        Lucid::start_notion_with(fixing_script(), &[("LUCID_NOTION_POLL_INTERVAL", "off")]).await;
    let notion = &lucid.notion;
    notion.enable_webhooks(&lucid.notion_url());
    let ada = notion.add_person("Ada Lovelace");
    let page = task_page(&lucid, &ada);
    // The next requests are refused: 429s and 529s, each asking for a second.
    notion.fail_next(3, 429, 1);
    notion.fail_next(2, 529, 1);
    notion.move_page(&page, TRIGGER, &ada).await;
    let session = lucid.first_session().await;
    until_completed(&lucid, &session).await;
    until_status(notion, &page, "In review").await;
    let throttled = notion
        .calls()
        .into_iter()
        .filter(|c| c.status == 429 || c.status == 529)
        .count();
    assert_eq!(throttled, 5, "every refusal was met");
    notion
        .wait_until("the ending on the page", |n| {
            lucid_comments(n, &page)
                .iter()
                .any(|c| c.contains("Done."))
                .then_some(())
        })
        .await;
    assert!(lucid_comments(notion, &page)[0].contains("On it."));
    assert_clean(notion);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_lucid_cannot_read_fails_visibly_and_lucid_goes_on() {
    let lucid =
        Lucid::start_notion_with(fixing_script(), &[("LUCID_NOTION_POLL_INTERVAL", "off")]).await;
    let notion = &lucid.notion;
    let url = lucid.notion_url();
    let ada = notion.add_person("Ada Lovelace");
    let hidden = task_page(&lucid, &ada);
    notion.unshare(&hidden);
    let event = notion.page_properties_updated(&hidden, &ada, &["Status"]);
    assert_eq!(notion.deliver(&url, &event).await, Some(200));
    until_logged(&lucid, "cannot read a Notion task page").await;
    let log = lucid.log();
    assert!(log.contains("share it with the integration"), "{log}");
    assert!(lucid.sessions().await.is_empty());

    // A page whose content cannot be read all the way says so, and goes Blocked.
    notion.enable_webhooks(&url);
    let partly = task_page(&lucid, &ada);
    let toggle = notion.block_ids(&partly)[1].clone();
    notion.hide_children(&toggle);
    notion.move_page(&partly, TRIGGER, &ada).await;
    until_status(notion, &partly, "Blocked").await;
    let said = lucid_comments(notion, &partly);
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(said[0].contains("I could not read this page"), "{said:?}");
    assert!(
        said[0].contains("share it with the integration"),
        "{said:?}"
    );
    assert!(lucid.sessions().await.is_empty());

    // The next task is taken as usual.
    let page = task_page(&lucid, &ada);
    notion.move_page(&page, TRIGGER, &ada).await;
    until_status(notion, &page, "In progress").await;
    assert_eq!(lucid.sessions().await.len(), 1);
}

/// `lucid doctor` with Notion set up against the fake, with `extra` settings.
async fn doctor(lucid: &Lucid, extra: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_lucid"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DOCKER_HOST", crate::harness::docker_host())
        .env("DATABASE_URL", lucid.database_url())
        .env("LUCID_NOTION_TOKEN", NOTION_TOKEN)
        .env("LUCID_NOTION_DATABASES", &lucid.notion_db.database_id)
        .env("LUCID_NOTION_API_URL", &lucid.notion.api_base)
        .current_dir(dir.path())
        .arg("doctor");
    for (key, value) in extra {
        command.env(key, value);
    }
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    String::from_utf8(output.stdout).unwrap()
}

fn notion_lines(report: &str) -> Vec<&str> {
    report.lines().filter(|l| l.contains(" notion ")).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_checks_the_token_the_databases_and_shows_the_verification_token() {
    let lucid = Lucid::start_notion_with(vec![], &[]).await;
    let notion = &lucid.notion;
    assert_eq!(
        notion.deliver_verification(&lucid.notion_url()).await,
        Some(200)
    );

    // A good setup, whose webhook secret is not set yet: the token Notion sent is shown.
    let report = doctor(&lucid, &[]).await;
    let lines = notion_lines(&report);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("ok") && l.contains("bot lucid")),
        "{report}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("ok")
            && l.contains("shared")
            && l.contains("\"Ready for agent\"")),
        "{report}"
    );
    let token_line = lines
        .iter()
        .find(|l| l.contains(notion.verification_token()))
        .unwrap_or_else(|| panic!("the verification token is not shown: {report}"));
    assert!(token_line.starts_with("warn") && token_line.contains("LUCID_NOTION_WEBHOOK_SECRET"));

    // What is wrong is named, with what to do.
    let other = notion.create_database(crate::fake_notion::DatabaseSpec::default());
    notion.unshare(&other.database_id);
    let databases = format!("{},{}", lucid.notion_db.database_id, other.database_id);
    let report = doctor(
        &lucid,
        &[
            ("LUCID_NOTION_DATABASES", &databases),
            ("LUCID_NOTION_STATUS_PROPERTY", "Priority"),
            ("LUCID_NOTION_FAILED_STATUS", "Stuck"),
            ("LUCID_NOTION_WEBHOOK_SECRET", notion.verification_token()),
        ],
    )
    .await;
    assert!(
        report.contains("\"Priority\" is a select property; lucid writes a status property"),
        "{report}"
    );
    assert!(
        report.contains(&format!(
            "database {} is not shared with the integration",
            crate::rig::bare(&other.database_id)
        )),
        "{report}"
    );
    assert!(report.contains("Connections"), "{report}");
    let report = doctor(&lucid, &[("LUCID_NOTION_FAILED_STATUS", "Stuck")]).await;
    assert!(report.contains("has no option \"Stuck\""), "{report}");
    let report = doctor(&lucid, &[("LUCID_NOTION_TOKEN", "ntn_wrong")]).await;
    assert!(
        report
            .lines()
            .any(|l| l.starts_with("FAIL") && l.contains("refused the integration token")),
        "{report}"
    );
    assert!(!report.contains(NOTION_TOKEN));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_naming_no_repository_is_asked_which_and_its_answer_starts_it() {
    let lucid =
        Lucid::start_notion_with(fixing_script(), &[("LUCID_NOTION_POLL_INTERVAL", "off")]).await;
    let notion = &lucid.notion;
    notion.enable_webhooks(&lucid.notion_url());
    let ada = notion.add_person("Ada Lovelace");
    let page = notion.add_page(
        &lucid.notion_db.data_source_id,
        NewPage {
            title: "Fix add()".into(),
            status: None,
            repo: None,
            blocks: vec![BlockSpec::Paragraph("it subtracts".into())],
            by: Some(ada.clone()),
        },
    );
    notion.move_page(&page, TRIGGER, &ada).await;
    notion
        .wait_until("the question on the page", |n| {
            lucid_comments(n, &page)
                .iter()
                .any(|c| c.contains("Which repository"))
                .then_some(())
        })
        .await;
    assert!(lucid.sessions().await.is_empty());
    assert_eq!(notion.status_of(&page).as_deref(), Some(TRIGGER));

    // A comment naming it answers (no mention needed), and the session starts.
    notion.comment_as(&ada, &page, "it is acme/calc").await;
    until_status(notion, &page, "In progress").await;
    let session = only_session(&lucid).await;
    let done = until_completed(&lucid, &session).await;
    assert_eq!(done["trigger"]["repo"], REPO, "{done}");
    assert!(lucid.llm.heard("Notion task: Fix add()"));
    assert_clean(notion);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_lucid_cannot_move_on_starts_one_session_however_often_it_is_polled() {
    // "Doing" and "Reviewing" are no options of the database's status: every status
    // write is refused, and the page stays in the trigger status.
    let lucid = Lucid::start_notion_with(
        fixing_script(),
        &[
            ("LUCID_NOTION_POLL_INTERVAL", "1s"),
            ("LUCID_NOTION_IN_PROGRESS_STATUS", "Doing"),
            ("LUCID_NOTION_IN_REVIEW_STATUS", "Reviewing"),
        ],
    )
    .await;
    let notion = &lucid.notion;
    let (_, page) = task_moved_by_webhook(&lucid).await;
    let session = lucid.first_session().await;
    until_completed(&lucid, &session).await;
    // Polls after the end see the page still in the trigger status (lucid could not
    // move it on): the move that started the session, which starts nothing again.
    until_two_polls(notion).await;
    assert_eq!(notion.status_of(&page).as_deref(), Some(TRIGGER));
    let sessions = lucid.sessions().await;
    assert_eq!(sessions.len(), 1, "{sessions:#?}");
    let refused = notion
        .calls_to("PATCH", "/v1/pages/")
        .into_iter()
        .filter(|c| c.status == 400)
        .count();
    assert!(refused >= 1, "the status write was refused");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_session_sets_the_failed_status_and_says_why_on_the_page() {
    let lucid = Lucid::start_notion_with(
        vec![Reply::error(401, "Incorrect API key provided")],
        &[("LUCID_NOTION_POLL_INTERVAL", "off")],
    )
    .await;
    let notion = &lucid.notion;
    let (_, page) = task_moved_by_webhook(&lucid).await;
    until_status(notion, &page, "Blocked").await;
    let session = only_session(&lucid).await;
    assert_eq!(
        state(&lucid.api(&format!("/sessions/{session}")).await),
        "failed"
    );
    let why = notion
        .wait_until("why, on the page", |n| {
            lucid_comments(n, &page)
                .into_iter()
                .find(|c| c.contains("The session failed"))
        })
        .await;
    assert!(why.contains("refused the API key"), "{why}");
    assert!(notion.property(&page, "PR").is_none_or(|v| v.is_null()));
    assert_clean(notion);
    assert_no_secrets(&lucid);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stop_said_or_asked_through_the_api_leaves_the_page_blocked() {
    let lucid = Lucid::start_notion_with(
        vec![Reply::tool_call(
            "c1",
            "run",
            r#"{"command": "echo working; sleep 300"}"#,
        )],
        &[
            ("LUCID_NOTION_POLL_INTERVAL", "off"),
            ("LUCID_MAX_SESSIONS", "1"),
        ],
    )
    .await;
    let notion = &lucid.notion;
    let (ada, running) = task_moved_by_webhook(&lucid).await;
    let first = lucid.first_session().await;
    within_command(&lucid, &first, "sleep 300").await;
    // One session at a time: the second waits, its page In progress already.
    let waiting = task_page(&lucid, &ada);
    notion.move_page(&waiting, TRIGGER, &ada).await;
    until_status(notion, &waiting, "In progress").await;
    let second = lucid
        .sessions()
        .await
        .into_iter()
        .find(|s| s["id"] != first.as_str())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Stopped through the API while queued: no worker shows it, the stop does.
    let (status, answer) = lucid
        .api_post(
            &format!("/sessions/{second}/stop"),
            &serde_json::json!({}),
            None,
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    until_status(notion, &waiting, "Blocked").await;

    // "@lucid stop" on the running one's page.
    notion.mention_bot_as(&ada, &running, "stop").await;
    let stopped = lucid
        .until_session(&first, "the session to stop", |s| state(s) == "cancelled")
        .await;
    assert!(stopped["reason"].as_str().unwrap().contains("Ada Lovelace"));
    until_status(notion, &running, "Blocked").await;
    notion
        .wait_until("the stop said on the page", |n| {
            lucid_comments(n, &running)
                .iter()
                .any(|c| c.contains("Stopped"))
                .then_some(())
        })
        .await;
    assert!(
        !lucid.llm.heard("stop"),
        "the stop reached the agent as words"
    );
    assert_clean(notion);
}
