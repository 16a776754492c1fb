//! What lucid writes to a task page: comments in Notion's rich text ([`markup`]) and
//! the page's status and pull-request properties ([`status`]).

pub mod markup;
pub mod status;
