//! Compliance rules that are product features: TCPA consent keywords (here), and later the
//! consent ledger's send gate, quiet hours and state purchase limits.

pub mod consent;
pub mod content;
pub mod gate;
pub mod import;
pub mod keywords;
pub mod limits;
