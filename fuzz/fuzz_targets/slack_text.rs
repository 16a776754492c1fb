//! A Slack message's text (mrkdwn with `<@U…>` mentions, `<url|label>` links and
//! Slack's escapes) as the task it gives: the bot's user id is the first line.
#![no_main]
use libfuzzer_sys::fuzz_target;
use lucid::slack::inbound::{is_stop, task_text};

fuzz_target!(|data: &[u8]| {
    let (bot, text) = lucid_fuzz::split_line(data);
    let (Ok(bot), Ok(text)) = (std::str::from_utf8(bot), std::str::from_utf8(text)) else {
        return;
    };
    for bot in [bot, "U0LUCID"] {
        let task = task_text(text, bot);
        let _ = is_stop(text);
        lucid_fuzz::intents(&task.text);
    }
});
