//! The queue feed: a short note that a ticket changed (opened, claimed, answered, wrapped up, or
//! its customer wrote), for live consoles. On PostgreSQL it goes through `NOTIFY`, so every
//! server process sharing the database hears it (each listens and passes it on); on SQLite (one
//! process) through an in-process channel. A note is sent after its change commits, so a
//! console that reads on hearing it sees the change.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use super::{Backend, Store};

/// The PostgreSQL channel the notes travel on.
pub const CHANNEL: &str = "leafdesk_queue";
/// 1,024 notes a console may fall behind by before it misses some (it then reloads the whole
/// queue, so nothing is lost but the animation).
pub const BACKLOG: usize = 1024;

/// What changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueChange {
    /// handed_off, reported, claimed, released, transferred, snoozed, noted, replied,
    /// customer_wrote, resolved.
    pub kind: String,
    pub ticket_id: String,
    pub queue: String,
    /// The conversation, when the change is news for its customer too (a ticket opened, a
    /// person replied): open chat windows listen for their own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
}

impl QueueChange {
    pub fn new(kind: &str, ticket_id: &str, queue: &str) -> Self {
        Self { kind: kind.to_owned(), ticket_id: ticket_id.to_owned(), queue: queue.to_owned(), conversation_id: None }
    }

    /// The same change, naming the conversation it is about.
    #[must_use]
    pub fn of(mut self, conversation_id: &str) -> Self {
        self.conversation_id = Some(conversation_id.to_owned());
        self
    }
}

pub(super) fn channel() -> broadcast::Sender<QueueChange> {
    broadcast::channel(BACKLOG).0
}

impl Store {
    /// Tells every console that `change` happened (call it after the change commits). A note
    /// that cannot be sent is logged: consoles also refresh when they reconnect.
    pub async fn announce(&self, change: &QueueChange) {
        match self.backend {
            Backend::Sqlite => {
                let _ = self.feed.send(change.clone());
            }
            Backend::Postgres => {
                let payload = serde_json::to_string(change).expect("a queue change serializes");
                let sent =
                    sqlx::query("select pg_notify($1, $2)").bind(CHANNEL).bind(payload).execute(&self.pool).await;
                if let Err(e) = sent {
                    tracing::warn!(error = %e, "could not announce a queue change");
                }
            }
        }
    }

    /// The notes this process hears, from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<QueueChange> {
        self.feed.subscribe()
    }

    /// On PostgreSQL: listens on [`CHANNEL`] (reconnecting after a failure) and passes each
    /// note to this process's subscribers. On SQLite: nothing to do.
    pub fn spawn_listener(&self, database_url: &str) -> Option<tokio::task::JoinHandle<()>> {
        if self.backend != Backend::Postgres {
            return None;
        }
        let (url, feed) = (database_url.to_owned(), self.feed.clone());
        Some(tokio::spawn(async move {
            loop {
                if let Err(e) = listen(&url, &feed).await {
                    tracing::warn!(error = %e, "queue feed listener lost its connection; reconnecting");
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }))
    }
}

async fn listen(url: &str, feed: &broadcast::Sender<QueueChange>) -> Result<(), sqlx::Error> {
    let mut listener = sqlx::postgres::PgListener::connect(url).await?;
    listener.listen(CHANNEL).await?;
    loop {
        let note = listener.recv().await?;
        if let Ok(change) = serde_json::from_str::<QueueChange>(note.payload()) {
            let _ = feed.send(change);
        }
    }
}
