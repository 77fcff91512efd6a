//! Compliance rules that are product features: TCPA consent keywords, the consent ledger's send
//! gate with quiet hours and where a recipient is, SMS content checks, state purchase limits.

pub mod area_codes;
pub mod consent;
pub mod content;
pub mod gate;
pub mod import;
pub mod keywords;
pub mod limits;
