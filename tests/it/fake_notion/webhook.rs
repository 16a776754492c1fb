//! Webhook deliveries as Notion sends them (developers.notion.com/reference/webhooks):
//! a verification request `{"verification_token": "secret_…"}`, unsigned, when a
//! subscription is created; then events, each signed with
//! `X-Notion-Signature: sha256=<hex HMAC-SHA256 of the raw body, keyed with the
//! verification token>`, in the documented shape (`id`, `timestamp`, `workspace_id`,
//! `workspace_name`, `subscription_id`, `integration_id`, `type`, `authors`,
//! `accessible_by`, `attempt_number`, `entity`, `data`, `api_version`).

use super::records::WebhookDelivery;
use super::state::{Inner, Shared, new_id, now};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::sync::Arc;

/// `sha256=<hex>` of `body` keyed with `token`.
pub fn signature(token: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(token.as_bytes()).expect("any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

impl Shared {
    pub(super) fn bot_json(&self) -> Value {
        json!({
            "object": "user",
            "id": self.bot.id,
            "name": self.bot.name,
            "avatar_url": null,
            "type": "bot",
            "bot": {
                "owner": {"type": "workspace", "workspace": true},
                "workspace_name": self.bot.workspace_name,
            },
        })
    }

    /// The envelope every event shares.
    pub(super) fn event(
        &self,
        subscription_id: &str,
        kind: &str,
        author: &str,
        author_is_bot: bool,
        entity: Value,
        data: Value,
    ) -> Value {
        let author_type = if author_is_bot { "bot" } else { "person" };
        json!({
            "id": new_id(),
            "timestamp": now().0,
            "workspace_id": self.bot.workspace_id,
            "workspace_name": self.bot.workspace_name,
            "subscription_id": subscription_id,
            "integration_id": self.bot.integration_id,
            "type": kind,
            "authors": [{"id": author, "type": author_type}],
            "accessible_by": [{"id": self.bot.id, "type": "bot"}],
            "attempt_number": 1,
            "api_version": super::rest::NOTION_VERSION,
            "entity": entity,
            "data": data,
        })
    }

    /// `page.properties_updated` for `page_id` (which must exist).
    pub(super) fn properties_updated_event(
        &self,
        inner: &Inner,
        page_id: &str,
        author: &str,
        author_is_bot: bool,
        property_ids: &[String],
    ) -> Value {
        let page = inner.page(page_id).expect("the page exists");
        let subscription = inner
            .webhook
            .as_ref()
            .map_or_else(new_id, |w| w.subscription_id.clone());
        self.event(
            &subscription,
            "page.properties_updated",
            author,
            author_is_bot,
            json!({"id": page.id, "type": "page"}),
            json!({
                "parent": {
                    "id": page.database_id,
                    "type": "database",
                    "data_source_id": page.data_source_id,
                },
                "updated_properties": property_ids,
            }),
        )
    }

    /// `comment.created` for a comment on page `page_id`.
    pub(super) fn comment_created_event(
        &self,
        inner: &Inner,
        comment_id: &str,
        page_id: &str,
        author: &str,
        author_is_bot: bool,
    ) -> Value {
        let subscription = inner
            .webhook
            .as_ref()
            .map_or_else(new_id, |w| w.subscription_id.clone());
        self.event(
            &subscription,
            "comment.created",
            author,
            author_is_bot,
            json!({"id": comment_id, "type": "comment"}),
            json!({
                "page_id": page_id,
                "parent": {"id": page_id, "type": "page"},
            }),
        )
    }

    /// Sends `body` to `url`; `key` signs it (None: unsigned). Records the delivery.
    pub(super) async fn send(&self, url: &str, body: &Value, key: Option<&str>) -> Option<u16> {
        let raw = body.to_string();
        let sig = key.map(|k| signature(k, raw.as_bytes()));
        let mut request = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header("user-agent", "notion-api")
            .body(raw);
        if let Some(sig) = &sig {
            request = request.header("x-notion-signature", sig);
        }
        let status = request.send().await.ok().map(|r| r.status().as_u16());
        self.inner().deliveries.push(WebhookDelivery {
            url: url.to_owned(),
            body: body.clone(),
            signature: sig,
            status,
        });
        self.recorded.notify_waiters();
        status
    }

    /// Sends `event` to the configured webhook (if any), signed, in the background.
    pub(super) fn emit(
        self: Arc<Self>,
        event: Value,
    ) -> Option<tokio::task::JoinHandle<Option<u16>>> {
        let (url, token) = {
            let inner = self.inner();
            let target = inner.webhook.as_ref()?;
            (target.url.clone(), target.verification_token.clone())
        };
        Some(tokio::spawn(async move {
            self.send(&url, &event, Some(&token)).await
        }))
    }
}
