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

    /// The credential, removed as it is read: of two takers (two replicas, two
    /// requests) exactly one gets it. For what may be used once.
    pub async fn take_credential(
        &self,
        key: &SecretKey,
        name: &str,
    ) -> Result<Option<SecretString>, StoreError> {
        let name = name.to_owned();
        let sealed = self
            .write(async |conn| {
                let row = sqlx::query(
                    "SELECT key_id, nonce, ciphertext FROM credentials WHERE name = $1",
                )
                .bind(&name)
                .fetch_optional(&mut *conn)
                .await?;
                let Some(row) = row else { return Ok(None) };
                let sealed = Sealed {
                    key_id: row.try_get("key_id")?,
                    nonce: row.try_get("nonce")?,
                    ciphertext: row.try_get("ciphertext")?,
                };
                let removed = sqlx::query("DELETE FROM credentials WHERE name = $1")
                    .bind(&name)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                Ok((removed == 1).then_some(sealed))
            })
            .await?;
        match sealed {
            Some(sealed) => Ok(Some(crypto::open(key, &name, &sealed)?)),
            None => Ok(None),
        }
    }

    /// Removes every credential whose name starts with `prefix`.
    pub async fn remove_credentials_under(&self, prefix: &str) -> Result<u64, StoreError> {
        // LIKE's wildcards in the prefix are taken literally.
        let pattern = format!(
            "{}%",
            prefix
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        self.write(async |conn| {
            Ok(
                sqlx::query("DELETE FROM credentials WHERE name LIKE $1 ESCAPE '\\'")
                    .bind(&pattern)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected(),
            )
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

    /// Whether a credential `name` is kept. Needs no key: to say that one is there
    /// but cannot be opened without it.
    pub async fn has_credential(&self, name: &str) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT 1 FROM credentials WHERE name = $1")
            .bind(name)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.is_some())
    }

    /// Removes the credential `name`; answers whether there was one. Needs no key:
    /// what cannot be opened can still be forgotten.
    pub async fn remove_credential(&self, name: &str) -> Result<bool, StoreError> {
        let statement =
            sqlx::query("DELETE FROM credentials WHERE name = $1").bind(name.to_owned());
        Ok(self.write_one(statement).await? > 0)
    }
}
