//! Notion, as a platform lucid takes tasks from and reports to (issue 15, being
//! built): a task page moved to the trigger status becomes a session, and lucid writes
//! its status, comments and the pull request back to the page.
//!
//! So far: [`inbound`] checks and reads webhook events and builds a page's task;
//! [`api`] reads the REST API's objects (pages, lists, blocks, comments, users), each
//! from Notion's documented examples in `tests/data/notion/`, through a client that
//! keeps Notion's pace and waits out its "not now". The platform itself (settings, the
//! webhook route, polling, write-back) is not registered yet.

pub mod api;
pub mod inbound;
