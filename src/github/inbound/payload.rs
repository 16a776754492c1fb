//! A webhook body, read by its `X-GitHub-Event` into the few facts lucid acts on. Only
//! the fields lucid needs are read; everything else in GitHub's large payloads is left
//! alone, so a field GitHub adds or drops elsewhere changes nothing here.

use crate::chat::PayloadError;
use crate::core::ids::RepoRef;
use crate::core::trigger::ThreadRef;
use serde::Deserialize;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde_json::Value;

/// What a delivery means to lucid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GithubEvent {
    /// GitHub checking that the webhook works (`ping`).
    Ping,
    /// `issue_comment` created: on an issue, or on a pull request's conversation
    /// (`issue.is_pull_request`).
    IssueComment(Comment),
    /// `pull_request_review_comment` created: a comment on a line of a pull request's
    /// diff.
    ReviewComment(Comment),
    /// `issues` labeled.
    Labeled {
        issue: Issue,
        label: String,
        sender: Actor,
    },
    /// `issues` assigned.
    Assigned {
        issue: Issue,
        assignee: String,
        sender: Actor,
    },
    /// Any other event type or action (a comment edited or deleted, an issue opened,
    /// a push, ...): answered 2xx and otherwise ignored.
    Ignored { reason: String },
}

/// A GitHub account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub login: String,
    /// A bot or GitHub App (`type` "Bot", or a login ending in `[bot]`). Bots never
    /// trigger lucid, lucid itself included.
    pub is_bot: bool,
}

/// An issue, or a pull request seen as one (GitHub numbers both alike).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub repo: RepoRef,
    pub number: u64,
    pub title: String,
    /// Empty when the issue has no description.
    pub body: String,
    pub is_pull_request: bool,
    /// The GitHub App installation that sent the delivery, when lucid runs as an App.
    pub installation_id: Option<u64>,
}

impl Issue {
    /// The conversation a session started from this issue answers in.
    pub fn thread(&self) -> ThreadRef {
        ThreadRef::Github {
            repo: self.repo.clone(),
            issue: self.number,
        }
    }
}

/// A comment on an issue or pull request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    pub issue: Issue,
    pub comment_id: u64,
    pub body: String,
    pub author: Actor,
}

/// Reads a delivery's body. `event` is its `X-GitHub-Event` header. The body must be
/// a JSON object whatever the event; only the events and actions lucid acts on are read
/// further, every other one is [`GithubEvent::Ignored`].
pub fn parse(event: &str, body: &[u8]) -> Result<GithubEvent, PayloadError> {
    let event = event.trim();
    if event.is_empty() {
        return Err(PayloadError::new("the X-GitHub-Event header is empty"));
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        PayloadError::new(format!(
            "the body is not JSON ({e}); the GitHub webhook's content type must be \
             application/json"
        ))
    })?;
    if !value.is_object() {
        return Err(PayloadError::new(format!(
            "the {event} payload is not a JSON object"
        )));
    }
    match event {
        "ping" => Ok(GithubEvent::Ping),
        "issue_comment" => match action(event, &value)? {
            "created" => {
                let p: IssueCommentPayload = fields(event, &value)?;
                let issue = p.issue.into_issue(p.repository, p.installation);
                Ok(GithubEvent::IssueComment(p.comment.into_comment(issue)))
            }
            other => Ok(ignored_action(event, other)),
        },
        "pull_request_review_comment" => match action(event, &value)? {
            "created" => {
                let p: ReviewCommentPayload = fields(event, &value)?;
                let issue = Issue {
                    repo: p.repository.full_name,
                    number: p.pull_request.number,
                    title: p.pull_request.title,
                    body: p.pull_request.body.unwrap_or_default(),
                    is_pull_request: true,
                    installation_id: p.installation.map(|i| i.id),
                };
                Ok(GithubEvent::ReviewComment(p.comment.into_comment(issue)))
            }
            other => Ok(ignored_action(event, other)),
        },
        "issues" => match action(event, &value)? {
            "labeled" => {
                let p: LabeledPayload = fields(event, &value)?;
                Ok(GithubEvent::Labeled {
                    issue: p.issue.into_issue(p.repository, p.installation),
                    label: p.label.name,
                    sender: p.sender.into(),
                })
            }
            "assigned" => {
                let p: AssignedPayload = fields(event, &value)?;
                Ok(GithubEvent::Assigned {
                    issue: p.issue.into_issue(p.repository, p.installation),
                    assignee: p.assignee.login,
                    sender: p.sender.into(),
                })
            }
            other => Ok(ignored_action(event, other)),
        },
        other => Ok(GithubEvent::Ignored {
            reason: format!("{other} events are not handled"),
        }),
    }
}

