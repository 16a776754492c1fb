//! Every sentence a person reads in a thread or on lucid's pages (`page`): worded once here, as [`Text`] (words,
//! mentions, code, links), and rendered by each platform in its own markup. So GitHub,
//! Slack and every platform after them say the same thing the same way; a platform
//! renders a message (mentions, formatting, limits), it never words one.

mod accounts;
mod agents;
mod change_request;
pub mod examples;
mod github_setup;
mod model_outage;
mod notices;
mod outages;
pub mod page;
mod setup;
mod status;
mod text;
mod workbench;

pub use accounts::*;
pub use agents::*;
pub use change_request::*;
pub use github_setup::*;
pub use model_outage::*;
pub use notices::*;
pub use outages::*;
pub use setup::*;
pub use status::*;
pub use text::{
    Markup, PlainWords, Span, Text, emoji_char, no_crowd_pings, one_line, one_line_within, shorten,
};
pub use workbench::*;

#[cfg(test)]
mod tests;
