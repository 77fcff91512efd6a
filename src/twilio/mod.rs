//! Twilio's wire-level rules that are not one channel's: request signatures and TwiML.

pub mod media;
pub mod rest;
pub mod signature;
pub mod twiml;
