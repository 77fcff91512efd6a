//! The keys that signed requests and chat links are checked against: the active integrations'
//! secrets, sealed at rest under the data key and opened only in memory.
//!
//! Owns creating an integration's secret, sealing and opening it, and the in-memory copy the
//! HTTP surface checks signatures with. That copy is refreshed from the database at most once
//! per [`REFRESH_MS`], so a flood of unsigned requests costs no database work, and an integration
//! added or revoked by the CLI counts within that time.

use std::sync::Arc;

use tokio::sync::Mutex;

use crate::store::integrations::{self, Integration, StoredIntegration};
use crate::store::{Store, StoreError};
use crate::uploads::Sealer;

/// 2 s: how stale the copy may be; also the most often unsigned traffic can make us read.
const REFRESH_MS: i64 = 2_000;

/// What an integration's secret is sealed to (as associated data).
fn context(integration_id: &str) -> String {
    format!("integration:{integration_id}")
}

/// The active integrations' keys, cached.
pub struct Keys {
    store: Store,
    sealer: Sealer,
    // tokio's Mutex: held across the refresh's await, so one request refreshes and the others
    // wait for it instead of reading too.
    cached: Mutex<Option<(i64, Arc<Vec<Integration>>)>>,
}

impl Keys {
    pub fn new(store: Store, sealer: Sealer) -> Self {
        Self { store, sealer, cached: Mutex::new(None) }
    }

    /// The keys, read from the database when the copy is older than [`REFRESH_MS`].
    ///
    /// # Errors
    /// Database failures.
    pub async fn current(&self) -> Result<Arc<Vec<Integration>>, StoreError> {
        let mut cached = self.cached.lock().await;
        let now = self.store.now_ms();
        if let Some((_, keys)) = cached.as_ref().filter(|(at, _)| (0..REFRESH_MS).contains(&(now - at))) {
            return Ok(keys.clone());
        }
        let keys = Arc::new(open_all(&self.store, &self.sealer).await?);
        *cached = Some((now, keys.clone()));
        Ok(keys)
    }
}

/// Every active integration with its secret opened. A secret that does not open (sealed under
/// another key) is left out and logged: its integration cannot sign until it is recreated.
///
/// # Errors
/// Database failures.
pub async fn open_all(store: &Store, sealer: &Sealer) -> Result<Vec<Integration>, StoreError> {
    let rows = integrations::active(store).await?;
    Ok(rows.into_iter().filter_map(|row| open(sealer, row)).collect())
}

fn open(sealer: &Sealer, row: StoredIntegration) -> Option<Integration> {
    let StoredIntegration { integration_id, name, secret_sealed, legacy_secret } = row;
    let secret = match secret_sealed {
        Some(sealed) => {
            let plain = hex::decode(&sealed).ok().and_then(|s| sealer.open(&context(&integration_id), &s).ok());
            let Some(secret) = plain.and_then(|p| String::from_utf8(p).ok()) else {
                tracing::error!(%integration_id, "an integration's secret does not open with this data key");
                return None;
            };
            secret
        }
        None if !legacy_secret.is_empty() => legacy_secret,
        None => return None,
    };
    Some(Integration { integration_id, name, secret })
}

/// Creates an integration; returns its secret (shown once, never stored in the clear).
///
/// # Errors
/// No randomness, or a database failure (a unique violation when the name is taken).
pub async fn create(store: &Store, sealer: &Sealer, name: &str) -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("reading randomness for the secret: {e}"))?;
    let secret = format!("ldk_{}", hex::encode(bytes));
    let id = crate::new_id();
    let sealed = hex::encode(sealer.seal(&context(&id), secret.as_bytes()));
    integrations::create(store, &id, name, &sealed).await?;
    Ok(secret)
}

/// Seals the secrets stored in the clear before they were sealed; returns how many.
///
/// # Errors
/// Database failures.
pub async fn seal_legacy(store: &Store, sealer: &Sealer) -> Result<usize, StoreError> {
    let mut sealed = 0;
    for row in integrations::active(store).await? {
        if row.secret_sealed.is_none() && !row.legacy_secret.is_empty() {
            let hex_sealed = hex::encode(sealer.seal(&context(&row.integration_id), row.legacy_secret.as_bytes()));
            integrations::seal(store, &row.integration_id, &hex_sealed).await?;
            sealed += 1;
        }
    }
    if sealed > 0 {
        tracing::info!(count = sealed, "integration secrets sealed under the data key");
    }
    Ok(sealed)
}
