//! Credentials kept in the store, sealed under `LUCID_SECRET_KEY`.

use super::crypto::{self, Sealed, SecretKey};
use super::{Store, StoreError};
use crate::core::Timestamp;
use secrecy::SecretString;
use sqlx::Row;

impl Store {
    pub async fn put_credential(
        &self,
        key: &SecretKey,
        name: &str,
        value: &SecretString,
    ) -> Result<(), StoreError> {
        let sealed = crypto::seal(key, name, value);
        self.write(async |conn| {
            sqlx::query(
                "INSERT INTO credentials (name, key_id, nonce, ciphertext, updated_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO UPDATE SET \
             key_id = excluded.key_id, nonce = excluded.nonce, \
             ciphertext = excluded.ciphertext, updated_at = excluded.updated_at",
            )
            .bind(name)
            .bind(sealed.key_id)
            .bind(sealed.nonce)
            .bind(sealed.ciphertext)
            .bind(Timestamp::now().as_millis())
            .execute(&mut *conn)
            .await?;
            Ok(())
        })
        .await
    }

    /// The credential, or a clear error if it was sealed with another key.
    pub async fn credential(
        &self,
        key: &SecretKey,
        name: &str,
    ) -> Result<Option<SecretString>, StoreError> {
        let row = sqlx::query("SELECT key_id, nonce, ciphertext FROM credentials WHERE name = $1")
            .bind(name)
            .fetch_optional(self.pool())
            .await?;
        let Some(row) = row else { return Ok(None) };
        let sealed = Sealed {
            key_id: row.try_get("key_id")?,
            nonce: row.try_get("nonce")?,
            ciphertext: row.try_get("ciphertext")?,
        };
        Ok(Some(crypto::open(key, name, &sealed)?))
    }
}
