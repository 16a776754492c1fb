//! The fake Notion checked with plain reqwest, so a failing end-to-end test points at
//! lucid, not at the fake: each behaviour and each refusal.

use crate::fake_notion::{BlockSpec, DatabaseSpec, FakeNotion, NewPage, NotionDatabase};
use crate::harness::within;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::sync::{Arc, Mutex};

const TOKEN: &str = "ntn_fake_0123456789";

/// What a call answered: HTTP status, Retry-After header, JSON body.
struct Answer {
    status: u16,
    retry_after: Option<String>,
    body: Value,
}

async fn send(request: reqwest::RequestBuilder) -> Answer {
    let response = within("a call to the fake Notion", request.send())
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

/// A request as a well-behaved client sends it: token and Notion-Version.
fn request(fake: &FakeNotion, method: &str, path: &str) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .request(method.parse().unwrap(), format!("{}{path}", fake.api_base))
        .bearer_auth(TOKEN)
        .header("Notion-Version", "2025-09-03")
}

async fn get(fake: &FakeNotion, path: &str) -> Answer {
    send(request(fake, "GET", path)).await
}

async fn call(fake: &FakeNotion, method: &str, path: &str, body: Value) -> Answer {
    send(request(fake, method, path).json(&body)).await
}

/// A fake with the rate limit off and a default database.
async fn workspace() -> (FakeNotion, NotionDatabase) {
    let fake = FakeNotion::start(TOKEN).await;
    fake.disable_rate_limit();
    let db = fake.create_database(DatabaseSpec::default());
    (fake, db)
}

fn page(title: &str, status: &str) -> NewPage {
    NewPage {
        title: title.into(),
        status: Some(status.into()),
        repo: Some("acme/app".into()),
        ..NewPage::default()
    }
}

fn assert_error(answer: &Answer, status: u16, code: &str) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert_eq!(answer.body["object"], "error");
    assert_eq!(answer.body["status"], status);
    assert_eq!(answer.body["code"], code);
    assert!(
        answer.body["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
}

#[tokio::test]
async fn wants_the_token_and_the_version() {
    let fake = FakeNotion::start(TOKEN).await;
    let me = get(&fake, "/users/me").await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["object"], "user");
    assert_eq!(me.body["type"], "bot");
    assert_eq!(me.body["id"], fake.bot().id.as_str());

    let wrong = reqwest::Client::new()
        .get(format!("{}/users/me", fake.api_base))
        .bearer_auth("ntn_someone_else")
        .header("Notion-Version", "2025-09-03");
    assert_error(&send(wrong).await, 401, "unauthorized");
    let none = reqwest::Client::new()
        .get(format!("{}/users/me", fake.api_base))
        .header("Notion-Version", "2025-09-03");
    assert_error(&send(none).await, 401, "unauthorized");
    let no_version = reqwest::Client::new()
        .get(format!("{}/users/me", fake.api_base))
        .bearer_auth(TOKEN);
    assert_error(&send(no_version).await, 400, "missing_version");
    assert_eq!(fake.unexpected().len(), 3, "{:?}", fake.unexpected());
    assert_eq!(fake.calls().len(), 4);
}

#[tokio::test]
async fn serves_the_database_and_its_data_source() {
    let (fake, db) = workspace().await;
    let database = get(&fake, &format!("/databases/{}", db.database_id)).await;
    assert_eq!(database.status, 200);
    assert_eq!(database.body["object"], "database");
    assert_eq!(
        database.body["data_sources"][0]["id"],
        db.data_source_id.as_str()
    );
    assert_eq!(database.body["data_sources"][0]["name"], "Tasks");

    // Ids without dashes are the same ids.
    let plain = db.data_source_id.replace('-', "");
    let source = get(&fake, &format!("/data_sources/{plain}")).await;
    assert_eq!(source.status, 200);
    assert_eq!(source.body["object"], "data_source");
    assert_eq!(
        source.body["parent"]["database_id"],
        db.database_id.as_str()
    );
    let props = &source.body["properties"];
    assert_eq!(props["Name"]["type"], "title");
    assert_eq!(props["Repo"]["type"], "rich_text");
    assert_eq!(props["PR"]["type"], "url");
    assert_eq!(props["Priority"]["type"], "select");
    let status = &props["Status"];
    assert_eq!(status["type"], "status");
    let names: Vec<&str> = status["status"]["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "Ready for agent",
            "In progress",
            "In review",
            "Blocked",
            "Done"
        ]
    );
    let groups = status["status"]["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 3);
    assert_eq!(groups[2]["name"], "Complete");
    assert_eq!(groups[2]["option_ids"].as_array().unwrap().len(), 1);
    assert!(fake.unexpected().is_empty());
}

