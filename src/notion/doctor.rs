//! What `lucid doctor` checks with Notion: the token (`GET /v1/users/me`), and that
//! each task database is shared with the integration and has the properties and
//! status options lucid reads and writes; and how webhook events are verified, with
//! the verification token Notion sent, when it sent one.

use super::api::{DataSource, NotionApi, NotionError};
use crate::config::NotionSettings;
use crate::doctor::Outcome;
use std::time::Duration;

/// One line of the report: its outcome, what was found, what to do.
pub type Finding = (Outcome, String, Option<String>);

/// How long doctor waits for each answer (the client itself waits out 429s for
/// minutes; doctor should say something sooner).
const PATIENCE: Duration = Duration::from_secs(15);

async fn patiently<T>(
    call: impl Future<Output = Result<T, NotionError>>,
) -> Result<T, NotionError> {
    tokio::time::timeout(PATIENCE, call)
        .await
        .unwrap_or_else(|_| Err(NotionError::Unreachable("no answer within 15 s".into())))
}

/// Every finding about Notion. `received_token`: the verification token Notion last
/// sent to `/webhooks/notion`, as lucid kept it.
pub async fn check(
    settings: &NotionSettings,
    public_url: &str,
    received_token: Option<String>,
) -> Vec<Finding> {
    let api = NotionApi::new(&settings.api_url, settings.token.clone());
    let mut findings = Vec::new();
    match patiently(api.me()).await {
        Ok(me) => findings.push((
            Outcome::Ok,
            format!(
                "integration token works: bot {} ({})",
                me.name.as_deref().unwrap_or("unnamed"),
                me.id
            ),
            None,
        )),
        Err(e) => {
            let fix = match e {
                NotionError::Unauthorized => {
                    "copy the integration's Internal Integration Secret (notion.so/profile/integrations → the integration → Configuration) into LUCID_NOTION_TOKEN"
                }
                _ => "check that this host reaches Notion (and LUCID_NOTION_API_URL)",
            };
            findings.push((
                Outcome::Fail,
                format!("GET /v1/users/me: {e}"),
                Some(fix.into()),
            ));
            return findings;
        }
    }
    for database in &settings.databases {
        findings.extend(check_database(&api, settings, database).await);
    }
    findings.push(webhook(settings, public_url, received_token));
    findings
}

async fn check_database(
    api: &NotionApi,
    settings: &NotionSettings,
    database: &str,
) -> Vec<Finding> {
    let db = match patiently(api.database(database)).await {
        Ok(db) => db,
        Err(NotionError::NotShared { .. }) => {
            return vec![(
                Outcome::Fail,
                format!("database {database} is not shared with the integration (404)"),
                Some(
                    "open the database in Notion → ••• → Connections → add the integration".into(),
                ),
            )];
        }
        Err(e) => return vec![(Outcome::Fail, format!("database {database}: {e}"), None)],
    };
    let mut findings = Vec::new();
    for source in &db.data_sources {
        match patiently(api.data_source(&source.id)).await {
            Ok(schema) => findings.push(check_schema(settings, database, &schema)),
            Err(e) => findings.push((
                Outcome::Fail,
                format!("database {database}, data source {}: {e}", source.id),
                Some("share the data source with the integration (••• → Connections)".into()),
            )),
        }
    }
    if db.data_sources.is_empty() {
        findings.push((
            Outcome::Fail,
            format!("database {database} has no data source lucid can see"),
            Some("share the database's data source with the integration".into()),
        ));
    }
    findings
}

