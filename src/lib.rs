//! leafdesk: an omnichannel customer-service bot server for cannabis e-commerce.
//!
//! Crate map, by layer; a module imports only from its own layer or below, and
//! `scripts/import-graph` checks there are no import circles and that `store` imports nothing
//! above `domain` (the way a message travels is in the README):
//!
//! - entry: [`cli`] (the `leafdesk` command, one file per command group; `main.rs` only calls it).
//! - wiring: [`startup`] (router, workers, listener), [`state`] (the shared [`state::AppState`]),
//!   [`settings`] (every setting, checked once), [`http_server`] (connections: timeouts, cap,
//!   graceful stop), [`telemetry`], [`metrics`].
//! - HTTP surface: [`channels`] (Twilio SMS and status webhooks, web chat, events, customer
//!   sync, the opt-in form, upload pages, static assets, security headers): verify, parse into
//!   domain values, call the layer below, render the reply; [`console`] (the staff console:
//!   sign-in, queue, tickets, document review, admin, live events; pages over [`queue`] and
//!   [`auth`]); [`error`] (one error type, one mapping to responses).
//! - services: [`pipeline`] (lanes, the bot's turn, group commit), [`outbox`] (durable sends
//!   through the send gate), [`verification`] (medical re-verification: sweep and review),
//!   [`uploads`] (upload links and sealed documents), [`signed`] (what the platform signs, and
//!   the integration keys), [`queue`] (people's work on tickets: who sees which queue, claim,
//!   reply through the send gate, notes, transfer, snooze, wrap-up), [`auth`] (staff accounts,
//!   passwords, sign-in with lockout, sessions), [`evidence`] (a number's consent evidence pack), [`campaigns`] (marketing campaigns:
//!   checks, rendering, the runner that feeds the outbox),
//!   [`demo`], [`flowtest`] (conversation tests).
//! - engine and rules: [`flows`] (model, loading and checking, hot reload, the pure step
//!   function), [`understanding`] (intents learned from examples, confidence, language,
//!   entities), [`templates`] (messages per locale and channel, pages), [`actions`] (built-ins
//!   flows call), [`commerce`] (which implementation of the commerce port serves, and the
//!   customer reads handlers make through it), [`compliance`] (consent words and the ledger's rules, the send gate,
//!   purchase limits, SMS content, area codes, consent import).
//! - bottom: [`store`] (all SQL, one file per aggregate, SQLite and PostgreSQL alike; the
//!   built-in commerce beside its SQL), [`domain`] (the types every layer shares, as enums and
//!   newtypes, and the commerce port's shape), [`twilio`] (signatures, TwiML, the REST client,
//!   media), [`clock`] (the one clock), [`diagnostic`] (`file:line:col` problems).

#![warn(clippy::self_named_module_files)]

pub mod actions;
pub mod auth;
pub mod campaigns;
pub mod channels;
pub mod chat_fallback;
pub mod cli;
pub mod clock;
pub mod commerce;
pub mod compliance;
pub mod console;
pub mod demo;
pub mod diagnostic;
pub mod domain;
pub mod error;
pub mod evidence;
pub mod flows;
pub mod flowtest;
pub mod http_server;
pub mod metrics;
pub mod outbox;
pub mod pipeline;
pub mod queue;
pub mod settings;
pub mod signed;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod templates;
pub mod transcripts;
pub mod twilio;
pub mod understanding;
pub mod uploads;
pub mod verification;

/// A new time-ordered id (UUID v7) as text, the primary key of every table.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
