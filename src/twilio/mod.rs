//! Twilio's wire formats that are not one channel's: request signatures ([`signature`]), TwiML
//! for messaging ([`twiml`]) and for calls ([`voice`]), the Messages REST API ([`rest`]: sends and the lookup of a lost send) and media
//! downloads ([`media`]). Knows no flows and no SQL.

pub mod media;
pub mod rest;
pub mod signature;
pub mod twiml;
pub mod voice;
