//! Call transcripts in: Twilio's Real-Time Transcription callbacks
//! (`POST /webhooks/twilio/voice/transcription`, signed as every Twilio webhook) and any other
//! call platform's finished calls (`POST /api/v1/transcripts`, signed like events).
//!
//! Twilio posts `TranscriptionEvent` (`transcription-started`, `transcription-content`,
//! `transcription-stopped`), the `CallSid`, and for content `Track` (`inbound_track`: the
//! caller; `outbound_track`: our side), `Final`, `SequenceId`, `Timestamp` and
//! `TranscriptionData`, JSON with `transcript` and `confidence`. Only final segments are kept.
//!
//! Owns these wire formats; what a transcript does is `crate::transcripts`.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::{rejection_reason, TwilioForm};
use crate::domain::PhoneNumber;
use crate::error::{AppError, Refused};
use crate::state::AppState;
use crate::store::{conversations, locations, receipts};
use crate::transcripts::{self, Segment, Speaker, Transcript};

/// 2,000 segments: an hour's call in short sentences.
const MAX_SEGMENTS: usize = 2_000;
/// 16 MiB: 2,000 segments of 1,600 characters fit even with every character escaped, so a body
/// with too many segments is told so (422), not refused for its size.
const MAX_TRANSCRIPT_BYTES: usize = 16 * 1024 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/webhooks/twilio/voice/transcription", post(twilio_callback))
        .route("/api/v1/transcripts", post(receive_transcript))
}

#[derive(Deserialize)]
struct TranscriptionData {
    transcript: String,
    #[serde(default)]
    confidence: Option<f64>,
}

#[tracing::instrument(skip_all, fields(channel = "voice"))]
async fn twilio_callback(State(state): State<AppState>, form: TwilioForm) -> Result<StatusCode, AppError> {
    let parsed = parse_content(&form).inspect_err(|e| {
        state.metrics.inc("leafdesk_webhook_rejections_total", &[("reason", rejection_reason(e))]);
    })?;
    let Some((call_sid, segment)) = parsed else {
        return Ok(StatusCode::NO_CONTENT); // started, stopped, a partial result: nothing to keep
    };
    let started = receipts::detail(&state.store, &format!("call:{call_sid}")).await?;
    let conversation_id = started.as_ref().and_then(|d| d["conversation_id"].as_str());
    let parties = match conversation_id {
        Some(id) => conversations::parties(&state.store, id).await?,
        None => None,
    };
    let Some((phone, location_id)) = parties else {
        tracing::warn!("a transcription of a call leafdesk did not answer; not kept");
        return Ok(StatusCode::NO_CONTENT);
    };
    let Some(location) = locations::get(&state.store, &location_id).await? else {
        return Ok(StatusCode::NO_CONTENT);
    };
    let customer = PhoneNumber::parse(&phone)?;
    let our_number = location.phone_number.clone().unwrap_or_default();
    let transcript = Transcript {
        source: "twilio",
        call_id: &call_sid,
        customer: &customer,
        our_number: &our_number,
        location: &location,
        segments: vec![segment],
        finished: false,
    };
    let assets = state.library.get();
    let recorded = transcripts::record(&state.store, &assets, transcript).await?;
    state.metrics.add("leafdesk_transcript_segments_total", &[("source", "twilio")], recorded.stored as u64);
    Ok(StatusCode::NO_CONTENT)
}

/// A final content callback's call and segment; `None` for every other event.
fn parse_content(form: &TwilioForm) -> Result<Option<(String, Segment)>, AppError> {
    let event = form.require("TranscriptionEvent")?;
    let call_sid = form.require("CallSid")?;
    if event != "transcription-content" || form.get("Final") != Some("true") {
        return Ok(None);
    }
    let invalid = |field: &'static str, message: String| AppError::Validation { field, message };
    let data: TranscriptionData = serde_json::from_str(form.require("TranscriptionData")?)
        .map_err(|e| invalid("TranscriptionData", format!("is not the JSON Twilio sends: {e}")))?;
    let speaker = match form.get("Track") {
        Some("inbound_track") => Speaker::Customer,
        Some("outbound_track") => Speaker::Agent,
        other => return Err(invalid("Track", format!("{other:?} is not inbound_track or outbound_track"))),
    };
    let at_ms = form
        .get("Timestamp")
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .map(jiff::Timestamp::as_millisecond)
        .ok_or_else(|| invalid("Timestamp", "is not an RFC 3339 time".into()))?;
    let sequence = form.require("SequenceId")?;
    let transcription = form.get("TranscriptionSid").unwrap_or("");
    let text = data.transcript.trim().to_owned();
    if text.is_empty() {
        return Ok(None);
    }
    let segment = Segment {
        speaker,
        text,
        start_ms: at_ms,
        end_ms: at_ms,
        confidence: data.confidence.filter(|c| (0.0..=1.0).contains(c)),
        id: Some(format!("{transcription}:{sequence}")),
    };
    Ok(Some((call_sid.to_owned(), segment)))
}

