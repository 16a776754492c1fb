//! The task a Notion page gives: its title and blocks read from Notion's JSON (a page,
//! a list of blocks, a comment, by the first byte), turned into the task's text.
#![no_main]
use libfuzzer_sys::fuzz_target;
use lucid::notion::api::{Block, Comment, List, Page, render_blocks};
use lucid::notion::inbound::{MAX_CONTENT_CHARS, task_text};
use std::collections::{HashMap, VecDeque};

/// `NotionApi::content`'s limit on the blocks it reads.
const MAX_BLOCKS: usize = 1_000;

fuzz_target!(|data: &[u8]| {
    let Some((&kind, json)) = data.split_first() else {
        return;
    };
    match kind % 3 {
        0 => {
            let Ok(page) = serde_json::from_slice::<Page>(json) else {
                return;
            };
            let _ = (page.title(), page.last_edited_by(), page.parent());
            let _ = (page.status("Status"), page.text("Repository"));
            let content = String::from_utf8_lossy(json);
            let task = task_text(&page, &content);
            // The content is cut: the title and the link are the rest.
            let most = MAX_CONTENT_CHARS
                + page.title().chars().count()
                + page.url.as_deref().map_or(0, |u| u.chars().count())
                + 200;
            assert!(task.chars().count() <= most, "the task is not cut");
            lucid_fuzz::intents(&task);
        }
        1 => {
            // A page's blocks as Notion's API answers for each parent (the page is
            // "page"), read as `NotionApi::content` reads them: breadth first, each
            // block with children asked for them, at most MAX_BLOCKS in all.
            let Ok(answers) = serde_json::from_slice::<HashMap<String, List<Block>>>(json) else {
                return;
            };
            let mut children: HashMap<String, Vec<Block>> = HashMap::new();
            let mut to_read = VecDeque::from(["page".to_owned()]);
            let mut read = 0;
            while let Some(parent) = to_read.pop_front() {
                let list = answers
                    .get(&parent)
                    .map(|l| l.results.clone())
                    .unwrap_or_default();
                read += list.len();
                for block in list.iter().filter(|b| b.has_children) {
                    to_read.push_back(block.id.clone());
                }
                children.entry(parent).or_default().extend(list);
                if read >= MAX_BLOCKS {
                    break;
                }
            }
            let top = children.remove("page").unwrap_or_default();
            for block in &top {
                let _ = block.text();
            }
            let _ = render_blocks(&top, &children);
        }
        _ => {
            let Ok(comment) = serde_json::from_slice::<Comment>(json) else {
                return;
            };
            let _ = (comment.author(), comment.text(), comment.page());
            let _ = comment.mentions("bot-id");
            lucid_fuzz::intents(&comment.text_to("bot-id"));
        }
    }
});
