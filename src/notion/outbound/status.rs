//! A session's state as its task page shows it: the page's status property (lucid's
//! "status message" on Notion, with the pull request's URL property), and the
//! comment that opens the session's work on the page.

use super::markup::NotionMarkup;
use crate::chat::StatusView;
use crate::config::NotionStatuses;
use crate::core::SessionState;
use crate::messages;
use serde::{Deserialize, Serialize};

/// What lucid writes to a page for a session's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageStatus {
    /// The status value to set; None leaves the page where it is.
    pub status: Option<String>,
    /// The pull request's address, once there is one.
    pub pr_url: Option<String>,
    /// The first comment of the session's work, rendered by [`NotionMarkup`].
    pub opening: String,
    /// Write `status` only while the page still shows In progress (a stopped
    /// session: whoever moved the page elsewhere decided where it goes).
    #[serde(default)]
    pub unless_moved: bool,
}

/// The status a session in `state` gives its page. A queued session shows in progress
/// too: the task was taken, and the page leaves the trigger status at once. A stopped
/// session's page goes to the failed status (it needs someone), unless a person moved
/// it elsewhere, which is how they stop it.
pub fn status_for(state: SessionState, statuses: &NotionStatuses) -> &str {
    match state {
        SessionState::Queued | SessionState::Provisioning | SessionState::Running => {
            &statuses.in_progress
        }
        SessionState::Completed => &statuses.in_review,
        SessionState::Failed | SessionState::Cancelled => &statuses.failed,
    }
}

pub fn page_status(view: &StatusView, statuses: &NotionStatuses) -> PageStatus {
    let session = view.session;
    PageStatus {
        status: Some(status_for(session.state, statuses).to_owned()),
        pr_url: session.pr_url.clone(),
        opening: messages::on_it(session.id, view.session_url).render(&NotionMarkup),
        unless_moved: session.state == SessionState::Cancelled,
    }
}

/// The properties to write for `status`: the status by name (a `status` property,
/// never a `select`), and the pull request's URL when there is one.
pub fn properties(
    status: &PageStatus,
    status_property: &str,
    pr_property: &str,
) -> serde_json::Value {
    let mut properties = serde_json::Map::new();
    if let Some(name) = &status.status {
        properties.insert(
            status_property.to_owned(),
            serde_json::json!({ "status": { "name": name } }),
        );
    }
    if let Some(url) = &status.pr_url {
        properties.insert(pr_property.to_owned(), serde_json::json!({ "url": url }));
    }
    serde_json::Value::Object(properties)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statuses() -> NotionStatuses {
        NotionStatuses {
            trigger: "Ready for agent".into(),
            in_progress: "In progress".into(),
            in_review: "In review".into(),
            failed: "Blocked".into(),
        }
    }

    #[test]
    fn each_state_has_its_status() {
        let s = statuses();
        assert_eq!(status_for(SessionState::Queued, &s), "In progress");
        assert_eq!(status_for(SessionState::Running, &s), "In progress");
        assert_eq!(status_for(SessionState::Completed, &s), "In review");
        assert_eq!(status_for(SessionState::Failed, &s), "Blocked");
        assert_eq!(status_for(SessionState::Cancelled, &s), "Blocked");
    }

    #[test]
    fn the_status_is_written_as_a_status_and_the_pr_as_a_url() {
        let status = PageStatus {
            status: Some("In review".into()),
            pr_url: Some("https://github.com/acme/app/pull/1".into()),
            opening: String::new(),
            unless_moved: false,
        };
        assert_eq!(
            properties(&status, "Status", "PR"),
            serde_json::json!({
                "Status": {"status": {"name": "In review"}},
                "PR": {"url": "https://github.com/acme/app/pull/1"},
            })
        );
        let stopped = PageStatus {
            status: None,
            pr_url: None,
            opening: String::new(),
            unless_moved: false,
        };
        assert_eq!(properties(&stopped, "Status", "PR"), serde_json::json!({}));
    }
}