/// Whether a data source has what lucid reads and writes, with every gap named.
pub fn check_schema(settings: &NotionSettings, database: &str, schema: &DataSource) -> Finding {
    let mut problems = Vec::new();
    let status = &settings.status_property;
    match schema.property_type(status) {
        Some("status") => {
            let options = schema.status_options(status);
            let s = &settings.statuses;
            let missing: Vec<&str> = [&s.trigger, &s.in_progress, &s.in_review, &s.failed]
                .into_iter()
                .map(String::as_str)
                .filter(|name| !options.contains(name))
                .collect();
            if !missing.is_empty() {
                problems.push(format!(
                    "the status property {status:?} has no option {} (add it in the property's settings, or name another with LUCID_NOTION_*_STATUS)",
                    quoted(&missing)
                ));
            }
        }
        Some(other) => problems.push(format!(
            "{status:?} is a {other} property; lucid writes a status property (LUCID_NOTION_STATUS_PROPERTY names it)"
        )),
        None => problems.push(format!(
            "there is no property {status:?} (add a status property, or name yours with LUCID_NOTION_STATUS_PROPERTY)"
        )),
    }
    let pr = &settings.pr_property;
    match schema.property_type(pr) {
        Some("url") => {}
        Some(other) => problems.push(format!(
            "{pr:?} is a {other} property; the pull request's address is written to a URL property (LUCID_NOTION_PR_PROPERTY)"
        )),
        None => problems.push(format!(
            "there is no property {pr:?} (add a URL property for the pull request, or name yours with LUCID_NOTION_PR_PROPERTY)"
        )),
    }
    let repo = &settings.repo_property;
    let has_default = settings.database_repo(database).is_some();
    match schema.property_type(repo) {
        Some("select" | "rich_text" | "url") => {}
        Some(other) => problems.push(format!(
            "{repo:?} is a {other} property; the repository is read from a select, text or URL property"
        )),
        None if has_default => {}
        None => problems.push(format!(
            "there is no property {repo:?} and no default repository (add a select, text or URL property, or set LUCID_NOTION_DATABASE_REPOS)"
        )),
    }
    if problems.is_empty() {
        (
            Outcome::Ok,
            format!(
                "database {database}: shared; {status:?} has {}; {pr:?} takes the PR",
                quoted(&[
                    settings.statuses.trigger.as_str(),
                    &settings.statuses.in_progress,
                    &settings.statuses.in_review,
                    &settings.statuses.failed
                ])
            ),
            None,
        )
    } else {
        (
            Outcome::Fail,
            format!("database {database}: {}", problems.join("; ")),
            Some("fix the database's properties in Notion, or the settings that name them".into()),
        )
    }
}

fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// How events arrive: verified webhooks, polling, or both; the token Notion sent.
fn webhook(settings: &NotionSettings, public_url: &str, received: Option<String>) -> Finding {
    let endpoint = format!("{public_url}/webhooks/notion");
    let polling = match settings.poll_interval {
        Some(every) => format!("polling every {}", humantime::format_duration(every)),
        None => "polling off".to_owned(),
    };
    let configured = settings
        .webhook_secret
        .as_ref()
        .map(|s| secrecy::ExposeSecret::expose_secret(s).to_owned());
    match (configured, received) {
        (Some(set), Some(got)) if set != got => (
            Outcome::Warn,
            format!("Notion sent the verification token {got} to {endpoint}, but LUCID_NOTION_WEBHOOK_SECRET holds another; {polling}"),
            Some("paste the token into the subscription's Verify dialog and set LUCID_NOTION_WEBHOOK_SECRET to it".into()),
        ),
        (Some(_), _) => (
            Outcome::Ok,
            format!("webhook events to {endpoint} are verified with LUCID_NOTION_WEBHOOK_SECRET; {polling}"),
            None,
        ),
        (None, Some(got)) => (
            Outcome::Warn,
            format!("Notion sent the verification token {got} to {endpoint}; events are refused until it is set; {polling}"),
            Some("paste the token into the subscription's Verify dialog and set LUCID_NOTION_WEBHOOK_SECRET to it".into()),
        ),
        (None, None) if settings.poll_interval.is_none() => (
            Outcome::Fail,
            format!("no webhook verification token and {polling}: no task reaches lucid"),
            Some(format!("subscribe {endpoint} in the integration's Webhooks tab, or set LUCID_NOTION_POLL_INTERVAL")),
        ),
        (None, None) => (
            Outcome::Ok,
            format!("{polling}; for webhooks, subscribe {endpoint} in the integration's Webhooks tab (lucid then logs the verification token, and doctor shows it)"),
            None,
        ),
    }
}