fn action<'v>(event: &str, value: &'v Value) -> Result<&'v str, PayloadError> {
    match value.get("action") {
        Some(Value::String(action)) => Ok(action),
        Some(_) => Err(PayloadError::new(format!(
            "the {event} payload is invalid: `action` is not a string"
        ))),
        None => Err(PayloadError::new(format!(
            "the {event} payload is invalid: `action` is missing"
        ))),
    }
}

fn ignored_action(event: &str, action: &str) -> GithubEvent {
    GithubEvent::Ignored {
        reason: format!("{event} {action:?} is not handled"),
    }
}

/// Reads the fields `T` needs, naming the one at fault: "`issue.number` is missing".
fn fields<T: DeserializeOwned>(event: &str, value: &Value) -> Result<T, PayloadError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        // serde's own wording for a missing field; the path is then its parent's.
        let missing = inner
            .strip_prefix("missing field `")
            .and_then(|rest| rest.strip_suffix('`'));
        let reason = match (missing, path.as_str()) {
            (Some(field), ".") => format!("`{field}` is missing"),
            (Some(field), parent) => format!("`{parent}.{field}` is missing"),
            (None, ".") => inner,
            (None, at) => format!("`{at}` is wrong: {inner}"),
        };
        PayloadError::new(format!("the {event} payload is invalid: {reason}"))
    })
}

#[derive(Deserialize)]
struct RawUser {
    login: String,
    #[serde(rename = "type")]
    kind: Option<String>,
}

impl From<RawUser> for Actor {
    fn from(user: RawUser) -> Self {
        let is_bot = user.kind.as_deref() == Some("Bot") || user.login.ends_with("[bot]");
        Actor {
            login: user.login,
            is_bot,
        }
    }
}

#[derive(Deserialize)]
struct RawRepository {
    full_name: RepoRef,
}

#[derive(Deserialize)]
struct RawInstallation {
    id: u64,
}

#[derive(Deserialize)]
struct RawIssue {
    number: u64,
    title: String,
    body: Option<String>,
    /// Present (an object of links) when the issue is a pull request.
    pull_request: Option<IgnoredAny>,
}

impl RawIssue {
    fn into_issue(self, repository: RawRepository, installation: Option<RawInstallation>) -> Issue {
        Issue {
            repo: repository.full_name,
            number: self.number,
            title: self.title,
            body: self.body.unwrap_or_default(),
            is_pull_request: self.pull_request.is_some(),
            installation_id: installation.map(|i| i.id),
        }
    }
}

#[derive(Deserialize)]
struct RawPullRequest {
    number: u64,
    title: String,
    body: Option<String>,
}

#[derive(Deserialize)]
struct RawComment {
    id: u64,
    body: Option<String>,
    user: RawUser,
}

impl RawComment {
    fn into_comment(self, issue: Issue) -> Comment {
        Comment {
            issue,
            comment_id: self.id,
            body: self.body.unwrap_or_default(),
            author: self.user.into(),
        }
    }
}

#[derive(Deserialize)]
struct RawLabel {
    name: String,
}

#[derive(Deserialize)]
struct IssueCommentPayload {
    issue: RawIssue,
    comment: RawComment,
    repository: RawRepository,
    installation: Option<RawInstallation>,
}

#[derive(Deserialize)]
struct ReviewCommentPayload {
    pull_request: RawPullRequest,
    comment: RawComment,
    repository: RawRepository,
    installation: Option<RawInstallation>,
}

#[derive(Deserialize)]
struct LabeledPayload {
    issue: RawIssue,
    label: RawLabel,
    repository: RawRepository,
    installation: Option<RawInstallation>,
    sender: RawUser,
}

