//! Key moments as replies (`messages::moment`: a file edited with its diff, a command
//! failed with its output, a preview, a permission request), long ones included, as
//! each platform renders and sends them: within Slack's 4,000, Discord's 2,000 and
//! Notion's 2,000 a rich-text item.
#![no_main]
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use lucid::core::digest::Moment;
use lucid::messages;
use lucid_fuzz::{Texts, Txt, replies};

#[derive(Arbitrary, Debug)]
enum M {
    CommandFailed(Txt, i64, Txt),
    FileEdited(Txt, Txt, u64),
    PreviewOpened(u16, Txt),
    PreviewRefused(Txt),
    PermissionAsked(u32, Txt, u64),
}

fuzz_target!(|input: (Txt, Vec<M>)| {
    let (url, ms) = input;
    // Past Slack's 4,000, the largest reply limit.
    let mut t = Texts::within(12_000);
    let url = t.get(&url);
    let owned: Vec<(String, String, &M)> = ms
        .iter()
        .map(|m| match m {
            M::CommandFailed(a, _, b) | M::FileEdited(a, b, _) => (t.get(a), t.get(b), m),
            M::PreviewOpened(_, a) | M::PreviewRefused(a) | M::PermissionAsked(_, a, _) => {
                (t.get(a), String::new(), m)
            }
        })
        .collect();
    let texts: Vec<messages::Text> = owned
        .iter()
        .map(|(a, b, m)| {
            let moment = match m {
                M::CommandFailed(_, exit_code, _) => Moment::CommandFailed {
                    command: a,
                    exit_code: *exit_code,
                    output: b,
                },
                M::FileEdited(_, _, seq) => Moment::FileEdited {
                    path: a,
                    diff: b,
                    seq: *seq,
                },
                M::PreviewOpened(port, _) => Moment::PreviewOpened {
                    port: *port,
                    url: a,
                },
                M::PreviewRefused(_) => Moment::PreviewRefused { reason: a },
                M::PermissionAsked(number, _, within_secs) => Moment::PermissionAsked {
                    number: *number,
                    title: a,
                    within_secs: *within_secs,
                },
            };
            messages::moment(&moment, &url)
        })
        .collect();
    replies(&texts);
});
