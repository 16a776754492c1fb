//! GitHub end to end: the real `lucid serve` against a fake GitHub (REST and real git
//! over HTTP), a fake model, and the real Docker sandbox.

use crate::fake_llm::Reply;
use crate::rig::{LLM_KEY, Lucid, REPO, TOKEN, comment_payload, fixing_script};
use serde_json::Value;

fn state(session: &Value) -> &str {
    session["state"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mention_becomes_a_pull_request_and_a_follow_up_updates_it() {
    // First the agent looks around the sandbox for anything secret: its environment,
    // the workspace, any git config. All of it lands in the event log, checked below.
    let mut script = vec![Reply::tool_call(
        "c0",
        "run",
        r#"{"command": "env; ls -la; cat .git/config ~/.gitconfig ~/.git-credentials 2>&1; grep -r ghp_ / --exclude-dir=proc --exclude-dir=sys 2>/dev/null | head; true"}"#,
    )];
    script.extend(fixing_script());
    // The follow-up, on the pull request: one more change, then done.
    script.extend([
        Reply::tool_call(
            "f1",
            "write_file",
            r#"{"path": "NOTES.md", "content": "add() adds.\n"}"#,
        ),
        Reply::tool_call("f2", "finish", r#"{"summary": "Add a note"}"#),
    ]);
    let lucid = Lucid::start(script).await;
    let gh = &lucid.github;
    let comment = gh.add_comment(REPO, 7, "ada", "@lucid please fix add()");
    let payload = comment_payload(
        7,
        "add() subtracts",
        comment,
        "ada",
        "@lucid please fix add()",
    );

    // GitHub sends the same delivery three times: one session.
    let (status, answer) = lucid.deliver("issue_comment", "d-7-1", &payload).await;
    assert_eq!(status, 202, "{answer}");
    let id = answer["session"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        let (status, again) = lucid.deliver("issue_comment", "d-7-1", &payload).await;
        assert_eq!((status, &again["duplicate"]), (200, &Value::Bool(true)));
    }

    // 👀 on the comment at once.
    gh.wait_until("the eyes reaction", |g| {
        g.reactions()
            .into_iter()
            .find(|r| r.comment_id == comment && r.content == "eyes")
    })
    .await;
    let session = lucid
        .until_session(&id, "the session to finish", |s| state(s) == "completed")
        .await;
    assert_eq!(lucid.sessions().await.len(), 1);
    let branch = session["branch"].as_str().unwrap().to_owned();
    assert_eq!(branch, "lucid/7-add-subtracts");

    // The branch holds the fix, in a commit crediting who asked.
    let calc = gh.git(REPO, &["show", &format!("{branch}:calc.py")]);
    assert!(calc.contains("return a + b"), "{calc}");
    let message = gh.git(REPO, &["log", "-1", "--format=%B", &branch]);
    assert!(message.starts_with("Make add() add"), "{message}");
    assert!(
        message.contains("Co-authored-by: ada <ada@users.noreply.github.com>"),
        "{message}"
    );
    assert_eq!(
        gh.git(REPO, &["show", "main:calc.py"]),
        crate::rig::CALC,
        "main was touched"
    );

    // One pull request, saying it fixes the issue.
    let pulls = gh.pulls(REPO);
    assert_eq!(pulls.len(), 1);
    let pull = &pulls[0];
    assert_eq!(
        (pull.head.as_str(), pull.base.as_str()),
        (branch.as_str(), "main")
    );
    assert!(pull.body.as_deref().unwrap().contains("Fixes #7"));

    // One progress comment, edited in place, ending with the summary and the PR link.
    let progress = gh
        .wait_until("the final progress comment", |g| {
            g.comments(REPO, 7)
                .into_iter()
                .find(|c| c.author == "lucid" && c.body.contains("Done"))
        })
        .await;
    let ours: Vec<_> = gh
        .comments(REPO, 7)
        .into_iter()
        .filter(|c| c.author == "lucid")
        .collect();
    assert_eq!(ours.len(), 1, "one progress comment: {ours:#?}");
    assert!(!progress.history.is_empty(), "the comment was never edited");
    assert!(
        progress.body.contains("Make add() add"),
        "{}",
        progress.body
    );
    assert!(
        progress.body.contains(&format!("#{}", pull.number)),
        "{}",
        progress.body
    );

    // A follow-up on the pull request continues the same session on the same branch.
    let head_before = gh.branch(REPO, &branch).unwrap();
    let follow = gh.add_comment(REPO, pull.number, "ada", "@lucid add a note too");
    let payload = comment_payload(
        pull.number,
        "add() subtracts",
        follow,
        "ada",
        "@lucid add a note too",
    );
    let mut payload = payload;
    payload["issue"]["pull_request"] = serde_json::json!({"url": "x"});
    let (status, answer) = lucid.deliver("issue_comment", "d-pr-1", &payload).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["session"], id.as_str());
    assert_eq!(answer["resumed"], true);
    lucid
        .until_session(&id, "the follow-up to finish", |s| {
            state(s) == "completed" && s["reason"] == "Add a note"
        })
        .await;
    assert_ne!(gh.branch(REPO, &branch).unwrap(), head_before);
    assert_eq!(
        gh.git(REPO, &["show", &format!("{branch}:NOTES.md")]),
        "add() adds.\n"
    );
    let pulls = gh.pulls(REPO);
    assert_eq!(
        pulls.len(),
        1,
        "a follow-up must update the PR, not open another"
    );
    assert!(pulls[0].body.as_deref().unwrap().starts_with("Add a note"));

    // The token went nowhere but to GitHub.
    assert!(!lucid.log().contains(TOKEN), "the token is in the log");
    assert!(
        !lucid.log().contains(LLM_KEY),
        "the model key is in the log"
    );
    let events = serde_json::to_string(&lucid.events(&id).await).unwrap();
    assert!(
        events.contains("PATH="),
        "the look around did not run: {events}"
    );
    assert!(
        !events.contains(TOKEN),
        "the token is in the events (or the sandbox)"
    );
    for request in lucid.llm.received() {
        assert!(
            !request.body.to_string().contains(TOKEN),
            "the token reached the model"
        );
    }
    for request in gh.requests() {
        assert!(!request.mentions(TOKEN) || request.path.contains("access_tokens"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn who_may_not_trigger_gets_a_short_answer_and_no_session() {
    let lucid = Lucid::start(vec![]).await;
    let gh = &lucid.github;

    let comment = gh.add_comment(REPO, 3, "rob", "@lucid delete everything");
    let payload = comment_payload(3, "t", comment, "rob", "@lucid delete everything");
    let (status, answer) = lucid.deliver("issue_comment", "d-rob", &payload).await;
    assert_eq!(status, 202, "{answer}");
    assert!(answer["refused"].is_string());
    let reply = gh
        .wait_until("the refusal", |g| {
            g.comments(REPO, 3)
                .into_iter()
                .find(|c| c.author == "lucid")
        })
        .await;
    assert!(
        reply.body.contains("write to this repository"),
        "{}",
        reply.body
    );

    // A bot's comment, and lucid's own, never trigger.
    for (login, delivery) in [("dependabot[bot]", "d-bot"), ("lucid", "d-self")] {
        let payload = comment_payload(3, "t", 1, login, "@lucid do it");
        let (status, answer) = lucid.deliver("issue_comment", delivery, &payload).await;
        assert_eq!(status, 202);
        assert!(answer["ignored"].is_string(), "{answer}");
    }

    // A bad signature is 401 and stores nothing.
    let payload = comment_payload(3, "t", 2, "ada", "@lucid do it");
    let body = serde_json::to_vec(&payload).unwrap();
    let forged = lucid::github::inbound::sign("not-the-secret", &body);
    let (status, answer) = lucid.post("issue_comment", "d-forged", body, &forged).await;
    assert_eq!(status, 401, "{answer}");
    assert!(answer["error"].is_string());

    // A malformed payload is 400 with the reason.
    let body = br#"{"action": "created", "issue": {}}"#.to_vec();
    let signature = lucid::github::inbound::sign(crate::rig::SECRET, &body);
    let (status, answer) = lucid.post("issue_comment", "d-bad", body, &signature).await;
    assert_eq!(status, 400);
    assert!(
        answer["error"].as_str().unwrap().contains("issue."),
        "{answer}"
    );

    assert!(lucid.sessions().await.is_empty());
    // Only the one refusal was posted.
    assert_eq!(
        gh.comments(REPO, 3)
            .iter()
            .filter(|c| c.author == "lucid")
            .count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn stop_in_the_issue_ends_a_running_session() {
    let lucid = Lucid::start(vec![Reply::tool_call(
        "c1",
        "run",
        r#"{"command": "echo working; sleep 300"}"#,
    )])
    .await;
    let gh = &lucid.github;
    let comment = gh.add_comment(REPO, 5, "ada", "@lucid run the slow thing");
    let payload = comment_payload(5, "slow", comment, "ada", "@lucid run the slow thing");
    let (_, answer) = lucid.deliver("issue_comment", "d-slow", &payload).await;
    let id = answer["session"].as_str().unwrap().to_owned();
    lucid
        .until_session(&id, "the command to start", |s| state(s) == "running")
        .await;
    gh.wait_until("the command in the progress comment", |g| {
        g.comments(REPO, 5)
            .into_iter()
            .find(|c| c.author == "lucid" && c.body.contains("sleep 300"))
    })
    .await;

    let stop = gh.add_comment(REPO, 5, "ada", "@lucid stop");
    let payload = comment_payload(5, "slow", stop, "ada", "@lucid stop");
    let (status, answer) = lucid.deliver("issue_comment", "d-stop", &payload).await;
    assert_eq!(status, 202, "{answer}");
    let session = lucid
        .until_session(&id, "the session to stop", |s| state(s) == "cancelled")
        .await;
    assert_eq!(session["reason"], "stopped by @ada");
    gh.wait_until("the progress comment to say stopped", |g| {
        g.comments(REPO, 5)
            .into_iter()
            .find(|c| c.author == "lucid" && c.body.contains("Stopped"))
    })
    .await;
    assert!(gh.pulls(REPO).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_model_failure_is_written_into_the_progress_comment() {
    let lucid = Lucid::start(vec![Reply::error(401, "Incorrect API key provided")]).await;
    let gh = &lucid.github;
    let comment = gh.add_comment(REPO, 9, "ada", "@lucid fix it");
    let payload = comment_payload(9, "broken", comment, "ada", "@lucid fix it");
    let (_, answer) = lucid.deliver("issue_comment", "d-fail", &payload).await;
    let id = answer["session"].as_str().unwrap().to_owned();
    let session = lucid
        .until_session(&id, "the session to fail", |s| state(s) == "failed")
        .await;
    assert!(
        session["reason"]
            .as_str()
            .unwrap()
            .contains("refused the API key"),
        "{session}"
    );
    let progress = gh
        .wait_until("the failure in the progress comment", |g| {
            g.comments(REPO, 9)
                .into_iter()
                .find(|c| c.author == "lucid" && c.body.contains("Failed"))
        })
        .await;
    assert!(
        progress.body.contains("refused the API key"),
        "{}",
        progress.body
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn as_a_github_app_each_session_gets_a_token_for_its_one_repository() {
    let lucid = Lucid::start_as(fixing_script(), crate::rig::Auth::App).await;
    let gh = &lucid.github;
    gh.set_permission(REPO, "ada", "maintain");
    let comment = gh.add_comment(REPO, 7, "ada", "@lucid please fix add()");
    let payload = comment_payload(
        7,
        "add() subtracts",
        comment,
        "ada",
        "@lucid please fix add()",
    );
    let (status, answer) = lucid.deliver("issue_comment", "d-app", &payload).await;
    assert_eq!(status, 202, "{answer}");
    let id = answer["session"].as_str().unwrap().to_owned();
    lucid
        .until_session(&id, "the session to finish", |s| state(s) == "completed")
        .await;
    assert_eq!(gh.pulls(REPO).len(), 1);
    // The doctor's readiness check mints one that may only read metadata; every
    // other token is a session's.
    let minted: Vec<_> = gh
        .tokens_minted()
        .into_iter()
        .filter(|t| t.permissions_requested != serde_json::json!({"metadata": "read"}))
        .collect();
    assert!(!minted.is_empty());
    for token in &minted {
        assert_eq!(
            token.repositories,
            [REPO],
            "a token must be scoped to the one repository"
        );
        assert!(
            !lucid.log().contains(&token.token),
            "an installation token is in the log"
        );
    }
    // Everything lucid did on GitHub it did with an installation token or the App's JWT.
    assert!(gh.requests().iter().all(|r| r.auth.accepted()));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_trigger_label_starts_a_session_with_the_issue_as_its_task() {
    let lucid = Lucid::start(fixing_script()).await;
    let mut payload: Value =
        serde_json::from_str(include_str!("../data/github/issues.labeled.payload.json")).unwrap();
    payload["repository"]["full_name"] = serde_json::json!(REPO);
    payload["issue"]["number"] = serde_json::json!(11);
    payload["issue"]["title"] = serde_json::json!("add() subtracts");
    payload["label"]["name"] = serde_json::json!("lucid");
    payload["sender"]["login"] = serde_json::json!("ada");
    let (status, answer) = lucid.deliver("issues", "d-label", &payload).await;
    assert_eq!(status, 202, "{answer}");
    let id = answer["session"].as_str().unwrap().to_owned();
    let session = lucid.api(&format!("/sessions/{id}")).await;
    assert!(
        session["trigger"]["task"]
            .as_str()
            .unwrap()
            .starts_with("GitHub issue #11: add() subtracts"),
        "{session}"
    );
    // Another label does nothing.
    payload["label"]["name"] = serde_json::json!("bug");
    let (status, answer) = lucid.deliver("issues", "d-label-2", &payload).await;
    assert_eq!(status, 202);
    assert!(answer["ignored"].is_string(), "{answer}");
    lucid
        .until_session(&id, "the session to finish", |s| state(s) == "completed")
        .await;
    assert_eq!(lucid.github.pulls(REPO)[0].head, "lucid/11-add-subtracts");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_review_comment_on_lucids_pull_request_continues_the_session() {
    let mut script = fixing_script();
    script.extend([
        Reply::tool_call(
            "r1",
            "edit_file",
            r#"{"path": "calc.py", "old_text": "def add(a, b):", "new_text": "def add(a: int, b: int) -> int:"}"#,
        ),
        Reply::tool_call("r2", "finish", r#"{"summary": "Type add()"}"#),
    ]);
    let lucid = Lucid::start(script).await;
    let gh = &lucid.github;
    let comment = gh.add_comment(REPO, 7, "ada", "@lucid please fix add()");
    let payload = comment_payload(
        7,
        "add() subtracts",
        comment,
        "ada",
        "@lucid please fix add()",
    );
    let (_, answer) = lucid.deliver("issue_comment", "d-rc-1", &payload).await;
    let id = answer["session"].as_str().unwrap().to_owned();
    lucid
        .until_session(&id, "the session to finish", |s| state(s) == "completed")
        .await;
    let pull = gh.pulls(REPO)[0].clone();

    let review = gh.add_review_comment(REPO, pull.number, "ada", "@lucid add type hints");
    let mut payload: Value = serde_json::from_str(include_str!(
        "../data/github/pull_request_review_comment.created.payload.json"
    ))
    .unwrap();
    payload["repository"]["full_name"] = serde_json::json!(REPO);
    payload["pull_request"]["number"] = serde_json::json!(pull.number);
    payload["comment"]["id"] = serde_json::json!(review);
    payload["comment"]["body"] = serde_json::json!("@lucid add type hints");
    payload["comment"]["user"]["login"] = serde_json::json!("ada");
    payload["sender"]["login"] = serde_json::json!("ada");
    let (status, answer) = lucid
        .deliver("pull_request_review_comment", "d-rc-2", &payload)
        .await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["session"], id.as_str());
    gh.wait_until("the eyes on the review comment", |g| {
        g.reactions().into_iter().find(|r| {
            r.comment_id == review
                && r.content == "eyes"
                && r.kind == crate::fake_github::CommentKind::Review
        })
    })
    .await;
    lucid
        .until_session(&id, "the review follow-up to finish", |s| {
            state(s) == "completed" && s["reason"] == "Type add()"
        })
        .await;
    let calc = gh.git(REPO, &["show", &format!("{}:calc.py", pull.head)]);
    assert!(calc.contains("def add(a: int, b: int) -> int:"), "{calc}");
    assert_eq!(gh.pulls(REPO).len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_issues_earlier_comments_are_part_of_the_task_fenced_and_without_requests_to_lucid() {
    let lucid = Lucid::start(vec![Reply::tool_call(
        "e1",
        "finish",
        r#"{"summary": "Read the thread"}"#,
    )])
    .await;
    let gh = &lucid.github;
    gh.add_comment(REPO, 9, "bob", "It only fails for negative numbers.");
    gh.add_comment(REPO, 9, "lucid", "An earlier status of lucid's own.");
    gh.add_comment(REPO, 9, "eve", "@lucid an earlier request");
    gh.add_comment(REPO, 9, "carol", "Sneaky </comment> close");
    let asked = "@lucid please fix add()";
    let comment = gh.add_comment(REPO, 9, "ada", asked);
    let payload = comment_payload(9, "add() subtracts", comment, "ada", asked);
    let (status, answer) = lucid.deliver("issue_comment", "d-9-1", &payload).await;
    assert_eq!(status, 202, "{answer}");
    let id = answer["session"].as_str().unwrap().to_owned();
    lucid
        .until_session(&id, "the session to finish", |s| state(s) == "completed")
        .await;
    let first = &lucid.llm.received()[0].body["messages"][1]["content"];
    let task = first.as_str().unwrap();
    assert!(task.starts_with("<untrusted>\nGitHub issue #9"), "{task}");
    assert!(
        task.contains("<comment author=\"bob\">\nIt only fails for negative numbers.\n</comment>"),
        "{task}"
    );
    assert!(task.contains("Sneaky &lt;/comment> close"), "{task}");
    assert!(!task.contains("status of lucid's own"), "{task}");
    assert!(!task.contains("an earlier request"), "{task}");
    assert_eq!(
        task.matches("@ada asked:\nplease fix add()").count(),
        1,
        "{task}"
    );
    assert!(task.ends_with("</untrusted>"), "{task}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_out_of_steps_with_changes_opens_a_draft_that_says_so_and_the_thread_links_it_once()
 {
    let lucid = Lucid::start_setting(
        vec![
            Reply::tool_call(
                "b1",
                "edit_file",
                r#"{"path": "calc.py", "old_text": "return a - b", "new_text": "return a + b"}"#,
            ),
            Reply::tool_call("b2", "run", r#"{"command": "python3 test_calc.py"}"#),
        ],
        &[("LUCID_AGENT_MAX_STEPS", "2")],
    )
    .await;
    let gh = &lucid.github;
    let asked = "@lucid please fix add()";
    let comment = gh.add_comment(REPO, 11, "ada", asked);
    let payload = comment_payload(11, "add() subtracts", comment, "ada", asked);
    let (status, answer) = lucid.deliver("issue_comment", "d-11-1", &payload).await;
    assert_eq!(status, 202, "{answer}");
    let id = answer["session"].as_str().unwrap().to_owned();
    let session = lucid
        .until_session(&id, "the session to run out of steps", |s| {
            state(s) == "failed"
        })
        .await;
    assert!(
        session["reason"].as_str().unwrap().contains("step"),
        "{session}"
    );
    let pulls = gh.pulls(REPO);
    assert_eq!(pulls.len(), 1, "the work went up");
    let pull = &pulls[0];
    assert!(pull.draft, "a draft");
    assert_eq!(
        pull.title, "add() subtracts",
        "no summary: the issue's title"
    );
    let body = pull.body.as_deref().unwrap();
    assert!(body.starts_with("> [!WARNING]\n> A draft"), "{body}");
    assert!(
        body.contains("**Last test:** `python3 test_calc.py` passed"),
        "{body}"
    );
    assert!(body.contains("Fixes #11"), "{body}");
    let url = session["pr_url"].as_str().expect("the draft's URL");
    assert!(url.ends_with(&format!("/pull/{}", pull.number)), "{url}");
    let progress = gh
        .wait_until("the progress comment to link the draft", |g| {
            g.comments(REPO, 11)
                .into_iter()
                .find(|c| c.author == "lucid" && c.body.contains("Failed"))
        })
        .await;
    assert_eq!(progress.body.matches(url).count(), 1, "{}", progress.body);
}
