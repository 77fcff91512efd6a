//! leafdesk: an omnichannel customer-service bot server for cannabis e-commerce.
//!
//! Crate map (the way a message travels, see `DESIGN.md`):
//!
//! - [`channels`]: one adapter per provider wire format (Twilio SMS webhooks and status
//!   callbacks); verify, parse into [`domain::Inbound`], render replies.
//! - [`pipeline`]: the channel-agnostic path: claim the provider id, route by ownership, run the
//!   flow engine, commit everything of one turn in one transaction (group-committed).
//! - [`flows`]: flow files (model, loading and checking, hot reload) and the pure step function.
//! - [`templates`]: customer-facing message templates per locale and channel.
//! - [`store`]: all SQL, one file per aggregate, for SQLite and PostgreSQL alike.
//! - [`twilio`]: signature verification and TwiML.
//! - [`settings`], [`startup`], [`telemetry`], [`metrics`], [`error`]: running the service.
//! - [`demo`], [`flowtest`]: demo data and conversation tests for flow authors.

#![warn(clippy::self_named_module_files)]

pub mod actions;
pub mod channels;
pub mod cli;
pub mod clock;
pub mod commerce;
pub mod compliance;
pub mod demo;
pub mod diagnostic;
pub mod domain;
pub mod error;
pub mod flows;
pub mod flowtest;
pub mod http_server;
pub mod metrics;
pub mod outbox;
pub mod pipeline;
pub mod settings;
pub mod signed;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod templates;
pub mod twilio;
pub mod uploads;
pub mod verification;

/// A new time-ordered id (UUID v7) as text, the primary key of every table.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
