//! What words said to lucid ask for (src/core/intent.rs): an agent ("with gemini: …"),
//! stop, undo / revert to N, allow / reject [N], preview [port] N; and the names a
//! task gives (a repository, a delivery id, a session id). The input is the text.
#![no_main]
use libfuzzer_sys::fuzz_target;
use lucid::core::{DeliveryId, RepoRef};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    lucid_fuzz::intents(text);
    for word in text.split_whitespace().chain([text]) {
        if let Ok(repo) = RepoRef::parse(word) {
            // A name lucid accepts reads back as itself.
            let again = RepoRef::parse(&repo.to_string()).expect("a repository's name parses");
            assert_eq!(again, repo);
        }
    }
    let _ = DeliveryId::parse(text);
    let _ = text.parse::<lucid::core::SessionId>();
});
