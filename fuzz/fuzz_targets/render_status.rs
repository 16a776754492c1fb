//! A session and its run's log, as every platform shows it: GitHub's progress comment
//! (65,536 characters), Slack's status message (each block's text 3,000, the message's
//! text 4,000), Discord's (2,000), Notion's page status and opening comment (rich text
//! of 2,000 a item); and the replies its log's key moments and its ending make.
#![no_main]
use libfuzzer_sys::fuzz_target;
use lucid::chat::StatusView;
use lucid::config::NotionStatuses;
use lucid::core::digest::{Digest, moments};
use lucid::github::outbound::progress::{self, ProgressView};
use lucid::messages;
use lucid::notion::outbound::markup::rich_text;
use lucid_fuzz::*;

fuzz_target!(|input: (RenderInput, u16)| {
    let (input, split) = input;
    let r = input.build();
    let (session, events, now, url) = (&r.session, &r.events[..], r.now, &r.session_url[..]);

    let comment = progress::render(&ProgressView {
        session,
        events,
        now,
        session_url: url,
    });
    within("GitHub's progress comment", &comment, GITHUB_COMMENT_CHARS);
    within(
        "GitHub's progress comment (its own bound)",
        &comment,
        progress::MAX_CHARS,
    );

    let slack =
        lucid::slack::outbound::status::status_post(&lucid::slack::outbound::status::StatusView {
            session,
            events,
            now,
            session_url: url,
        });
    within("Slack's status text", &slack.text, SLACK_TEXT_CHARS);
    slack_blocks(&serde_json::to_value(&slack.blocks).unwrap());

    let view = StatusView {
        session,
        events,
        now,
        session_url: url,
    };
    let discord = lucid::discord::outbound::status::status_post(&view);
    within(
        "Discord's status message",
        &discord.content,
        DISCORD_CONTENT_CHARS,
    );

    let statuses = NotionStatuses {
        trigger: "Ready".into(),
        in_progress: "In progress".into(),
        in_review: "In review".into(),
        failed: "Blocked".into(),
    };
    let page = lucid::notion::outbound::status::page_status(&view, &statuses);
    notion_rich_text(&rich_text(&page.opening));
    let _ = lucid::notion::outbound::status::properties(&page, "Status", "PR");

    // The replies of the moments after event `split`, and the ending.
    let split = usize::from(split).min(events.len());
    let (before, new) = events.split_at(split);
    let mut texts: Vec<messages::Text> = moments(before, new)
        .iter()
        .map(|m| messages::moment(m, url))
        .collect();
    if let Some(ending) = messages::ending(session, &Digest::read(events)) {
        texts.push(ending);
    }
    replies(&texts);
});
