//! `GET /console/events`: server-sent events for live consoles. Each note from the queue feed
//! (`store::feed`) goes out as an event `queue` with the change as JSON; the page re-reads what
//! it shows. Comments every 15 s keep proxies from closing the stream.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};
use tokio::sync::broadcast::error::RecvError;

use super::{refused, tickets::TICKET_ROLES, Signed};
use crate::state::AppState;

/// 15 seconds: under the idle limits of common proxies and load balancers.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

pub async fn events(State(state): State<AppState>, Signed(who): Signed) -> Response {
    if let Some(page) = refused(&state, &who, TICKET_ROLES) {
        return page;
    }
    let feed = state.store.subscribe();
    // While the console is open its staff member counts as there for calls (queue::staffing).
    let (store, session) = (state.store.clone(), who.session.clone());
    let presence = Presence(tokio::spawn(async move {
        let mut tick = tokio::time::interval(PRESENCE_EVERY);
        loop {
            tick.tick().await;
            if let Err(e) = crate::store::staff::mark_present(&store, &session).await {
                tracing::warn!(error = %e, "could not mark a console present");
            }
        }
    }));
    Sse::new(changes(feed, presence)).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)).into_response()
}

/// 4 minutes: well inside the 10 minutes a console counts as there.
const PRESENCE_EVERY: Duration = Duration::from_secs(240);

/// Says a console is open while its stream lives; stops when the stream is dropped.
struct Presence(tokio::task::JoinHandle<()>);

impl Drop for Presence {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn changes(
    feed: tokio::sync::broadcast::Receiver<crate::store::feed::QueueChange>,
    presence: Presence,
) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold((feed, presence), |(mut feed, presence)| async move {
        let data = match feed.recv().await {
            Ok(change) => serde_json::to_string(&change).expect("a queue change serializes"),
            // Fell behind: one note that says "re-read everything".
            Err(RecvError::Lagged(_)) => r#"{"kind":"many","ticket_id":"","queue":""}"#.to_owned(),
            Err(RecvError::Closed) => return None,
        };
        Some((Ok(Event::default().event("queue").data(data)), (feed, presence)))
    })
}
