//! Who is looking: a signed-in operator (the sign-in cookie), someone holding a
//! session's share token, or nobody lucid knows. And how a page says no.

use super::signin::SignInPage;
use crate::core::{Session, SessionId, Timestamp};
use crate::http::{ApiError, AppState};
use crate::messages::page::WORDS;
use crate::store::ShareRecord;
use crate::web::access::share_hash;
use askama::Template;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

/// The sign-in cookie's name.
pub(super) const COOKIE: &str = "lucid_signin";

pub(super) enum Viewer {
    /// Signed in: may see everything and act. Holds the cookie its forms are tied to.
    Operator { cookie: String },
    /// Holds the session's share token: reads that session only.
    Shared { token: String },
}

impl Viewer {
    pub(super) fn is_operator(&self) -> bool {
        matches!(self, Viewer::Operator { .. })
    }
}

/// The sign-in cookie, when it is there and still good.
pub(super) fn signed_in(state: &AppState, headers: &HeaderMap) -> Option<String> {
    let cookie = cookie(headers, COOKIE)?;
    state
        .links
        .access()
        .is_signed_in(&cookie, Timestamp::now())
        .then_some(cookie)
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.to_owned())
}

/// Who may see `raw_id`'s page: an operator, or the holder of one of its live share
/// tokens. Anyone else gets a refusal that shows nothing of the session: 401 without a
/// token (the sign-in form), 404 with a wrong or revoked one, as for no session.
pub(super) async fn viewer_of(
    state: &AppState,
    headers: &HeaderMap,
    raw_id: &str,
    share: Option<&str>,
    back_to: &str,
) -> Result<(Viewer, Session), Refusal> {
    let id: Option<SessionId> = raw_id.parse().ok();
    if let Some(cookie) = signed_in(state, headers) {
        let session = match id {
            Some(id) => state.store.session(id).await?,
            None => None,
        };
        return session
            .map(|s| (Viewer::Operator { cookie }, s))
            .ok_or(Refusal::NotFound);
    }
    let Some(token) = share else {
        return Err(Refusal::SignIn {
            back_to: back_to.to_owned(),
        });
    };
    let Some(id) = id else {
        return Err(Refusal::NotFound);
    };
    if !share_opens(state, id, token).await? {
        return Err(Refusal::NotFound);
    }
    let session = state.store.session(id).await?.ok_or(Refusal::NotFound)?;
    Ok((
        Viewer::Shared {
            token: token.to_owned(),
        },
        session,
    ))
}

/// Whether `token` opens session `id`: share links are on, and it is the link lucid
/// posts or one made by hand, not revoked.
pub(super) async fn share_opens(
    state: &AppState,
    id: SessionId,
    token: &str,
) -> Result<bool, crate::store::StoreError> {
    if !state.links.access().shares_links() {
        return Ok(false);
    }
    Ok(match state.store.share(&share_hash(token)).await? {
        ShareRecord::Opens(session) => session == id,
        ShareRecord::Unknown => state.links.access().is_posted_share(id, token),
        ShareRecord::Revoked => false,
    })
}

/// A page that is not shown.
pub(super) enum Refusal {
    /// 401: the sign-in form, back to `back_to` after.
    SignIn {
        back_to: String,
    },
    /// 404, whatever the reason (no such session, a wrong or revoked share token).
    NotFound,
    /// 400 or 403: a form that cannot be taken, with why.
    Bad(StatusCode, String),
    Failed(ApiError),
}

impl From<crate::store::StoreError> for Refusal {
    fn from(e: crate::store::StoreError) -> Self {
        Refusal::Failed(e.into())
    }
}

impl From<ApiError> for Refusal {
    fn from(e: ApiError) -> Self {
        match e.status() {
            StatusCode::NOT_FOUND => Refusal::NotFound,
            status if status.is_client_error() => Refusal::Bad(status, e.message().to_owned()),
            _ => Refusal::Failed(e),
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let (status, note) = match self {
            Refusal::SignIn { back_to } => {
                return (
                    StatusCode::UNAUTHORIZED,
                    SignInPage::new(&back_to, Some(WORDS.sign_in_to_see)).html(),
                )
                    .into_response();
            }
            Refusal::NotFound => (StatusCode::NOT_FOUND, WORDS.not_found.to_owned()),
            Refusal::Bad(status, why) => (status, why),
            Refusal::Failed(e) => {
                tracing::warn!(error = e.message(), "a page failed");
                (e.status(), e.message().to_owned())
            }
        };
        (status, notice_page(&note)).into_response()
    }
}

#[derive(Template)]
#[template(path = "notice.html")]
struct NoticePage<'a> {
    w: &'static crate::messages::page::PageWords,
    chrome: Chrome,
    note: &'a str,
}

fn notice_page(note: &str) -> Html<String> {
    render(&NoticePage {
        w: &WORDS,
        chrome: Chrome::default(),
        note,
    })
}

/// What every page's frame needs: whether to offer signing out, and the form token.
#[derive(Default)]
pub(super) struct Chrome {
    pub signed_in: bool,
    pub form_token: String,
}

impl Chrome {
    pub(super) fn for_viewer(state: &AppState, viewer: &Viewer) -> Self {
        match viewer {
            Viewer::Operator { cookie } => Self::signed_in(state, cookie),
            Viewer::Shared { .. } => Self::default(),
        }
    }

    pub(super) fn signed_in(state: &AppState, cookie: &str) -> Self {
        Self {
            signed_in: true,
            form_token: state.links.access().form_token(cookie),
        }
    }
}

/// A template as a page; a template that fails to render is a bug, said as a 500.
pub(super) fn render(template: &impl Template) -> Html<String> {
    match template.render() {
        Ok(html) => Html(html),
        Err(e) => {
            tracing::error!(error = %e, "a page template failed");
            Html(String::new())
        }
    }
}