/// A finished call from another platform.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CallTranscript {
    /// The platform's id for the call: with each segment's time, what makes a retry a no-op.
    call_id: String,
    /// The customer's number (E.164).
    from: String,
    /// Our number they called; or `location_id`.
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    location_id: Option<String>,
    /// RFC 3339; segment times count from here.
    started_at: String,
    /// Set when the call is over: then it is filed on a ticket.
    #[serde(default)]
    ended_at: Option<String>,
    segments: Vec<ApiSegment>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiSegment {
    speaker: Speaker,
    text: String,
    /// Seconds from `started_at`.
    start: f64,
    end: f64,
    #[serde(default)]
    confidence: Option<f64>,
}

#[tracing::instrument(skip_all, fields(channel = "transcripts"), err(level = "warn"))]
async fn receive_transcript(State(state): State<AppState>, request: Request) -> Result<Response, AppError> {
    let (_integration, body) = super::events::signed_body_within(&state, request, MAX_TRANSCRIPT_BYTES).await?;
    let call: CallTranscript = serde_json::from_slice(&body).map_err(|e| {
        AppError::rejected(Refused::Malformed, "malformed_body", format!("the body is not a valid transcript: {e}"))
    })?;
    let invalid = |message: String| AppError::rejected(Refused::Unprocessable, "invalid_field", message);
    let call_id = super::trim_blank(&call.call_id);
    if call_id.is_empty() || call.call_id.chars().count() > super::events::MAX_ID_CHARS || call_id.contains('\0') {
        return Err(invalid("call_id must be 1 to 128 characters, not all blank, without U+0000".into()));
    }
    let customer = PhoneNumber::parse(&call.from)
        .map_err(|_| invalid("from must be the customer's number in E.164 form, such as +14155550123".into()))?;
    let started_ms = call
        .started_at
        .parse::<jiff::Timestamp>()
        .map_err(|_| invalid("started_at must be an RFC 3339 time such as 2026-11-30T12:00:00-08:00".into()))?
        .as_millisecond();
    if let Some(ended) = &call.ended_at {
        ended.parse::<jiff::Timestamp>().map_err(|_| invalid("ended_at must be an RFC 3339 time".into()))?;
    }
    if call.segments.is_empty() || call.segments.len() > MAX_SEGMENTS {
        return Err(invalid(format!("segments must hold 1 to {MAX_SEGMENTS} segments")));
    }
    let mut segments = Vec::with_capacity(call.segments.len());
    for (i, s) in call.segments.iter().enumerate() {
        let text = super::trim_blank(&s.text);
        if text.is_empty() || text.chars().count() > crate::domain::MAX_MESSAGE_CHARS || text.contains('\0') {
            return Err(invalid(format!("segments[{i}].text must be 1 to 1600 characters, without NUL")));
        }
        let seconds = |v: f64| v.is_finite() && (0.0..=86_400.0).contains(&v);
        if !seconds(s.start) || !seconds(s.end) || s.end < s.start {
            return Err(invalid(format!("segments[{i}]: start and end are seconds from started_at, start ≤ end")));
        }
        if s.confidence.is_some_and(|c| !(0.0..=1.0).contains(&c)) {
            return Err(invalid(format!("segments[{i}].confidence must be from 0 to 1")));
        }
        let ms = |v: f64| started_ms + (v * 1000.0).round() as i64;
        segments.push(Segment {
            speaker: s.speaker,
            text: text.to_owned(),
            start_ms: ms(s.start),
            end_ms: ms(s.end),
            confidence: s.confidence,
            id: None,
        });
    }
    let to = call.to.as_deref().map(PhoneNumber::parse).transpose().map_err(|_| {
        invalid("to must be our number the customer called, in E.164 form, such as +15005550006".into())
    })?;
    let location = match (&call.location_id, &to) {
        (Some(id), _) if id.contains('\0') => None, // PostgreSQL text cannot hold it; no id does
        (Some(id), _) => locations::get(&state.store, id).await?,
        (None, Some(to)) => state.locations.resolve(&state.store, to.as_ref(), None).await?,
        (None, None) => None,
    }
    .ok_or_else(|| {
        invalid("to (our number the customer called) or location_id must name one of our locations".into())
    })?;
    let our_number = to.map(|t| t.to_string()).or_else(|| location.phone_number.clone()).unwrap_or_default();
    let transcript = Transcript {
        source: "api",
        call_id,
        customer: &customer,
        our_number: &our_number,
        location: &location,
        segments,
        finished: call.ended_at.is_some(),
    };
    let assets = state.library.get();
    let recorded = transcripts::record(&state.store, &assets, transcript).await?;
    state.metrics.add("leafdesk_transcript_segments_total", &[("source", "api")], recorded.stored as u64);
    let status = if recorded.stored == 0 { StatusCode::OK } else { StatusCode::ACCEPTED };
    Ok((status, Json(json!({ "call_id": call_id, "status": "accepted", "result": recorded }))).into_response())
}
