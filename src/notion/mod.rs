//! Notion, as a platform lucid takes tasks from and reports to (issue 15, being
//! built): a task page moved to the trigger status becomes a session, and lucid writes
//! its status, comments and the pull request back to the page.
//!
//! So far: what lucid reads from Notion. [`inbound`] checks and reads webhook events,
//! [`api`] the REST API's objects (pages, lists, blocks, comments, users), each from
//! Notion's documented examples in `tests/data/notion/`. The platform itself (settings, the
//! webhook route, polling, write-back) is not registered yet.

pub mod api;
pub mod inbound;
