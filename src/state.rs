//! The state every HTTP handler shares: the store, the flow library, the pipeline, settings
//! and the caches, as cheap clones (`Arc`s). Built once by `startup::build`.
//!
//! Owns the shape of that state, nothing else; it lives below the HTTP surface so that
//! `channels` and `startup` both import it and neither imports the other.

use std::sync::Arc;

use crate::flows::Library;
use crate::metrics::Metrics;
use crate::pipeline::Pipeline;
use crate::settings::Settings;
use crate::store::Store;
use crate::templates::Pages;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub library: Arc<Library>,
    pub pipeline: Pipeline,
    pub metrics: Arc<Metrics>,
    pub settings: Arc<Settings>,
    pub locations: Arc<crate::store::locations::Cache>,
    pub pages: Arc<Pages>,
    /// Upload links and the key sealing medical documents.
    pub uploads: Arc<crate::uploads::Links>,
    /// Downloads MMS photos sent as medical documents.
    pub media: Arc<crate::twilio::media::MediaFetcher>,
    /// The integrations' keys that signed requests and chat links are checked against.
    pub keys: Arc<crate::signed::keys::Keys>,
    /// The commerce port's source: handlers read customers through it.
    pub commerce: Arc<dyn crate::commerce::Source>,
    /// The catalogue's product names as speech hints for calls, refreshed every few minutes.
    pub voice_hints: Arc<VoiceHints>,
    /// Places for open widget streams: half the connections, so webhooks always get through.
    pub widget_streams: Arc<tokio::sync::Semaphore>,
}

/// The catalogue's product names as last read for calls' speech hints, and when (ms).
#[derive(Debug, Default)]
pub struct VoiceHints(pub std::sync::Mutex<Option<(i64, Vec<String>)>>);
