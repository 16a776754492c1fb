//! lucid's Notion client against the fake Notion: what it reads, what it writes, and
//! how it keeps Notion's pace and waits out "not now" without losing a write.

use crate::fake_notion::{BlockSpec, DatabaseSpec, FakeNotion, NewPage, NotionDatabase};
use crate::harness::within;
use lucid::notion::api::{MAX_TEXT_CHARS, NotionApi, NotionError};
use secrecy::SecretString;
use serde_json::json;

const TOKEN: &str = "ntn_lucid_test_0123456789";

async fn started() -> (FakeNotion, NotionDatabase, NotionApi) {
    let fake = FakeNotion::start(TOKEN).await;
    let db = fake.create_database(DatabaseSpec::default());
    let api = NotionApi::new(&fake.api_base, SecretString::from(TOKEN));
    (fake, db, api)
}

fn task(title: &str, status: &str) -> NewPage {
    NewPage {
        title: title.into(),
        status: Some(status.into()),
        repo: Some("acme/app".into()),
        ..NewPage::default()
    }
}

#[tokio::test]
async fn a_page_reads_with_its_status_repository_and_content() {
    let (fake, db, api) = started().await;
    let page = fake.add_page(
        &db.data_source_id,
        NewPage {
            blocks: vec![
                BlockSpec::Heading2("Steps".into()),
                BlockSpec::ToDo("reproduce".into(), true),
                BlockSpec::Toggle(
                    "details".into(),
                    vec![BlockSpec::Paragraph("it fails on login".into())],
                ),
                BlockSpec::Code("cargo test".into(), "shell".into()),
            ],
            ..task("Fix login", "Ready for agent")
        },
    );
    let read = within("the page", api.page(&page)).await.unwrap();
    assert_eq!(read.title(), "Fix login");
    assert_eq!(read.status("Status"), Some("Ready for agent"));
    assert_eq!(read.text("Repo").as_deref(), Some("acme/app"));
    let content = within("the content", api.content(&page)).await.unwrap();
    assert_eq!(
        content,
        "## Steps\n[x] reproduce\n- details\n  it fails on login\n```shell\ncargo test\n```"
    );
    let me = within("the bot", api.me()).await.unwrap();
    assert_eq!(me.id, fake.bot().id);
    assert!(fake.unexpected().is_empty(), "{:#?}", fake.unexpected());
}

#[tokio::test]
async fn a_query_finds_the_pages_in_a_status_across_pages_of_results() {
    let (fake, db, api) = started().await;
    fake.disable_rate_limit();
    for i in 0..130 {
        let status = if i % 2 == 0 {
            "Ready for agent"
        } else {
            "Done"
        };
        fake.add_page(&db.data_source_id, task(&format!("task {i}"), status));
    }
    let filter = json!({"property": "Status", "status": {"equals": "Ready for agent"}});
    let mut found = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let list = within(
            "a query",
            api.query(&db.data_source_id, Some(filter.clone()), cursor.as_deref()),
        )
        .await
        .unwrap();
        found.extend(list.results.iter().map(|p| p.title()));
        cursor = list.next_cursor.filter(|_| list.has_more);
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(found.len(), 65);
    assert!(
        found
            .iter()
            .all(|t| t.trim_start_matches("task ").parse::<u32>().unwrap() % 2 == 0)
    );
    assert!(fake.unexpected().is_empty(), "{:#?}", fake.unexpected());
}

#[tokio::test]
async fn writes_set_a_status_by_name_and_comments_of_any_length_arrive_whole() {
    let (fake, db, api) = started().await;
    let page = fake.add_page(&db.data_source_id, task("Fix login", "Ready for agent"));
    within(
        "the status",
        api.update_page(
            &page,
            json!({"Status": {"status": {"name": "In progress"}}}),
        ),
    )
    .await
    .unwrap();
    assert_eq!(fake.status_of(&page).as_deref(), Some("In progress"));
    // A status Notion does not have is refused with Notion's reason.
    let refused = within(
        "a wrong status",
        api.update_page(&page, json!({"Status": {"status": {"name": "Shipped"}}})),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(refused, NotionError::Refused { status: 400, .. }),
        "{refused}"
    );
    let long = format!(
        "{}|{}",
        "a".repeat(MAX_TEXT_CHARS),
        "b".repeat(MAX_TEXT_CHARS)
    );
    within("a comment", api.comment(&page, &long))
        .await
        .unwrap();
    let comments = fake.comments(&page);
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0].text, long);
    assert_eq!(comments[0].author, fake.bot().id);
}

#[tokio::test]
async fn not_now_answers_are_waited_out_and_the_write_still_lands() {
    let (fake, db, api) = started().await;
    let page = fake.add_page(&db.data_source_id, task("Fix login", "Ready for agent"));
    fake.fail_next(2, 429, 1);
    fake.fail_next(1, 529, 1);
    within(
        "the status through a storm",
        api.update_page(&page, json!({"Status": {"status": {"name": "In review"}}})),
    )
    .await
    .unwrap();
    assert_eq!(fake.status_of(&page).as_deref(), Some("In review"));
    let tries: Vec<u16> = fake
        .calls_to("PATCH", "/v1/pages")
        .iter()
        .map(|c| c.status)
        .collect();
    assert_eq!(tries, [429, 429, 529, 200]);
    // The fake flags any try made before its Retry-After had passed.
    assert!(fake.unexpected().is_empty(), "{:#?}", fake.unexpected());
}

#[tokio::test]
async fn lucid_keeps_notions_pace_and_is_never_rate_limited() {
    let (fake, db, api) = started().await;
    let page = fake.add_page(&db.data_source_id, task("Fix login", "Ready for agent"));
    for _ in 0..16 {
        within("a read", api.page(&page)).await.unwrap();
    }
    let limited = fake.calls().iter().filter(|c| c.status == 429).count();
    assert_eq!(limited, 0);
}

#[tokio::test]
async fn what_lucid_may_not_see_is_a_clear_error() {
    let (fake, db, api) = started().await;
    let page = fake.add_page(&db.data_source_id, task("Secret", "Ready for agent"));
    fake.unshare(&page);
    let err = within("an unshared page", api.page(&page))
        .await
        .unwrap_err();
    assert!(
        matches!(err, NotionError::NotShared { what: "page", .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("share it with the integration"),
        "{err}"
    );
    let stranger = NotionApi::new(&fake.api_base, SecretString::from("ntn_wrong"));
    let err = within("a wrong token", stranger.me()).await.unwrap_err();
    assert!(matches!(err, NotionError::Unauthorized), "{err}");
    assert!(!err.to_string().contains("ntn_wrong"));
}
