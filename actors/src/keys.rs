//! API keys: random bearer secrets with a role. Only a SHA-256 hash is stored; the secret is
//! shown once, when it is created. Valid keys are cached briefly so that authenticating a
//! request costs no database read on the hot path.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use uuid::Uuid;

use crate::api::CreatedKey;
use crate::domain::{ApiKeyInfo, Role};
use crate::error::EngineError;
use crate::storage::Repository;

/// How long a key stays trusted without asking storage again (bounds how long a key revoked
/// by another daemon sharing the database keeps working here).
const CACHE_TTL: Duration = Duration::from_secs(10);

pub struct KeyStore {
    repo: Arc<dyn Repository>,
    cache: RwLock<HashMap<String, (ApiKeyInfo, Instant)>>,
}

pub fn hash_key(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn new_secret() -> String {
    // Two v4 UUIDs: 244 bits from the operating system's CSPRNG.
    format!("bgt_{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple())
}

impl KeyStore {
    pub fn new(repo: Arc<dyn Repository>) -> KeyStore {
        KeyStore { repo, cache: RwLock::new(HashMap::new()) }
    }

    pub async fn create(&self, name: &str, role: Role) -> Result<CreatedKey, EngineError> {
        crate::domain::text::check_identifier("name", name, crate::domain::text::NAME_MAX)?;
        let secret = new_secret();
        let info = ApiKeyInfo {
            id: Uuid::now_v7(),
            name: name.to_string(),
            role,
            prefix: secret.chars().take(12).collect(),
            created_at: crate::domain::now(),
            revoked_at: None,
        };
        self.repo.insert_key(&info, &hash_key(&secret)).await?;
        Ok(CreatedKey { key: secret, info })
    }

    pub async fn list(&self) -> Result<Vec<ApiKeyInfo>, EngineError> {
        self.repo.list_keys().await
    }

    pub async fn revoke(&self, id: Uuid) -> Result<(), EngineError> {
        if !self.repo.revoke_key(id, crate::domain::now()).await? {
            return Err(EngineError::not_found("api key", id));
        }
        self.cache.write().unwrap_or_else(|p| p.into_inner()).retain(|_, (info, _)| info.id != id);
        Ok(())
    }

    /// Whether any key that is not revoked exists.
    pub async fn any_active(&self) -> Result<bool, EngineError> {
        Ok(self.repo.list_keys().await?.iter().any(|k| k.revoked_at.is_none()))
    }

    /// The key's info if the secret is a valid, unrevoked key.
    pub async fn authenticate(&self, secret: &str) -> Result<Option<ApiKeyInfo>, EngineError> {
        let hash = hash_key(secret);
        if let Some((info, at)) = self.cache.read().unwrap_or_else(|p| p.into_inner()).get(&hash)
            && at.elapsed() < CACHE_TTL
        {
            return Ok(Some(info.clone()));
        }
        let found = self.repo.find_key(&hash).await?.filter(|k| k.revoked_at.is_none());
        let mut cache = self.cache.write().unwrap_or_else(|p| p.into_inner());
        match &found {
            Some(info) => {
                cache.insert(hash, (info.clone(), Instant::now()));
            }
            None => {
                cache.remove(&hash);
            }
        }
        Ok(found)
    }
}
