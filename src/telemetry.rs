//! Logging setup: one `tracing` subscriber, installed once.
//!
//! Owns the log format and filter. What may be logged is a rule for every module: never a
//! message body, a full phone number or a token at info and above (see `domain::mask_phone`).

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber; `RUST_LOG` overrides `filter`. Safe to call twice.
/// `ansi`: colours, for a terminal only (escape codes would break log parsing).
pub fn init<W>(filter: &str, writer: W, ansi: bool)
where
    W: for<'a> tracing_subscriber::fmt::MakeWriter<'a> + Send + Sync + 'static,
{
    // sqlx logs PostgreSQL's notices at info ("relation _sqlx_migrations already exists" on
    // every start): chatter for an operator, kept to warnings unless RUST_LOG asks for more.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(format!("sqlx=warn,{filter}")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(ansi)
        .with_target(false)
        .try_init();
}