#[tokio::test]
async fn queries_with_filters_sorts_and_pages() {
    let (fake, db) = workspace().await;
    let ready: Vec<String> = (0..5)
        .map(|i| {
            fake.add_page(
                &db.data_source_id,
                page(&format!("task {i}"), "Ready for agent"),
            )
        })
        .collect();
    for i in 0..3 {
        fake.add_page(&db.data_source_id, page(&format!("done {i}"), "Done"));
    }
    let path = format!("/data_sources/{}/query", db.data_source_id);
    let filter = json!({"property": "Status", "status": {"equals": "Ready for agent"}});

    // Two at a time, following next_cursor.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut rounds = 0;
    loop {
        let mut body = json!({
            "filter": filter,
            "sorts": [{"timestamp": "created_time", "direction": "ascending"}],
            "page_size": 2,
        });
        if let Some(c) = &cursor {
            body["start_cursor"] = json!(c);
        }
        let answer = call(&fake, "POST", &path, body).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(answer.body["object"], "list");
        assert_eq!(answer.body["type"], "page_or_data_source");
        for p in answer.body["results"].as_array().unwrap() {
            assert_eq!(p["object"], "page");
            assert_eq!(
                p["properties"]["Status"]["status"]["name"],
                "Ready for agent"
            );
            assert_eq!(p["parent"]["data_source_id"], db.data_source_id.as_str());
            seen.push(p["id"].as_str().unwrap().to_owned());
        }
        rounds += 1;
        if answer.body["has_more"] == false {
            assert!(answer.body["next_cursor"].is_null());
            break;
        }
        cursor = Some(answer.body["next_cursor"].as_str().unwrap().to_owned());
    }
    assert_eq!(rounds, 3);
    assert_eq!(seen, ready);

    // Without page_size: everything (up to 100) at once.
    let all = call(&fake, "POST", &path, json!({})).await;
    assert_eq!(all.body["results"].as_array().unwrap().len(), 8);
    assert_eq!(all.body["has_more"], false);

    // last_edited_time: someone moves one page; a filter from its new edit time finds it.
    let ada = fake.add_person("Ada");
    fake.move_page(&ready[3], "In progress", &ada).await;
    let moved = fake.page(&ready[3]).unwrap();
    let since = moved["last_edited_time"].as_str().unwrap();
    let edited_since = |op: &str, at: &str| {
        json!({"filter": {"and": [
            {"timestamp": "last_edited_time", "last_edited_time": {op: at}},
            {"property": "Status", "status": {"equals": "In progress"}},
        ]}})
    };
    let recent = call(&fake, "POST", &path, edited_since("on_or_after", since)).await;
    let ids: Vec<&str> = recent.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [ready[3].as_str()]);
    // Times are whole minutes: `after` the edit's own time misses it.
    assert!(since.ends_with(":00.000Z"), "{since}");
    let strictly = call(&fake, "POST", &path, edited_since("after", since)).await;
    assert_eq!(strictly.body["results"].as_array().unwrap().len(), 0);
    let future = call(
        &fake,
        "POST",
        &path,
        edited_since("on_or_after", "2999-01-01T00:00:00Z"),
    )
    .await;
    assert_eq!(future.body["results"].as_array().unwrap().len(), 0);
    let past = call(&fake, "POST", &path, edited_since("after", "2020-01-01")).await;
    assert_eq!(past.body["results"].as_array().unwrap().len(), 1);
    assert!(fake.unexpected().is_empty(), "{:?}", fake.unexpected());

    // Refusals.
    let big = call(&fake, "POST", &path, json!({"page_size": 101})).await;
    assert_error(&big, 400, "validation_error");
    let unknown = json!({"filter": {"property": "Nope", "status": {"equals": "Done"}}});
    assert_error(
        &call(&fake, "POST", &path, unknown).await,
        400,
        "validation_error",
    );
    let no_option = json!({"filter": {"property": "Status", "status": {"equals": "Todo"}}});
    assert_error(
        &call(&fake, "POST", &path, no_option).await,
        400,
        "validation_error",
    );
    let mismatch = json!({"filter": {"property": "Status", "select": {"equals": "Done"}}});
    assert_error(
        &call(&fake, "POST", &path, mismatch).await,
        400,
        "validation_error",
    );
    let cursor = json!({"start_cursor": "not-a-cursor"});
    assert_error(
        &call(&fake, "POST", &path, cursor).await,
        400,
        "validation_error",
    );
    assert_eq!(fake.unexpected().len(), 5);
}

