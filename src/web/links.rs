//! The links lucid posts to a session: its page, carrying the session's share token
//! when share links are on, so that whoever the thread reaches can read it.

use super::access::Access;
use crate::core::SessionId;
use std::sync::Arc;

#[derive(Clone, Debug)]
pub struct Links {
    /// `LUCID_PUBLIC_URL`, without a trailing slash.
    public_url: String,
    access: Arc<Access>,
}

impl Links {
    pub fn new(public_url: &str, access: Arc<Access>) -> Self {
        Self {
            public_url: public_url.trim_end_matches('/').to_owned(),
            access,
        }
    }

    /// Links with no share tokens (nothing secret to derive them from).
    pub fn unshared(public_url: &str) -> Self {
        Self::new(public_url, Arc::new(Access::new(None, None, None, false)))
    }

    /// The session's page as lucid posts it: with its share token when shares are on.
    pub fn session(&self, id: SessionId) -> String {
        match self.access.posted_share(id) {
            Some(token) => self.shared(id, &token),
            None => self.page(id),
        }
    }

    /// The session's page for those signed in.
    pub fn page(&self, id: SessionId) -> String {
        format!("{}/sessions/{id}", self.public_url)
    }

    /// The session's page opened by `token`.
    pub fn shared(&self, id: SessionId, token: &str) -> String {
        format!("{}/sessions/{id}?share={token}", self.public_url)
    }

    /// The session's live preview, opened by the token the session's posted link
    /// carries (signed-in operators need none).
    pub fn preview(&self, id: SessionId) -> String {
        match self.access.posted_share(id) {
            Some(token) => format!("{}/preview/{id}/?share={token}", self.public_url),
            None => format!("{}/preview/{id}/", self.public_url),
        }
    }

    /// Whether people reach lucid over HTTPS (its cookies are then `Secure`).
    pub fn is_https(&self) -> bool {
        self.public_url.starts_with("https://")
    }

    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    pub fn access(&self) -> &Arc<Access> {
        &self.access
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn links(share_links: bool) -> Links {
        let token = SecretString::from("api-token-0123456789".to_owned());
        let access = Access::new(Some(&token), None, None, share_links);
        Links::new("https://lucid.example/", Arc::new(access))
    }

    #[test]
    fn posted_links_open_the_page_with_a_share_token_unless_shares_are_off() {
        let id = SessionId::new();
        let on = links(true).session(id);
        let token = on
            .strip_prefix(&format!("https://lucid.example/sessions/{id}?share="))
            .unwrap_or_else(|| panic!("{on}"));
        assert!(links(true).access().is_posted_share(id, token));
        assert_eq!(
            links(false).session(id),
            format!("https://lucid.example/sessions/{id}")
        );
        assert!(links(true).is_https());
    }
}