#[derive(Deserialize)]
struct AssignedPayload {
    issue: RawIssue,
    assignee: RawUser,
    repository: RawRepository,
    installation: Option<RawInstallation>,
    sender: RawUser,
}

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!(
                "../../../tests/data/github/",
                $name,
                ".payload.json"
            ))
        };
    }

    const COMMENT_CREATED: &str = fixture!("issue_comment.created");

    fn codertocat() -> Actor {
        Actor {
            login: "Codertocat".into(),
            is_bot: false,
        }
    }

    fn spelling_issue(installation_id: Option<u64>) -> Issue {
        Issue {
            repo: RepoRef::parse("Codertocat/Hello-World").unwrap(),
            number: 1,
            title: "Spelling error in the README file".into(),
            body: "It looks like you accidently spelled 'commit' with two 't's.".into(),
            is_pull_request: false,
            installation_id,
        }
    }

    fn spelling_comment(installation_id: Option<u64>) -> GithubEvent {
        GithubEvent::IssueComment(Comment {
            issue: spelling_issue(installation_id),
            comment_id: 492700400,
            body: "You are totally right! I'll get this fixed right away.".into(),
            author: codertocat(),
        })
    }

    /// The `issue_comment.created` fixture, changed by `edit`.
    fn edited_comment(edit: impl FnOnce(&mut Value)) -> Vec<u8> {
        let mut value: Value = serde_json::from_str(COMMENT_CREATED).unwrap();
        edit(&mut value);
        serde_json::to_vec(&value).unwrap()
    }

    fn refusal(event: &str, body: &[u8]) -> String {
        parse(event, body).unwrap_err().reason().to_owned()
    }

    #[test]
    fn a_created_issue_comment_is_read() {
        assert_eq!(
            parse("issue_comment", COMMENT_CREATED.as_bytes()).unwrap(),
            spelling_comment(None)
        );
    }

    #[test]
    fn a_created_issue_comment_carries_its_installation() {
        let body = fixture!("issue_comment.created.with-installation");
        assert_eq!(
            parse("issue_comment", body.as_bytes()).unwrap(),
            spelling_comment(Some(1))
        );
    }

    #[test]
    fn a_created_issue_comment_in_an_organization_is_read() {
        let body = fixture!("issue_comment.created.with-organization");
        assert_eq!(
            parse("issue_comment", body.as_bytes()).unwrap(),
            spelling_comment(None)
        );
    }

    #[test]
    fn edited_and_deleted_comments_are_ignored() {
        for (body, action) in [
            (fixture!("issue_comment.edited"), "edited"),
            (fixture!("issue_comment.deleted"), "deleted"),
        ] {
            assert_eq!(
                parse("issue_comment", body.as_bytes()).unwrap(),
                GithubEvent::Ignored {
                    reason: format!("issue_comment \"{action}\" is not handled")
                }
            );
        }
    }

    #[test]
    fn a_labeled_issue_is_read() {
        let body = fixture!("issues.labeled");
        assert_eq!(
            parse("issues", body.as_bytes()).unwrap(),
            GithubEvent::Labeled {
                issue: spelling_issue(None),
                label: "bug".into(),
                sender: codertocat(),
            }
        );
    }

    #[test]
    fn an_assigned_issue_is_read() {
        let body = fixture!("issues.assigned");
        assert_eq!(
            parse("issues", body.as_bytes()).unwrap(),
            GithubEvent::Assigned {
                issue: spelling_issue(None),
                assignee: "Codertocat".into(),
                sender: codertocat(),
            }
        );
    }

    #[test]
    fn an_opened_issue_is_ignored() {
        let body = fixture!("issues.opened");
        assert_eq!(
            parse("issues", body.as_bytes()).unwrap(),
            GithubEvent::Ignored {
                reason: "issues \"opened\" is not handled".into()
            }
        );
    }

    #[test]
    fn pings_are_read() {
        for body in [fixture!("ping"), fixture!("ping.with-app_id")] {
            assert_eq!(parse("ping", body.as_bytes()).unwrap(), GithubEvent::Ping);
        }
    }

    #[test]
    fn a_created_review_comment_is_read_on_its_pull_request() {
        let body = fixture!("pull_request_review_comment.created");
        assert_eq!(
            parse("pull_request_review_comment", body.as_bytes()).unwrap(),
            GithubEvent::ReviewComment(Comment {
                issue: Issue {
                    repo: RepoRef::parse("Codertocat/Hello-World").unwrap(),
                    number: 2,
                    title: "Update the README with new information.".into(),
                    body: "This is a pretty simple change that we need to pull into master.".into(),
                    is_pull_request: true,
                    installation_id: Some(1),
                },
                comment_id: 284312630,
                body: "Maybe you should use more emoji on this line.".into(),
                author: codertocat(),
            })
        );
    }

    #[test]
    fn a_comment_on_a_pull_requests_conversation_is_marked_so() {
        let body = edited_comment(|v| {
            v["issue"]["pull_request"] = serde_json::json!({
                "url": "https://api.github.com/repos/Codertocat/Hello-World/pulls/1"
            });
        });
        let GithubEvent::IssueComment(comment) = parse("issue_comment", &body).unwrap() else {
            panic!("not an issue comment");
        };
        assert!(comment.issue.is_pull_request);
    }

    #[test]
    fn bots_are_recognized_by_type_or_login() {
        for (login, kind, is_bot) in [
            ("lucid[bot]", "Bot", true),
            ("renovate", "Bot", true),
            ("dependabot[bot]", "User", true),
            ("Codertocat", "User", false),
            ("botanist", "User", false),
        ] {
            let body = edited_comment(|v| {
                v["comment"]["user"]["login"] = login.into();
                v["comment"]["user"]["type"] = kind.into();
            });
            let GithubEvent::IssueComment(comment) = parse("issue_comment", &body).unwrap() else {
                panic!("not an issue comment");
            };
            assert_eq!(
                comment.author,
                Actor {
                    login: login.into(),
                    is_bot
                }
            );
        }
    }

    #[test]
    fn a_missing_description_reads_as_empty() {
        let body = edited_comment(|v| v["issue"]["body"] = Value::Null);
        let GithubEvent::IssueComment(comment) = parse("issue_comment", &body).unwrap() else {
            panic!("not an issue comment");
        };
        assert_eq!(comment.issue.body, "");
    }

    #[test]
    fn other_events_are_ignored() {
        assert_eq!(
            parse("push", br#"{"ref":"refs/heads/main"}"#).unwrap(),
            GithubEvent::Ignored {
                reason: "push events are not handled".into()
            }
        );
    }

    #[test]
    fn malformed_json_is_refused_with_the_reason() {
        let reason = refusal("issue_comment", br#"{"action": "created""#);
        assert!(reason.starts_with("the body is not JSON"), "{reason}");
        assert!(reason.contains("EOF"), "{reason}");
        // A webhook left on the form content type.
        let reason = refusal("ping", b"payload=%7B%7D");
        assert!(reason.contains("application/json"), "{reason}");
        assert_eq!(
            refusal("ping", b"[1, 2]"),
            "the ping payload is not a JSON object"
        );
    }

    #[test]
    fn an_empty_event_header_is_refused() {
        assert_eq!(
            refusal(" ", COMMENT_CREATED.as_bytes()),
            "the X-GitHub-Event header is empty"
        );
    }

    #[test]
    fn a_missing_field_is_named_with_its_path() {
        let body = edited_comment(|v| {
            v["issue"].as_object_mut().unwrap().remove("number");
        });
        assert_eq!(
            refusal("issue_comment", &body),
            "the issue_comment payload is invalid: `issue.number` is missing"
        );
        let body = edited_comment(|v| {
            v["comment"]["user"]
                .as_object_mut()
                .unwrap()
                .remove("login");
        });
        assert_eq!(
            refusal("issue_comment", &body),
            "the issue_comment payload is invalid: `comment.user.login` is missing"
        );
        let body = edited_comment(|v| {
            v.as_object_mut().unwrap().remove("repository");
        });
        assert_eq!(
            refusal("issue_comment", &body),
            "the issue_comment payload is invalid: `repository` is missing"
        );
        let body = edited_comment(|v| {
            v.as_object_mut().unwrap().remove("action");
        });
        assert_eq!(
            refusal("issue_comment", &body),
            "the issue_comment payload is invalid: `action` is missing"
        );
    }

    #[test]
    fn a_wrong_field_is_named_with_its_path() {
        let body = edited_comment(|v| v["issue"]["number"] = "1".into());
        assert_eq!(
            refusal("issue_comment", &body),
            "the issue_comment payload is invalid: `issue.number` is wrong: \
             invalid type: string \"1\", expected u64"
        );
        let body = edited_comment(|v| v["repository"]["full_name"] = "not a repo".into());
        assert_eq!(
            refusal("issue_comment", &body),
            "the issue_comment payload is invalid: `repository.full_name` is wrong: \
             \"not a repo\" is not a repository name like owner/repo"
        );
        let body = edited_comment(|v| v["action"] = 1.into());
        assert_eq!(
            refusal("issue_comment", &body),
            "the issue_comment payload is invalid: `action` is not a string"
        );
    }

    #[test]
    fn an_issue_answers_in_its_own_thread() {
        assert_eq!(
            spelling_issue(None).thread().key(),
            "Codertocat/Hello-World#1"
        );
    }
}