#[tokio::test]
async fn reads_and_writes_a_page() {
    let (fake, db) = workspace().await;
    let id = fake.add_page(
        &db.data_source_id,
        page("Fix the login bug", "Ready for agent"),
    );
    let got = get(&fake, &format!("/pages/{id}")).await;
    assert_eq!(got.status, 200);
    let p = &got.body;
    assert_eq!(p["object"], "page");
    assert_eq!(p["parent"]["type"], "data_source_id");
    assert_eq!(
        p["properties"]["Name"]["title"][0]["plain_text"],
        "Fix the login bug"
    );
    assert_eq!(p["properties"]["Status"]["type"], "status");
    assert_eq!(
        p["properties"]["Status"]["status"]["name"],
        "Ready for agent"
    );
    assert!(p["properties"]["Status"]["status"]["id"].is_string());
    assert_eq!(
        p["properties"]["Repo"]["rich_text"][0]["plain_text"],
        "acme/app"
    );
    assert!(p["properties"]["PR"]["url"].is_null());
    assert!(
        p["url"]
            .as_str()
            .unwrap()
            .starts_with("https://www.notion.so/Fix-the-login-bug-")
    );
    let before = p["last_edited_time"].as_str().unwrap().to_owned();

    let path = format!("/pages/{id}");
    let write = json!({"properties": {
        "Status": {"status": {"name": "In review"}},
        "PR": {"url": "https://github.com/acme/app/pull/7"},
    }});
    let written = call(&fake, "PATCH", &path, write).await;
    assert_eq!(written.status, 200, "{}", written.body);
    assert_eq!(
        written.body["properties"]["Status"]["status"]["name"],
        "In review"
    );
    assert_eq!(
        written.body["properties"]["PR"]["url"],
        "https://github.com/acme/app/pull/7"
    );
    assert_eq!(written.body["last_edited_by"]["id"], fake.bot().id.as_str());
    assert!(written.body["last_edited_time"].as_str().unwrap() >= before.as_str());
    assert_eq!(fake.status_of(&id).as_deref(), Some("In review"));
    let writes = fake.writes_to(&id);
    assert_eq!(writes.len(), 1);
    assert_eq!(writes[0].by, fake.bot().id);
    assert!(fake.unexpected().is_empty());

    // A status written as a select, an unknown option, an unknown property, too long
    // a text, a URL that is not a string: refused, nothing changes.
    let select = json!({"properties": {"Status": {"select": {"name": "Done"}}}});
    let refused = call(&fake, "PATCH", &path, select).await;
    assert_error(&refused, 400, "validation_error");
    assert!(
        refused.body["message"]
            .as_str()
            .unwrap()
            .contains("Status is expected to be status")
    );
    let option = json!({"properties": {"Status": {"status": {"name": "Shipped"}}}});
    assert_error(
        &call(&fake, "PATCH", &path, option).await,
        400,
        "validation_error",
    );
    let unknown = json!({"properties": {"Owner": {"rich_text": []}}});
    assert_error(
        &call(&fake, "PATCH", &path, unknown).await,
        400,
        "validation_error",
    );
    let long = "x".repeat(2001);
    let text = json!({"properties": {"Repo": {"rich_text": [{"text": {"content": long}}]}}});
    let too_long = call(&fake, "PATCH", &path, text).await;
    assert_error(&too_long, 400, "validation_error");
    assert!(too_long.body["message"].as_str().unwrap().contains("2000"));
    let url = json!({"properties": {"PR": {"url": 7}}});
    assert_error(
        &call(&fake, "PATCH", &path, url).await,
        400,
        "validation_error",
    );
    let exact = "y".repeat(2000);
    let text = json!({"properties": {"Repo": {"rich_text": [{"text": {"content": exact}}]}}});
    assert_eq!(call(&fake, "PATCH", &path, text).await.status, 200);
    assert_eq!(fake.status_of(&id).as_deref(), Some("In review"));
    assert_eq!(fake.unexpected().len(), 5, "{:?}", fake.unexpected());

    // Not JSON, too big.
    let bad = send(
        request(&fake, "PATCH", &path)
            .header("content-type", "application/json")
            .body("{nope"),
    )
    .await;
    assert_error(&bad, 400, "invalid_json");
    let huge = json!({"properties": {}, "pad": "z".repeat(600_000)});
    assert_error(
        &call(&fake, "PATCH", &path, huge).await,
        400,
        "validation_error",
    );
    let malformed = get(&fake, "/pages/not-a-page-id").await;
    assert_error(&malformed, 400, "validation_error");
    assert!(
        malformed.body["message"]
            .as_str()
            .unwrap()
            .contains("path.page_id")
    );
    let nowhere = get(&fake, "/nowhere").await;
    assert_error(&nowhere, 400, "invalid_request_url");
}

