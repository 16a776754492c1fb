//! Notion's documented API responses, each with what lucid reads from it.

use super::*;

fn fixture<T: serde::de::DeserializeOwned>(name: &str) -> T {
    let path = format!("{}/tests/data/notion/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn a_page_gives_its_title_status_and_who_edited_it() {
    let page: Page = fixture("page.object.json");
    assert_eq!(page.id, "be633bf1-dfa0-436d-b259-571129a590e5");
    assert_eq!(page.title(), "Bug bash");
    assert_eq!(page.status("Status"), Some("Not started"));
    assert_eq!(page.status("Title"), None, "a title is not a status");
    assert_eq!(page.status("Missing"), None);
    assert_eq!(page.last_edited_time, "2023-03-08T18:25:00.000Z");
    assert_eq!(
        page.last_edited_by(),
        Some("9188c6a5-7381-452f-b3dc-d4865aa89bdf")
    );
    assert_eq!(page.parent(), Some("a1d8501e-1ac1-43e9-a6bd-ea9fe6c8822b"));
    assert!(page.in_trash);
    assert_eq!(
        page.url.as_deref(),
        Some("https://www.notion.so/Bug-bash-be633bf1dfa0436db259571129a590e5")
    );
}

#[test]
fn a_property_reads_as_text_when_it_holds_a_short_text() {
    let page: Page = fixture("page.retrieve.json");
    assert_eq!(page.title(), "Tuscan kale");
    assert_eq!(page.text("Food group").as_deref(), Some("🥬 Vegetable"));
    assert_eq!(
        page.text("Photo").as_deref(),
        Some("https://i.insider.com/612fb23c9ef1e50018f93198?width=1136&format=jpeg")
    );
    assert!(
        page.text("Description")
            .is_some_and(|d| d.starts_with("A dark green leafy vegetable"))
    );
    // Numbers, dates and people are no repository.
    assert_eq!(page.text("Price"), None);
    assert_eq!(page.text("Last ordered"), None);
    // The older shape names a database, not a data source.
    assert_eq!(page.parent(), Some("d9824bdc-8445-4327-be8b-5b47500af6ce"));
}

#[test]
fn a_query_gives_its_pages_and_where_the_next_ones_start() {
    let list: List<Page> = fixture("data_sources.query.response.json");
    assert_eq!(list.results.len(), 1);
    assert!(!list.has_more);
    assert_eq!(list.next_cursor, None);
    assert_eq!(list.results[0].title(), "Tuscan kale");
    let older: List<Page> = fixture("databases.query.response.json");
    assert_eq!(older.results.len(), list.results.len());
}

#[test]
fn blocks_read_as_text_with_their_children_indented() {
    let list: List<Block> = fixture("blocks.children.list.json");
    assert_eq!(
        list.results
            .iter()
            .map(|b| b.kind.as_str())
            .collect::<Vec<_>>(),
        ["heading_2", "paragraph"]
    );
    let text = render_blocks(&list.results, &HashMap::new());
    assert!(
        text.starts_with("## Lacinato kale\nLacinato kale is a variety of kale"),
        "{text}"
    );

    let block = |id: &str, kind: &str, body: serde_json::Value, has_children: bool| -> Block {
        let mut value = serde_json::json!({"object": "block", "id": id, "type": kind, "has_children": has_children});
        value[kind] = body;
        serde_json::from_value(value).unwrap()
    };
    let words = |t: &str| serde_json::json!({"rich_text": [{"type": "text", "plain_text": t}]});
    let top = vec![
        block(
            "a",
            "to_do",
            serde_json::json!({"rich_text": [{"plain_text": "ship it"}], "checked": true}),
            true,
        ),
        block(
            "b",
            "code",
            serde_json::json!({"rich_text": [{"plain_text": "cargo test\ncargo fmt"}], "language": "shell"}),
            false,
        ),
        block("c", "divider", serde_json::json!({}), false),
    ];
    let children = HashMap::from([(
        "a".to_owned(),
        vec![block("d", "bulleted_list_item", words("first"), false)],
    )]);
    assert_eq!(
        render_blocks(&top, &children),
        "[x] ship it\n  - first\n```shell\ncargo test\ncargo fmt\n```\n[divider]"
    );
}

/// Found by the `notion_task` fuzz target: an answer in which a block is among its
/// own children made `render_blocks` recurse until the stack overflowed (SIGSEGV:
/// the whole service down, not one task).
#[test]
fn a_block_among_its_own_children_is_shown_once() {
    let block = |id: &str, text: &str| -> Block {
        serde_json::from_value(serde_json::json!({
            "id": id, "type": "paragraph", "has_children": true,
            "paragraph": {"rich_text": [{"plain_text": text}]}
        }))
        .unwrap()
    };
    let top = vec![block("a", "top")];
    let children = HashMap::from([
        (
            "a".to_owned(),
            vec![block("b", "child"), block("a", "again")],
        ),
        ("b".to_owned(), vec![block("a", "loop")]),
    ]);
    assert_eq!(
        render_blocks(&top, &children),
        "top\n  child\n    loop\n  again"
    );
}

#[test]
fn a_comment_gives_its_author_and_words() {
    let comment: Comment = fixture("comment.json");
    assert_eq!(comment.id, "b52b8ed6-e029-4707-a671-832549c09de3");
    assert_eq!(comment.author(), "067dee40-6ebd-496f-b446-093c715fb5ec");
    assert_eq!(comment.text(), "Hello world");
    assert_eq!(
        comment.discussion_id.as_deref(),
        Some("f1407351-36f5-4c49-a13c-49f8ba11776d")
    );
}

#[test]
fn the_integrations_own_user_is_a_bot() {
    let me: User = fixture("users.me.bot.json");
    assert_eq!(me.id, "16d84278-ab0e-484c-9bdd-b35da3bd8905");
    assert_eq!(me.kind.as_deref(), Some("bot"));
    assert_eq!(me.name.as_deref(), Some("pied piper"));
}
