//! The task a page gives a session: its title, its content as text and where the page
//! is. The agent gets it fenced as untrusted, like every task.

use crate::notion::api::Page;

/// How many characters of a page's content a task takes. A page is a task's
/// description, not its archive: beyond this the agent would spend its context on it.
pub const MAX_CONTENT_CHARS: usize = 16_000;

/// The whole task `page` gives, with `content` (its blocks as text) cut at
/// [`MAX_CONTENT_CHARS`], saying so where it is cut.
pub fn task_text(page: &Page, content: &str) -> String {
    let mut task = format!("Notion task: {}", page.title().trim());
    let content = content.trim();
    if !content.is_empty() {
        task.push_str("\n\n");
        match content.char_indices().nth(MAX_CONTENT_CHARS) {
            None => task.push_str(content),
            Some((cut, _)) => {
                task.push_str(&content[..cut]);
                task.push_str(&format!(
                    "\n[The page goes on: cut after {MAX_CONTENT_CHARS} characters.]"
                ));
            }
        }
    }
    if let Some(url) = &page.url {
        task.push_str(&format!("\n\nThe page: {url}"));
    }
    task
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(title: &str) -> Page {
        serde_json::from_value(serde_json::json!({
            "object": "page",
            "id": "p1",
            "last_edited_time": "2026-11-30T10:00:00.000Z",
            "url": "https://www.notion.so/Fix-login-p1",
            "properties": {"Name": {"id": "title", "type": "title", "title": [{"plain_text": title}]}}
        }))
        .unwrap()
    }

    #[test]
    fn a_task_is_the_title_the_content_and_the_page() {
        assert_eq!(
            task_text(&page("Fix login"), "## Steps\nClick sign in.\n"),
            "Notion task: Fix login\n\n## Steps\nClick sign in.\n\nThe page: https://www.notion.so/Fix-login-p1"
        );
        assert_eq!(
            task_text(&page("Fix login"), "  "),
            "Notion task: Fix login\n\nThe page: https://www.notion.so/Fix-login-p1"
        );
    }

    #[test]
    fn long_content_is_cut_on_a_character_and_the_cut_is_said() {
        let content = "é".repeat(MAX_CONTENT_CHARS + 5);
        let task = task_text(&page("Big"), &content);
        assert_eq!(task.matches('é').count(), MAX_CONTENT_CHARS);
        assert!(task.contains("[The page goes on: cut after 16000 characters.]"));
        assert!(task.ends_with("The page: https://www.notion.so/Fix-login-p1"));
    }
}
