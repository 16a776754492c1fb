//! Going back with the real `lucid serve`, the fake model, the fake GitHub and real
//! sandboxes: "@lucid revert to N" said in the thread while the agent works, and an
//! undo through the API of a finished session, restore the exact earlier files, are
//! logged, and the agent is told.

use crate::fake_llm::Reply;
use crate::rig::{API_TOKEN, Lucid, REPO, comment_payload, within_command};
use serde_json::{Value, json};

fn of_kind<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["kind"] == kind).collect()
}

fn outputs(events: &[Value]) -> Vec<String> {
    of_kind(events, "output")
        .iter()
        .map(|e| e["text"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn revert_said_in_the_thread_while_the_agent_works_restores_the_files_at_once() {
    let lucid = Lucid::start(vec![
        Reply::tool_call("r1", "run", r#"{"command": "echo draft > notes.txt"}"#),
        Reply::tool_call(
            "r2",
            "edit_file",
            r#"{"path": "calc.py", "old_text": "return a - b", "new_text": "return a + b"}"#,
        ),
        // Waits for the revert to take notes.txt away and put calc.py back (git
        // removes first, then writes), then shows calc.py.
        Reply::tool_call(
            "r3",
            "run",
            r#"{"command": "until [ ! -e notes.txt ] && grep -q 'a - b' calc.py; do sleep 0.05; done; cat calc.py"}"#,
        ),
        Reply::tool_call("r4", "finish", r#"{"summary": "Went back"}"#),
    ])
    .await;
    let gh = &lucid.github;
    let asked = "@lucid please fix add()";
    let comment = gh.add_comment(REPO, 7, "ada", asked);
    let payload = comment_payload(7, "add() subtracts", comment, "ada", asked);
    let (status, answer) = lucid.deliver("issue_comment", "d-back-1", &payload).await;
    assert_eq!(status, 202, "{answer}");
    let id = answer["session"].as_str().unwrap().to_owned();
    within_command(&lucid, &id, "until [").await;

    let back = "@lucid revert to step 0";
    let comment = gh.add_comment(REPO, 7, "ada", back);
    let payload = comment_payload(7, "add() subtracts", comment, "ada", back);
    let (status, answer) = lucid.deliver("issue_comment", "d-back-2", &payload).await;
    assert!(status < 300, "{status} {answer}");
    lucid
        .until_session(&id, "the session to finish", |s| s["state"] == "completed")
        .await;
    let events = lucid.events(&id).await;

    let numbers: Vec<&Value> = of_kind(&events, "checkpoint")
        .iter()
        .map(|e| &e["number"])
        .collect();
    assert_eq!(numbers, [0, 1, 2, 3], "start, two steps, and the revert");
    let asked = of_kind(&events, "revert_asked");
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0]["checkpoint"], 0);
    let reverted = of_kind(&events, "reverted");
    assert_eq!(reverted.len(), 1, "{events:?}");
    assert_eq!(reverted[0]["checkpoint"], 0);
    assert_eq!(reverted[0]["files"], json!(["calc.py", "notes.txt"]));
    // The exact file as checked out, while the agent's command still ran.
    let shown = outputs(&events).pop().unwrap();
    assert!(shown.contains("    return a - b\n"), "{shown}");
    assert!(
        lucid
            .llm
            .heard("ada took the workspace back to step 0, as it was after that step"),
        "the agent was told"
    );
    // The thread's status says it too.
    gh.wait_until("the status to say it went back", |g| {
        g.comments(REPO, 7).into_iter().find(|c| {
            c.body
                .contains("went back to step 0 (2 files changed back)")
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn undo_through_the_api_takes_a_finished_session_back_a_step_and_its_pull_request_with_it() {
    let lucid = Lucid::start(vec![
        Reply::tool_call(
            "u1",
            "write_file",
            r#"{"path": "notes.txt", "content": "first\n"}"#,
        ),
        Reply::tool_call(
            "u2",
            "run",
            r#"{"command": "printf 'second\\n' > notes.txt"}"#,
        ),
        Reply::tool_call("u3", "finish", r#"{"summary": "Write notes"}"#),
        // Taken up again by the undo.
        Reply::tool_call("u4", "run", r#"{"command": "cat notes.txt"}"#),
        Reply::tool_call("u5", "finish", r#"{"summary": "Back to the first notes"}"#),
        // And by a revert to a step that is not there.
        Reply::tool_call("u6", "finish", r#"{"summary": "Nothing changed"}"#),
    ])
    .await;
    let (status, body) = lucid
        .api_post(
            "/sessions",
            &json!({"task": "write notes", "repo": REPO}),
            None,
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let id = body["session"].as_str().unwrap().to_owned();
    let done = |s: &Value| s["state"] == "completed";
    lucid.until_session(&id, "the first run", done).await;

    let path = format!("/sessions/{id}/revert");
    let (status, answer) = lucid.api_post(&path, &json!({}), Some("undo-1")).await;
    assert_eq!(
        (status, &answer["resumed"]),
        (202, &json!(true)),
        "{answer}"
    );
    lucid
        .until_session(&id, "the undo's run", |s| {
            done(s) && s["reason"] == "Back to the first notes"
        })
        .await;
    let events = lucid.events(&id).await;
    let reverted = of_kind(&events, "reverted");
    assert_eq!(reverted.len(), 1, "{events:?}");
    assert_eq!(reverted[0]["checkpoint"], 1);
    assert_eq!(reverted[0]["files"], json!(["notes.txt"]));
    assert_eq!(outputs(&events).pop().unwrap(), "first\n");
    assert!(lucid.llm.heard("took the workspace back to step 1"));
    // The pull request's branch holds the file as it was after step 1.
    let branch = lucid.github.pulls(REPO)[0].head.clone();
    let notes = lucid
        .github
        .git(REPO, &["show", &format!("{branch}:notes.txt")]);
    assert_eq!(notes, "first\n");

    let list = lucid.api(&format!("/sessions/{id}/checkpoints")).await;
    let listed: Vec<(u64, String)> = list["checkpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["number"].as_u64().unwrap(),
                c["label"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            (0, "start".to_owned()),
            (1, "write_file".to_owned()),
            (2, "run".to_owned()),
            (3, "back to step 1".to_owned())
        ]
    );

    // From the page: a revert to a step that is not there, sent twice (a double
    // click), is asked once and refused with the reason.
    revert_from_the_page(&lucid, &id, "99").await;
    lucid
        .until_session(&id, "the refused revert's run", |s| {
            done(s) && s["reason"] == "Nothing changed"
        })
        .await;
    let events = lucid.events(&id).await;
    assert_eq!(
        of_kind(&events, "revert_asked").len(),
        2,
        "the undo and one revert"
    );
    let refused = of_kind(&events, "revert_refused");
    assert_eq!(
        refused[0]["reason"],
        "there is no step 99; the last is step 3"
    );
    // A retried API request does nothing twice.
    let (status, again) = lucid.api_post(&path, &json!({}), Some("undo-1")).await;
    assert_eq!((status, &again["duplicate"]), (202, &json!(true)));
}

/// Signs in to the session's page and sends its "Back to step" form twice.
async fn revert_from_the_page(lucid: &Lucid, id: &str, step: &str) {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let signed = http
        .post(format!("{}/signin", lucid.url))
        .form(&[("password", API_TOKEN), ("next", "/")])
        .send()
        .await
        .unwrap();
    let cookie = signed.headers()["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let page = http
        .get(format!("{}/sessions/{id}", lucid.url))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let marker = "name=\"form\" value=\"";
    let at = page.find(marker).expect("the form token") + marker.len();
    let token = page[at..].split('"').next().unwrap();
    for _ in 0..2 {
        let sent = http
            .post(format!("{}/sessions/{id}/revert", lucid.url))
            .header("cookie", &cookie)
            .form(&[
                ("form", token),
                ("once", "page-revert"),
                ("checkpoint", step),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(sent.status().as_u16(), 303);
    }
}
