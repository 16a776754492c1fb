//! `GET /api/v1/usage`: what sessions spent (tokens and cost), totalled by day,
//! repository, platform and person, for the days asked (`since` and `until`,
//! `YYYY-MM-DD`, both included, UTC; by default this month so far).

use super::api::ApiQuery;
use super::{ApiError, AppState};
use crate::core::Timestamp;
use crate::core::spending::{day_of, spending};
use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

/// The longest span one report covers.
const MAX_DAYS: i64 = 366;
/// The most sessions one report totals (a report past it says so).
const MAX_SESSIONS: u32 = 200_000;
const DAY_MILLIS: i64 = 86_400_000;

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct Span {
    /// The first day, `YYYY-MM-DD` (UTC); default the first of this month.
    since: Option<String>,
    /// The last day, included; default today.
    until: Option<String>,
}

/// Midnight UTC of `YYYY-MM-DD`, in milliseconds.
fn day_start(day: &str, name: &str) -> Result<i64, ApiError> {
    let format = ::time::macros::format_description!("[year]-[month]-[day]");
    let date = ::time::Date::parse(day, &format)
        .map_err(|_| ApiError::bad_request(format!("{name} must be a day such as 2026-12-01")))?;
    Ok(date.midnight().assume_utc().unix_timestamp() * 1_000)
}

/// What sessions spent, in total and by day, repository, platform and person.
#[utoipa::path(get, path = "/usage", params(Span),
    responses((status = 200, description = "The totals"), (status = 400, description = "A bad span")))]
pub(super) async fn usage(
    State(state): State<AppState>,
    ApiQuery(span): ApiQuery<Span>,
) -> Result<Json<Value>, ApiError> {
    let today = day_of(Timestamp::now());
    let first_of_month = format!("{}-01", &today[..7]);
    let since_day = span.since.unwrap_or(first_of_month);
    let until_day = span.until.unwrap_or(today);
    let since = day_start(&since_day, "since")?;
    let until = day_start(&until_day, "until")? + DAY_MILLIS;
    if until <= since {
        return Err(ApiError::bad_request("until must not be before since"));
    }
    if (until - since) / DAY_MILLIS > MAX_DAYS {
        return Err(ApiError::bad_request(format!(
            "a report covers at most {MAX_DAYS} days"
        )));
    }
    let sessions = state
        .store
        .sessions_made_between(
            Timestamp::from_millis(since),
            Timestamp::from_millis(until),
            MAX_SESSIONS,
        )
        .await?;
    let complete = sessions.len() < MAX_SESSIONS as usize;
    let report = spending(&sessions);
    let mut body = json!({ "since": since_day, "until": until_day, "complete": complete });
    if let (Value::Object(body), Ok(Value::Object(report))) =
        (&mut body, serde_json::to_value(&report))
    {
        body.extend(report);
    }
    Ok(Json(body))
}
