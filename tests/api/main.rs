//! Integration tests: one binary; each module tests one capability end to end.

mod browser;
mod campaigns;
mod consent;
mod consent_files;
mod console;
mod console_consent;
mod contract;
mod events;
mod flows_check;
mod hardening;
mod helpers;
mod limits;
mod logs;
mod ops;
mod optin;
mod outbox;
mod reload;
mod reports;
mod sms;
mod status;
mod transcripts;
mod understanding;
mod uploads;
mod voice;
mod webchat;
mod widget;