#[tokio::test]
async fn pages_block_children_and_nested_toggles() {
    let (fake, db) = workspace().await;
    let mut blocks = vec![
        BlockSpec::Heading1("Task".into()),
        BlockSpec::Heading2("Context".into()),
        BlockSpec::Heading3("More".into()),
        BlockSpec::Bulleted("one".into()),
        BlockSpec::Numbered("two".into()),
        BlockSpec::ToDo("three".into(), true),
        BlockSpec::Code("cargo test".into(), "shell".into()),
        BlockSpec::Toggle(
            "details".into(),
            vec![BlockSpec::Paragraph("hidden".into())],
        ),
    ];
    blocks.extend((0..4).map(|i| BlockSpec::Paragraph(format!("p{i}"))));
    let id = fake.add_page(
        &db.data_source_id,
        NewPage {
            blocks,
            ..page("Content", "Ready for agent")
        },
    );
    let mut all = Vec::new();
    let mut query = "page_size=5".to_owned();
    loop {
        let answer = get(&fake, &format!("/blocks/{id}/children?{query}")).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(answer.body["type"], "block");
        all.extend(answer.body["results"].as_array().unwrap().clone());
        match answer.body["next_cursor"].as_str() {
            Some(c) => query = format!("page_size=5&start_cursor={c}"),
            None => break,
        }
    }
    let kinds: Vec<&str> = all.iter().map(|b| b["type"].as_str().unwrap()).collect();
    assert_eq!(
        &kinds[..8],
        [
            "heading_1",
            "heading_2",
            "heading_3",
            "bulleted_list_item",
            "numbered_list_item",
            "to_do",
            "code",
            "toggle"
        ]
    );
    assert_eq!(all.len(), 12);
    assert_eq!(all[5]["to_do"]["checked"], true);
    assert_eq!(all[6]["code"]["language"], "shell");
    assert_eq!(all[0]["parent"]["page_id"], id.as_str());
    let toggle = &all[7];
    assert_eq!(toggle["has_children"], true);
    assert_eq!(all[0]["has_children"], false);
    let nested = get(
        &fake,
        &format!("/blocks/{}/children", toggle["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(
        nested.body["results"][0]["paragraph"]["rich_text"][0]["plain_text"],
        "hidden"
    );
    assert_eq!(
        nested.body["results"][0]["parent"]["block_id"],
        toggle["id"]
    );

    let big = get(&fake, &format!("/blocks/{id}/children?page_size=101")).await;
    assert_error(&big, 400, "validation_error");

    // Appending: at most 100 blocks a request.
    let path = format!("/blocks/{id}/children");
    let paragraphs = |n: usize| -> Vec<Value> {
        (0..n)
            .map(|i| BlockSpec::Paragraph(format!("a{i}")).json())
            .collect()
    };
    let many = call(&fake, "PATCH", &path, json!({"children": paragraphs(101)})).await;
    assert_error(&many, 400, "validation_error");
    assert!(many.body["message"].as_str().unwrap().contains("100"));
    let ok = call(&fake, "PATCH", &path, json!({"children": paragraphs(100)})).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.body["results"].as_array().unwrap().len(), 100);
    let after = get(&fake, &format!("/blocks/{id}/children?page_size=100")).await;
    assert_eq!(after.body["has_more"], true);
}

#[tokio::test]
async fn comments_on_pages_and_discussions() {
    let (fake, db) = workspace().await;
    let id = fake.add_page(&db.data_source_id, page("Talk", "Ready for agent"));
    let ada = fake.add_person("Ada");
    fake.comment_as(&ada, &id, "please hurry").await;

    let posted = call(
        &fake,
        "POST",
        "/comments",
        json!({"parent": {"page_id": id}, "rich_text": [{"text": {"content": "On it"}}]}),
    )
    .await;
    assert_eq!(posted.status, 200, "{}", posted.body);
    let c = &posted.body;
    assert_eq!(c["object"], "comment");
    assert_eq!(c["parent"]["page_id"], id.as_str());
    assert_eq!(c["created_by"]["id"], fake.bot().id.as_str());
    assert_eq!(c["rich_text"][0]["plain_text"], "On it");
    assert_eq!(c["rich_text"][0]["annotations"]["bold"], false);
    let discussion = c["discussion_id"].as_str().unwrap().to_owned();
    let reply = call(
        &fake,
        "POST",
        "/comments",
        json!({"discussion_id": discussion, "rich_text": [{"text": {"content": "done"}}]}),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["discussion_id"], discussion.as_str());

    let comments = fake.comments(&id);
    let texts: Vec<&str> = comments.iter().map(|c| c.text.as_str()).collect();
    assert_eq!(texts, ["please hurry", "On it", "done"]);
    assert_eq!(comments[0].author, ada);

    let first = get(&fake, &format!("/comments?block_id={id}&page_size=2")).await;
    assert_eq!(first.body["results"].as_array().unwrap().len(), 2);
    assert_eq!(first.body["has_more"], true);
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let rest = get(
        &fake,
        &format!("/comments?block_id={id}&start_cursor={cursor}"),
    )
    .await;
    assert_eq!(
        rest.body["results"][0]["rich_text"][0]["plain_text"],
        "done"
    );
    assert_eq!(rest.body["has_more"], false);

    let long = "x".repeat(2001);
    let refused = call(
        &fake,
        "POST",
        "/comments",
        json!({"parent": {"page_id": id}, "rich_text": [{"text": {"content": long}}]}),
    )
    .await;
    assert_error(&refused, 400, "validation_error");
    let runs: Vec<Value> = (0..101)
        .map(|_| json!({"text": {"content": "a"}}))
        .collect();
    let refused = call(
        &fake,
        "POST",
        "/comments",
        json!({"parent": {"page_id": id}, "rich_text": runs}),
    )
    .await;
    assert_error(&refused, 400, "validation_error");
    let no_parent = call(&fake, "POST", "/comments", json!({"rich_text": []})).await;
    assert_error(&no_parent, 400, "validation_error");
    assert_eq!(fake.comments(&id).len(), 3);
}

#[tokio::test]
async fn rate_limits_with_retry_after() {
    let fake = FakeNotion::start(TOKEN).await;
    // Slow refill, so the fourth request cannot find a fresh token on a busy machine.
    fake.set_rate_limit(0.5, 3);
    for _ in 0..3 {
        assert_eq!(get(&fake, "/users/me").await.status, 200);
    }
    let limited = get(&fake, "/users/me").await;
    assert_error(&limited, 429, "rate_limited");
    let secs: u64 = limited.retry_after.as_deref().unwrap().parse().unwrap();
    assert!((1..=60).contains(&secs));
    assert!(fake.unexpected().is_empty(), "a 429 is not lucid's fault");
    // Asking again before Retry-After has passed is, once the refusal can have been
    // read (a request already on its way is not).
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    let again = get(&fake, "/users/me").await;
    assert_eq!(again.status, 429);
    assert_eq!(fake.unexpected().len(), 1, "{:?}", fake.unexpected());
}

#[tokio::test]
async fn forced_429_and_529() {
    let fake = FakeNotion::start(TOKEN).await;
    fake.disable_rate_limit();
    fake.fail_next(1, 529, 0);
    fake.fail_next(1, 429, 0);
    let overloaded = get(&fake, "/users/me").await;
    assert_error(&overloaded, 529, "service_overload");
    assert_eq!(overloaded.retry_after.as_deref(), Some("0"));
    let limited = get(&fake, "/users/me").await;
    assert_error(&limited, 429, "rate_limited");
    assert_eq!(get(&fake, "/users/me").await.status, 200);
    assert!(fake.unexpected().is_empty(), "{:?}", fake.unexpected());
    fake.fail_next(1, 409, 0);
    assert_error(&get(&fake, "/users/me").await, 409, "conflict_error");
    fake.fail_next(1, 529, 7);
    assert_eq!(
        get(&fake, "/users/me").await.retry_after.as_deref(),
        Some("7")
    );
}

#[tokio::test]
async fn unshared_objects_are_not_found() {
    let (fake, db) = workspace().await;
    let kept = fake.add_page(&db.data_source_id, page("kept", "Ready for agent"));
    let hidden = fake.add_page(&db.data_source_id, page("hidden", "Ready for agent"));
    fake.unshare(&hidden);
    assert_error(
        &get(&fake, &format!("/pages/{hidden}")).await,
        404,
        "object_not_found",
    );
    let patch = json!({"properties": {"Status": {"status": {"name": "Done"}}}});
    let refused = call(&fake, "PATCH", &format!("/pages/{hidden}"), patch).await;
    assert_error(&refused, 404, "object_not_found");
    let listed = call(
        &fake,
        "POST",
        &format!("/data_sources/{}/query", db.data_source_id),
        json!({}),
    )
    .await;
    let ids: Vec<&str> = listed.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [kept.as_str()]);
    fake.unshare(&db.database_id);
    assert_error(
        &get(&fake, &format!("/databases/{}", db.database_id)).await,
        404,
        "object_not_found",
    );
    assert_error(
        &get(&fake, &format!("/data_sources/{}", db.data_source_id)).await,
        404,
        "object_not_found",
    );
    assert_error(
        &get(&fake, &format!("/pages/{kept}")).await,
        404,
        "object_not_found",
    );
    assert!(fake.unexpected().is_empty(), "{:?}", fake.unexpected());
}

