//! Consent on every inbound message, before ownership and flows: a revocation is recorded and
//! confirmed once; START (or YES from an opted-out number) re-subscribes; HELP is answered;
//! and after an opt-out the bot stays silent — except on a call the customer made, which is
//! answered (a spoken revocation still counts, for calls and texts alike). A flow can never
//! override this step.
//!
//! Owns the decision and the ledger entry; the pipeline renders the reply it names.

use serde_json::json;

use super::keywords::{classify, Keyword};
use crate::domain::{Channel, Inbound};
use crate::store::consent::{self, NewConsent, TRANSACTIONAL};
use crate::store::{StoreError, Tx};

/// 5 minutes: a confirmation sent within this time of the request is presumed compliant
/// (47 CFR 64.1200(a)(12)); a second STOP inside it gets no second confirmation.
pub const CONFIRMATION_WINDOW_MS: i64 = 5 * 60_000;
/// 24 h: how long a web opt-in waits for its YES before it lapses.
pub const DOUBLE_OPT_IN_WINDOW_MS: i64 = 24 * 60 * 60_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Not a consent matter: on to the conversation.
    Continue,
    /// Stored, no reply (opted out, or Twilio already answered, or already confirmed).
    Silent,
    /// Reply with this template, and nothing else.
    Reply(&'static str),
}

/// Whether the message's sender hears an answer (a text, a chat, a call going on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answering {
    Yes,
    No,
}

pub struct Outcome {
    pub decision: Decision,
    /// The number's transactional consent after this message.
    pub opted_out: bool,
    /// The ledger action recorded, if any (`opt_in` / `opt_out`) and its source.
    pub recorded: Option<(&'static str, &'static str)>,
}

/// Applies consent keywords to one claimed inbound message inside the turn's transaction.
/// `flow_waiting`: a flow asked a question this message may answer (see `confirm_web_request`).
/// A message with nobody to answer (a finished call's transcript) passes `Answering::No`: the
/// ledger is written, and no confirmation is claimed to have been sent.
///
/// # Errors
/// Database failures.
pub async fn apply(
    tx: &mut Tx<'_>,
    inbound: &Inbound,
    message_id: &str,
    opted_out: bool,
    flow_waiting: bool,
    answering: Answering,
    now_ms: i64,
) -> Result<Outcome, StoreError> {
    let verdict = classify(&inbound.body);
    let (keyword, source) = match inbound.opt_out_type.as_deref() {
        Some("STOP") => (Keyword::OptOut, "twilio_opt_out"),
        Some("START") => (Keyword::OptIn, "twilio_opt_out"),
        Some("HELP") => (Keyword::Help, "twilio_opt_out"),
        _ => (verdict.keyword, keyword_source(inbound.channel)),
    };
    let twilio_answered = inbound.opt_out_type.is_some();
    // Built only when a consent change is recorded: most messages record nothing.
    let evidence = || {
        json!({
            "message_id": message_id,
            "provider_id": inbound.provider_id,
            "channel": inbound.channel.as_str(),
            "text": inbound.body,
            "rule": verdict.reason,
            "opt_out_type": inbound.opt_out_type,
        })
    };
    let phone = inbound.from.as_ref();
    match keyword {
        Keyword::OptOut => {
            let consent = NewConsent { phone, purpose: TRANSACTIONAL, action: "opt_out", source, evidence: evidence() };
            consent::record_all_purposes(tx, consent, now_ms).await?;
            let recently =
                consent::confirmation_sent_at(tx, phone).await?.is_some_and(|at| now_ms - at < CONFIRMATION_WINDOW_MS);
            let decision = if twilio_answered || recently || answering == Answering::No {
                Decision::Silent
            } else {
                consent::mark_confirmation_sent(tx, phone, now_ms).await?;
                Decision::Reply("consent/opted_out")
            };
            Ok(Outcome { decision, opted_out: true, recorded: Some(("opt_out", source)) })
        }
        Keyword::OptIn
            if inbound.opt_out_type.is_none()
                && !flow_waiting
                && confirm_web_request(tx, inbound, message_id, opted_out, now_ms).await? =>
        {
            Ok(Outcome {
                decision: Decision::Reply("consent/optin_confirmed"),
                opted_out: false,
                recorded: Some(("opt_in", "double_opt_in")),
            })
        }
        // On a call, a soft "yes" answers the bot's question; it is never taken for START.
        Keyword::OptIn
            if !verdict.soft || (opted_out && inbound.channel != Channel::Voice) || inbound.opt_out_type.is_some() =>
        {
            let consent = NewConsent { phone, purpose: TRANSACTIONAL, action: "opt_in", source, evidence: evidence() };
            consent::record(tx, &consent, now_ms).await?;
            let decision = if twilio_answered { Decision::Silent } else { Decision::Reply("consent/opted_in") };
            Ok(Outcome { decision, opted_out: false, recorded: Some(("opt_in", source)) })
        }
        Keyword::Help => {
            let decision = if twilio_answered { Decision::Silent } else { Decision::Reply("consent/help") };
            Ok(Outcome { decision, opted_out, recorded: None })
        }
        // A number that opted out gets no texts; but a caller is talking to us now, and is
        // answered (nothing is texted to them: the send gate still refuses).
        Keyword::OptIn | Keyword::None if opted_out && inbound.channel != Channel::Voice => {
            Ok(Outcome { decision: Decision::Silent, opted_out, recorded: None })
        }
        Keyword::OptIn | Keyword::None => Ok(Outcome { decision: Decision::Continue, opted_out, recorded: None }),
    }
}

/// The ledger source of a consent word typed on `channel`.
fn keyword_source(channel: Channel) -> &'static str {
    match channel {
        Channel::Sms => "sms_keyword",
        Channel::Web => "web_chat",
        Channel::Voice => "voice",
    }
}

/// Step 2 of double opt-in: a YES (or START) texted from the number of a pending web request,
/// after its confirmation text went out, turns it into a marketing opt-in; the evidence holds
/// both steps. Not a YES typed in web chat (no text came from the phone), not one sent before
/// the confirmation text was, and not one answering a flow's question (the caller checks).
/// `false` when nothing was pending.
async fn confirm_web_request(
    tx: &mut Tx<'_>,
    inbound: &Inbound,
    message_id: &str,
    opted_out: bool,
    now_ms: i64,
) -> Result<bool, StoreError> {
    if inbound.channel != Channel::Sms {
        return Ok(false);
    }
    let phone = inbound.from.as_ref();
    let Some(request) = consent::pending_request(tx, phone, now_ms - DOUBLE_OPT_IN_WINDOW_MS).await? else {
        return Ok(false);
    };
    let evidence = json!({
        "request": request,
        "confirmation": { "message_id": message_id, "message_sid": inbound.provider_id, "text": inbound.body },
    });
    if opted_out {
        let back = NewConsent {
            phone,
            purpose: TRANSACTIONAL,
            action: "opt_in",
            source: &request.source,
            evidence: evidence.clone(),
        };
        consent::record(tx, &back, now_ms).await?;
    }
    let consent = NewConsent { phone, purpose: &request.purpose, action: "opt_in", source: &request.source, evidence };
    consent::record(tx, &consent, now_ms).await?;
    consent::confirm_request(tx, &request.request_id, now_ms).await?;
    Ok(true)
}
