//! A GitHub webhook delivery: the `X-GitHub-Event` header (the first line) and the
//! body (the rest), read as the route reads it, then the comment's mention of the bot.
#![no_main]
use libfuzzer_sys::fuzz_target;
use lucid::github::inbound::{GithubEvent, mention, parse};

fuzz_target!(|data: &[u8]| {
    let (event, body) = lucid_fuzz::split_line(data);
    let Ok(event) = std::str::from_utf8(event) else {
        return;
    };
    let text = match parse(event, body) {
        Ok(GithubEvent::IssueComment(c) | GithubEvent::ReviewComment(c)) => {
            let _ = c.issue.thread().key();
            c.body
        }
        Ok(GithubEvent::Labeled { issue, .. } | GithubEvent::Assigned { issue, .. }) => {
            let _ = issue.thread().key();
            issue.body
        }
        Ok(GithubEvent::Ping | GithubEvent::Ignored { .. }) => return,
        Err(e) => {
            assert!(!e.reason().is_empty());
            return;
        }
    };
    for bot in ["lucid", "lucid[bot]", "@lucid"] {
        if let Some(lucid::github::inbound::Mention::Task(task)) = mention(&text, bot) {
            lucid_fuzz::intents(&task);
        }
    }
});