/// What a stand-in receiver got: headers and raw body.
type Received = Arc<Mutex<Vec<(axum::http::HeaderMap, Vec<u8>)>>>;

/// A stand-in for lucid's webhook endpoint: keeps what it gets, answers 200 when the
/// signature (checked here with its own HMAC) is right or the body is the verification
/// request, 401 otherwise.
async fn receiver(token: String) -> (String, Received) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/notion/webhook", listener.local_addr().unwrap());
    let received: Received = Arc::default();
    let kept = received.clone();
    let app = axum::Router::new().route(
        "/notion/webhook",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let kept = kept.clone();
                let token = token.clone();
                async move {
                    let body = body.to_vec();
                    let mut mac = Hmac::<Sha256>::new_from_slice(token.as_bytes()).unwrap();
                    mac.update(&body);
                    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
                    let signature = headers
                        .get("x-notion-signature")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    let verification = serde_json::from_slice::<Value>(&body)
                        .is_ok_and(|v| v.get("verification_token").is_some());
                    kept.lock().unwrap().push((headers, body));
                    if signature.as_deref() == Some(expected.as_str()) || verification {
                        axum::http::StatusCode::OK
                    } else {
                        axum::http::StatusCode::UNAUTHORIZED
                    }
                }
            },
        ),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

