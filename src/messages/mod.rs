//! Every sentence a person reads in a thread or on lucid's pages (`page`): worded once here, as [`Text`] (words,
//! mentions, code, links), and rendered by each platform in its own markup. So GitHub,
//! Slack and every platform after them say the same thing the same way; a platform
//! renders a message (mentions, formatting, limits), it never words one.

mod agents;
mod change_request;
pub mod examples;
mod notices;
pub mod page;
mod setup;
mod status;
mod text;
mod workbench;

pub use agents::*;
pub use change_request::*;
pub use notices::*;
pub use setup::*;
pub use status::*;
pub use text::{Markup, PlainWords, Span, Text, emoji_char, no_crowd_pings, one_line, shorten};
pub use workbench::*;

#[cfg(test)]
mod tests;