fn event_of(received: &Received, i: usize) -> (Option<String>, Value) {
    let got = received.lock().unwrap();
    let (headers, body) = &got[i];
    let signature = headers
        .get("x-notion-signature")
        .map(|v| v.to_str().unwrap().to_owned());
    (signature, serde_json::from_slice(body).unwrap())
}

#[tokio::test]
async fn delivers_signed_webhooks() {
    let (fake, db) = workspace().await;
    let (url, received) = receiver(fake.verification_token().to_owned()).await;

    // The verification request: unsigned, one field.
    assert_eq!(fake.deliver_verification(&url).await, Some(200));
    let (signature, body) = event_of(&received, 0);
    assert!(signature.is_none());
    assert_eq!(
        body,
        json!({"verification_token": fake.verification_token()})
    );
    assert!(fake.verification_token().starts_with("secret_"));

    // A person moves a task: page.properties_updated, authored by them, signed.
    fake.enable_webhooks(&url);
    let id = fake.add_page(&db.data_source_id, page("Webhook", "Blocked"));
    let ada = fake.add_person("Ada");
    assert_eq!(
        fake.move_page(&id, "Ready for agent", &ada).await,
        Some(200)
    );
    let (signature, event) = event_of(&received, 1);
    assert!(signature.unwrap().starts_with("sha256="));
    assert_eq!(event["type"], "page.properties_updated");
    assert_eq!(event["entity"], json!({"id": id, "type": "page"}));
    assert_eq!(event["authors"], json!([{"id": ada, "type": "person"}]));
    assert_eq!(event["attempt_number"], 1);
    assert_eq!(event["integration_id"], fake.bot().integration_id.as_str());
    assert_eq!(event["workspace_id"], fake.bot().workspace_id.as_str());
    assert!(event["subscription_id"].is_string());
    assert!(event["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        event["data"]["parent"]["data_source_id"],
        db.data_source_id.as_str()
    );
    assert_eq!(event["data"]["updated_properties"], json!(["Z%3ClH"]));
    assert_eq!(fake.status_of(&id).as_deref(), Some("Ready for agent"));
    assert_eq!(fake.writes_to(&id)[0].by, ada);
    let person = get(&fake, &format!("/users/{ada}")).await;
    assert_eq!(person.body["type"], "person");
    assert_eq!(person.body["name"], "Ada");

    // A person's other edits are validated like the API's.
    let refused = fake
        .edit_page_as(&ada, &id, &json!({"Status": {"select": {"name": "Done"}}}))
        .await;
    assert!(refused.unwrap_err().contains("expected to be status"));
    assert_eq!(fake.deliveries().len(), 2);

    // The bot's own write: delivered too, authored by the bot.
    let patch = json!({"properties": {"Status": {"status": {"name": "In progress"}}}});
    assert_eq!(
        call(&fake, "PATCH", &format!("/pages/{id}"), patch)
            .await
            .status,
        200
    );
    fake.wait_until("the bot's own event", |f| {
        (f.deliveries().len() == 3).then_some(())
    })
    .await;
    let (_, event) = event_of(&received, 2);
    assert_eq!(event["authors"][0]["type"], "bot");
    assert_eq!(event["authors"][0]["id"], fake.bot().id.as_str());

    // A comment.
    let comment = fake.comment_as(&ada, &id, "go").await;
    let (_, event) = event_of(&received, 3);
    assert_eq!(event["type"], "comment.created");
    assert_eq!(event["entity"], json!({"id": comment, "type": "comment"}));
    assert_eq!(event["data"]["page_id"], id.as_str());

    // The bot's own comment: comment.created authored by the bot; readable by id.
    let posted = call(
        &fake,
        "POST",
        "/comments",
        json!({"parent": {"page_id": id}, "rich_text": [{"text": {"content": "working"}}]}),
    )
    .await;
    assert_eq!(posted.status, 200);
    fake.wait_until("the bot's comment event", |f| {
        (f.deliveries().len() == 5).then_some(())
    })
    .await;
    let (_, event) = event_of(&received, 4);
    assert_eq!(event["type"], "comment.created");
    assert_eq!(event["authors"][0]["type"], "bot");
    let comment_id = posted.body["id"].as_str().unwrap();
    let read = get(&fake, &format!("/comments/{comment_id}")).await;
    assert_eq!(read.body["rich_text"][0]["plain_text"], "working");

    // Built events, delivered by hand: signed right, signed wrong, unsigned.
    let built = fake.page_properties_updated(&id, &ada, &["Status"]);
    assert_eq!(fake.deliver(&url, &built).await, Some(200));
    assert_eq!(fake.deliver_badly_signed(&url, &built).await, Some(401));
    assert_eq!(fake.deliver_unsigned(&url, &built).await, Some(401));
    let built = fake.comment_created(&comment, &id, &ada);
    assert_eq!(fake.deliver(&url, &built).await, Some(200));
    let deliveries = fake.deliveries();
    assert_eq!(deliveries.len(), 9);
    let (_, raw) = received.lock().unwrap()[5].clone();
    assert_eq!(
        deliveries[5].signature.as_deref(),
        Some(crate::fake_notion::signature(fake.verification_token(), &raw).as_str())
    );
}
