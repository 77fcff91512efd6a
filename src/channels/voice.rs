//! Voice channel: Twilio Programmable Voice webhooks in, TwiML out. A call is a conversation on
//! the `voice` channel with the caller's contact: the bot greets (the `call.started` event runs
//! the menu), listens with a speech `<Gather>`, and each thing the caller says is one turn of the
//! same pipeline as a text — consent words first, so "stop calling me" is a revocation recorded
//! with source `voice`.
//!
//! - `POST /webhooks/twilio/voice`: an incoming call → the greeting inside a `<Gather>`.
//! - `POST /webhooks/twilio/voice/gather?turn=N&quiet=Q&unclear=U`: what was heard
//!   (`SpeechResult`, `Confidence`). Silence is asked again, then the call ends politely; speech
//!   Twilio is unsure of is asked again, then a person is offered. The query is part of the URL
//!   Twilio signs, so the counters cannot be forged; `CallSid:N` makes each turn idempotent.
//! - `POST /webhooks/twilio/voice/status`: the call ended → its conversation closes (unless a
//!   person has it), so the next call starts afresh and a hang-up mid-turn leaves nothing open.
//!
//! A hand-off either holds the caller in the queue's `<Enqueue>` (someone can take it now) or
//! says when someone will call back and hangs up (`queue::staffing`). Links the bot would text
//! are texted by the turn (`pipeline::turn`); here, only what is said and how.
//!
//! Owns Twilio's call fields and the spoken form of the bot's words.

use std::sync::LazyLock;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use regex::Regex;
use serde::Deserialize;
use serde_json::json;

use super::{rejection_reason, TwilioForm};
use crate::compliance::keywords::{classify, Keyword};
use crate::domain::{mask_phone, Channel, Inbound, PhoneNumber};
use crate::error::{AppError, Result};
use crate::pipeline::{Answer, Handled, PlatformEvent, Then};
use crate::state::AppState;
use crate::store::locations::Location;
use crate::store::{contacts, conversations, receipts, tickets, StoreError};
use crate::twilio::voice::{Gather, Verb, VoiceResponse};

/// Twilio's call SIDs: `CA`, then 32 lower-case hex digits.
static CALL_SID: LazyLock<Regex> = LazyLock::new(|| Regex::new("^CA[0-9a-f]{32}$").expect("call SID pattern compiles"));
/// 5 seconds of silence before the caller is asked again (Twilio's default).
const SILENCE_SECONDS: u32 = 5;
/// Silences in a row before the bot says goodbye.
const MAX_QUIET: u8 = 2;
/// Unclear answers in a row before a person is offered.
const OFFER_PERSON_AFTER: u8 = 2;
/// 100: the hints a `<Gather>` carries (Twilio takes up to 500).
const MAX_HINTS: usize = 100;
/// 5 minutes: how long the catalogue's product names are reused as hints.
const HINTS_TTL_MS: i64 = 5 * 60_000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/webhooks/twilio/voice", post(incoming))
        .route("/webhooks/twilio/voice/gather", post(gather))
        .route("/webhooks/twilio/voice/status", post(status))
}

/// The fields of a call webhook leafdesk reads.
struct Call<'a> {
    sid: &'a str,
    /// The caller; `None` for a withheld or unusable caller ID ("anonymous", "+266696687").
    from: Option<PhoneNumber>,
    to: &'a str,
}

fn parse_call(form: &TwilioForm) -> Result<Call<'_>> {
    let sid = form.require("CallSid")?;
    if !CALL_SID.is_match(sid) {
        let message = "is not a Twilio call SID (CA, then 32 hex digits)".into();
        return Err(AppError::Validation { field: "CallSid", message });
    }
    let from = form.get("From").and_then(|f| PhoneNumber::parse(f).ok());
    Ok(Call { sid, from, to: form.require("To")? })
}

/// Where the next `<Gather>` posts, with the turn's counters.
#[derive(Debug, Default, Clone, Copy, Deserialize)]
struct Turn {
    #[serde(default)]
    turn: u32,
    #[serde(default)]
    quiet: u8,
    #[serde(default)]
    unclear: u8,
}

#[tracing::instrument(skip_all, fields(channel = "voice"))]
async fn incoming(State(state): State<AppState>, form: TwilioForm) -> Result<Response> {
    let call = parsed(&state, parse_call(&form))?;
    let Some(location) = state.locations.resolve(&state.store, call.to, None).await? else {
        tracing::warn!(to = %mask_phone(call.to), "call to a number leafdesk does not serve");
        return Ok(end(&state, "en", "voice/not_in_service", &json!({})));
    };
    let Some(from) = call.from else {
        return Ok(end(&state, "en", "voice/no_caller_id", &json!({})));
    };
    let contact = match contacts::find(&state.store, from.as_ref()).await? {
        Some(contact) => contact,
        None => {
            let mut tx = state.store.begin().await?;
            let contact = contacts::create(&mut tx, from.as_ref(), state.store.now_ms()).await?;
            tx.commit().await.map_err(StoreError::from)?;
            contact
        }
    };
    let locale = contact.locale.clone();
    let key = format!("call:{}", call.sid);
    // Twilio retried the call's first request: listen again rather than greet twice.
    if receipts::detail(&state.store, &key).await?.is_some() {
        let prompt = render(&state, &locale, "voice/listening", &json!({}));
        return Ok(twiml(&listen(&state, &locale, Turn { turn: 1, ..Turn::default() }, &[prompt]).await));
    }
    let event = PlatformEvent {
        event_type: "call.started".into(),
        data: [("call_sid".to_owned(), json!(call.sid))].into_iter().collect(),
        contact,
        location: location.clone(),
        channel: Channel::Voice,
        receipt: None,
    };
    let Handled::Event { outcome, texts } = state.pipeline.handle_event(event).await? else {
        return Err(AppError::Internal(anyhow::anyhow!("a call's start was not handled as an event")));
    };
    let mut tx = state.store.begin().await?;
    let detail = json!({ "conversation_id": outcome.conversation_id, "from": from.masked() });
    receipts::record(&mut tx, &key, "call_started", &detail, state.store.now_ms()).await?;
    tx.commit().await.map_err(StoreError::from)?;
    state.metrics.inc("leafdesk_calls_total", &[("event", "started")]);
    if outcome.person_has_it {
        return Ok(twiml(&to_person(&state, &location, &locale, &outcome.conversation_id, &[]).await?));
    }
    Ok(twiml(&listen(&state, &locale, Turn { turn: 1, ..Turn::default() }, &texts).await))
}

#[tracing::instrument(skip_all, fields(channel = "voice", conversation_id = tracing::field::Empty))]
async fn gather(
    State(state): State<AppState>,
    counters: std::result::Result<Query<Turn>, QueryRejection>,
    form: TwilioForm,
) -> Result<Response> {
    let call = parsed(&state, parse_call(&form))?;
    let Query(at) = counters.map_err(|e| AppError::BadRequest(format!("the gather URL's counters: {e}")))?;
    let Some(location) = state.locations.resolve(&state.store, call.to, None).await? else {
        return Ok(end(&state, "en", "voice/not_in_service", &json!({})));
    };
    let Some(from) = call.from else {
        return Ok(end(&state, "en", "voice/no_caller_id", &json!({})));
    };
    let next = Turn { turn: at.turn.saturating_add(1), ..at };
    let said = form.get("SpeechResult").map(str::trim).unwrap_or("");
    if said.is_empty() {
        state.metrics.inc("leafdesk_voice_reprompts_total", &[("reason", "silence")]);
        let locale = locale_of(&state, from.as_ref()).await?;
        if at.quiet + 1 >= MAX_QUIET {
            return Ok(end(&state, &locale, "voice/goodbye", &json!({})));
        }
        let prompt = render(&state, &locale, "voice/silence", &json!({}));
        let quiet = Turn { quiet: at.quiet + 1, unclear: 0, ..next };
        return Ok(twiml(&listen(&state, &locale, quiet, &[prompt]).await));
    }
    let confidence = form.get("Confidence").and_then(|c| c.parse::<f64>().ok());
    let unsure = confidence.is_some_and(|c| c < state.settings.voice_min_confidence);
    // A revocation is honoured however unsure the transcript: erring that way is safe.
    if unsure && classify(said).keyword != Keyword::OptOut {
        state.metrics.inc("leafdesk_voice_reprompts_total", &[("reason", "low_confidence")]);
        let unclear = at.unclear + 1;
        let template = if unclear >= OFFER_PERSON_AFTER { "voice/unclear_offer" } else { "voice/unclear" };
        let locale = locale_of(&state, from.as_ref()).await?;
        let prompt = render(&state, &locale, template, &json!({}));
        return Ok(twiml(&listen(&state, &locale, Turn { quiet: 0, unclear, ..next }, &[prompt]).await));
    }
    let caller = from.as_ref().to_owned();
    let inbound = Inbound {
        channel: Channel::Voice,
        provider_id: format!("{}:{}", call.sid, at.turn),
        from,
        to: call.to.to_owned(),
        messaging_service_sid: None,
        body: heard(said),
        media: Vec::new(),
        opt_out_type: None,
    };
    let handled = state.pipeline.handle(inbound, location.clone()).await?;
    let next = Turn { quiet: 0, unclear: 0, ..next };
    // Read after the turn: the reply is in the language it chose (it may have switched).
    let locale = locale_of(&state, &caller).await?;
    let response = match handled {
        Handled::Replied { conversation_id, texts, then } => {
            tracing::Span::current().record("conversation_id", conversation_id.as_str());
            match then {
                Then::Listen => listen(&state, &locale, next, &texts).await,
                Then::HangUp => say_then(&locale, &texts, Verb::Hangup),
                Then::Handoff { queue, answer: Answer::Now } => hold(&state, &locale, &texts, &queue),
                Then::Handoff { .. } => {
                    state.metrics.inc("leafdesk_calls_total", &[("event", "callback_ticket")]);
                    say_then(&locale, &texts, Verb::Hangup)
                }
            }
        }
        Handled::Duplicate { texts } | Handled::Event { texts, .. } => listen(&state, &locale, next, &texts).await,
        Handled::Silent { conversation_id } => to_person(&state, &location, &locale, &conversation_id, &[]).await?,
    };
    Ok(twiml(&response))
}

/// A call a person already has (their ticket is open): hold for them, or hear when they call.
async fn to_person(
    state: &AppState,
    location: &Location,
    locale: &str,
    conversation_id: &str,
    texts: &[String],
) -> Result<VoiceResponse> {
    let queue = tickets::open_queue(&state.store, conversation_id).await?.unwrap_or_else(|| "general".into());
    let queues = state.library.get().flows.queues.clone();
    let now = state.store.now_ms();
    let mut tx = state.store.begin_read().await?;
    let answer = state.settings.voice_staffing.answer(&mut tx, &queues, &queue, &location.timezone, now).await?;
    drop(tx);
    let data = json!({
        "location": { "name": location.name, "timezone": location.timezone },
        "callback": answer.callback(),
        "now_ms": now,
    });
    let mut said = texts.to_vec();
    said.push(render(state, locale, "human_handoff/ack", &data));
    Ok(match answer {
        Answer::Now => hold(state, locale, &said, &queue),
        _ => say_then(locale, &said, Verb::Hangup),
    })
}

/// Call statuses after which the call is over.
const ENDED: &[&str] = &["completed", "busy", "failed", "no-answer", "canceled"];

#[tracing::instrument(skip_all, fields(channel = "voice"))]
async fn status(State(state): State<AppState>, form: TwilioForm) -> Result<StatusCode> {
    let call = parsed(&state, parse_call(&form))?;
    let status = form.require("CallStatus")?;
    if !ENDED.contains(&status) {
        return Ok(StatusCode::NO_CONTENT);
    }
    let now = state.store.now_ms();
    let started = receipts::detail(&state.store, &format!("call:{}", call.sid)).await?;
    let mut tx = state.store.begin().await?;
    let detail = json!({ "sid": call.sid, "status": status, "duration": form.get("CallDuration") });
    if !receipts::record(&mut tx, &format!("call_status:{}:{status}", call.sid), "call_status", &detail, now).await? {
        return Ok(StatusCode::NO_CONTENT); // a retried callback: already applied
    }
    let conversation_id = started.as_ref().and_then(|d| d["conversation_id"].as_str());
    if let Some(conversation_id) = conversation_id {
        if conversations::close_if_bot(&mut tx, conversation_id, now).await? {
            let detail = json!({ "call_status": status });
            conversations::record_event(&mut tx, conversation_id, "call_ended", &detail, now).await?;
        }
    }
    tx.commit().await.map_err(StoreError::from)?;
    state.metrics.inc("leafdesk_calls_total", &[("event", "ended")]);
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's language (a caller we do not know yet: English).
async fn locale_of(state: &AppState, phone: &str) -> Result<String> {
    Ok(contacts::find(&state.store, phone).await?.map_or_else(|| "en".to_owned(), |c| c.locale))
}

fn parsed<'a>(state: &AppState, call: Result<Call<'a>>) -> Result<Call<'a>> {
    call.inspect_err(|e| {
        state.metrics.inc("leafdesk_webhook_rejections_total", &[("reason", rejection_reason(e))]);
    })
}

/// The bot's words inside a speech `<Gather>` that posts the answer to the next turn.
async fn listen(state: &AppState, locale: &str, at: Turn, texts: &[String]) -> VoiceResponse {
    let query = format!("turn={}&quiet={}&unclear={}", at.turn, at.quiet, at.unclear);
    let path = format!("/webhooks/twilio/voice/gather?{query}");
    let action = state.settings.public_url.as_ref().map_or_else(|| path.clone(), |base| format!("{base}{path}"));
    let gather = Gather {
        action,
        language: Some(speech_language(locale).to_owned()),
        hints: hints(state).await,
        timeout: Some(SILENCE_SECONDS),
        action_on_empty_result: true,
        prompt: says(locale, texts),
    };
    VoiceResponse::new().verb(Verb::Gather(gather))
}

/// Says `texts`, then does `last` (hang up, hold in a queue).
fn say_then(locale: &str, texts: &[String], last: Verb) -> VoiceResponse {
    says(locale, texts).into_iter().fold(VoiceResponse::new(), VoiceResponse::verb).verb(last)
}

/// Says `texts` and holds the caller in `queue`'s Twilio queue; with transcription on, the
/// rest of the call (the person's side too) is transcribed onto the ticket.
fn hold(state: &AppState, locale: &str, texts: &[String], queue: &str) -> VoiceResponse {
    let mut response = says(locale, texts).into_iter().fold(VoiceResponse::new(), VoiceResponse::verb);
    if state.settings.voice_transcribe_calls {
        let path = "/webhooks/twilio/voice/transcription";
        let callback =
            state.settings.public_url.as_ref().map_or_else(|| path.to_owned(), |base| format!("{base}{path}"));
        let language = Some(speech_language(locale).to_owned());
        response = response.verb(Verb::StartTranscription { callback, language });
    }
    response.verb(enqueue(queue))
}

/// Says one template and hangs up.
fn end(state: &AppState, locale: &str, template: &str, data: &serde_json::Value) -> Response {
    twiml(&say_then(locale, &[render(state, locale, template, data)], Verb::Hangup))
}

fn enqueue(queue: &str) -> Verb {
    Verb::Enqueue { name: queue_name(queue), action: None, wait_url: None }
}

/// The Twilio queue a CSR queue's calls wait in: `leafdesk-<queue>` (Twilio allows 64 characters).
pub fn queue_name(queue: &str) -> String {
    let name = format!("leafdesk-{queue}");
    name.chars().take(64).collect()
}

fn says(locale: &str, texts: &[String]) -> Vec<Verb> {
    texts
        .iter()
        .map(|t| spoken(t, locale))
        .filter(|t| !t.is_empty())
        .map(|text| Verb::Say { text, language: Some(voice_language(locale).to_owned()) })
        .collect()
}

fn render(state: &AppState, locale: &str, template: &str, data: &serde_json::Value) -> String {
    state.library.get().templates.render(template, locale, Channel::Voice, data).unwrap_or_else(|e| {
        tracing::error!(error = %e, "voice template failed to render");
        String::new()
    })
}

fn twiml(response: &VoiceResponse) -> Response {
    ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], response.to_xml()).into_response()
}

/// The language Twilio's speech recognition listens in.
fn speech_language(locale: &str) -> &'static str {
    if locale == "es" {
        "es-US"
    } else {
        "en-US"
    }
}

/// The language `<Say>` speaks (the basic voices know `es-MX`, not `es-US`).
fn voice_language(locale: &str) -> &'static str {
    if locale == "es" {
        "es-MX"
    } else {
        "en-US"
    }
}

/// Words the recognizer should expect: what the menu listens for, then the catalogue's product
/// names (read at most every few minutes).
async fn hints(state: &AppState) -> Vec<String> {
    let now = state.store.now_ms();
    let cache = &state.voice_hints.0;
    let cached = cache.lock().ok().and_then(|c| c.as_ref().filter(|(at, _)| now - at < HINTS_TTL_MS).cloned());
    let products = match cached {
        Some((_, names)) => names,
        None => {
            let names = product_names(state).await.unwrap_or_default();
            if let Ok(mut cache) = cache.lock() {
                *cache = Some((now, names.clone()));
            }
            names
        }
    };
    let assets = state.library.get();
    let mut words: Vec<String> = vec!["agent".into(), "person".into(), "representative".into()];
    if let Some(menu) = assets.flows.flows.get("menu") {
        words.extend(menu.option_words().into_iter().filter(|w| !w.chars().all(|c| c.is_ascii_digit())));
    }
    words.extend(products);
    let mut seen = std::collections::HashSet::new();
    words.retain(|w| seen.insert(w.to_lowercase()));
    words.truncate(MAX_HINTS);
    words
}

async fn product_names(state: &AppState) -> std::result::Result<Vec<String>, StoreError> {
    let mut conn = state.store.pool().acquire().await?;
    let products = state.commerce.open(&mut conn).all_products().await?;
    Ok(products.into_iter().map(|p| p.name).collect())
}

/// A transcript as the flows read it: "Two." → "2" (menus are numbered), else as heard
/// without the recognizer's closing full stop.
pub fn heard(said: &str) -> String {
    const NUMBERS: &[(&str, &str)] = &[
        ("one", "1"),
        ("two", "2"),
        ("three", "3"),
        ("four", "4"),
        ("five", "5"),
        ("six", "6"),
        ("seven", "7"),
        ("eight", "8"),
        ("nine", "9"),
        ("uno", "1"),
        ("dos", "2"),
        ("tres", "3"),
        ("cuatro", "4"),
        ("cinco", "5"),
        ("seis", "6"),
        ("siete", "7"),
        ("ocho", "8"),
        ("nueve", "9"),
    ];
    let trimmed = said.trim().trim_end_matches(['.', '!']).trim();
    let word = trimmed.to_lowercase();
    let word = word.strip_prefix("number ").or_else(|| word.strip_prefix("número ")).unwrap_or(&word);
    NUMBERS.iter().find(|(w, _)| *w == word).map_or_else(|| trimmed.to_owned(), |(_, d)| (*d).to_owned())
}

/// A text as it is best said: no emoji, numbered lines as a spoken list, "Reply" as "Say",
/// units and order numbers said in words and letters.
pub fn spoken(text: &str, locale: &str) -> String {
    static ORDER: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\b([A-Z]{2,3})-(\d{3,8})\b").expect("order number pattern compiles"));
    static UNIT: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(\d)\s?(mg|g|oz)\b").expect("unit pattern compiles"));
    static NUMBERED: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(?m)^\s*(\d{1,2})\.\s+").expect("numbered line pattern compiles"));
    let es = locale == "es";
    let clean: String = text
        .chars()
        .filter(|c| {
            use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
            !matches!(c.general_category(), GeneralCategory::OtherSymbol | GeneralCategory::Format) && *c != '\u{FE0F}'
        })
        .collect();
    let clean = NUMBERED.replace_all(&clean, "$1: ");
    let clean = ORDER.replace_all(&clean, |c: &regex::Captures<'_>| {
        let spell = |s: &str| s.chars().map(String::from).collect::<Vec<_>>().join(" ");
        format!("{}, {}", spell(&c[1]), spell(&c[2]))
    });
    let clean = UNIT.replace_all(&clean, |c: &regex::Captures<'_>| {
        let unit = match (&c[2], es) {
            ("mg", false) => "milligrams",
            ("mg", true) => "miligramos",
            ("g", false) => "grams",
            ("g", true) => "gramos",
            ("oz", false) => "ounces",
            (_, _) => "onzas",
        };
        format!("{} {unit}", &c[1])
    });
    let (reply, say, section) = if es { ("Responda", "Diga", "sección") } else { ("Reply", "Say", "section") };
    let clean = clean.replace(reply, say).replace('§', &format!(" {section} "));
    // Each line a sentence, so the voice pauses where the eye would.
    let lines: Vec<String> = clean
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .map(|l| if l.ends_with(['.', '?', '!', ':', ',']) { l.to_owned() } else { format!("{l}.") })
        .collect();
    lines.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_heard_as_words_choose_numbered_options() {
        for (said, want) in [("Two.", "2"), ("one", "1"), ("Number three.", "3"), ("Dos.", "2"), ("cinco", "5")] {
            assert_eq!(heard(said), want, "{said:?}");
        }
        assert_eq!(heard("My payment got declined."), "My payment got declined");
        assert_eq!(heard("Is my order ready?"), "Is my order ready?");
    }

    #[test]
    fn texts_are_said_without_emoji_with_lists_units_and_order_numbers_in_words() {
        let said = spoken("Your order LD-1005 is ready 🌿👍\n1. Pay by bank\n2. Talk to a person\nReply 1 or 2", "en");
        assert_eq!(said, "Your order L D, 1 0 0 5 is ready. 1: Pay by bank. 2: Talk to a person. Say 1 or 2.");
        assert_eq!(
            spoken("Up to 28.5 g of flower and 8g of concentrate (4 CCR §15409)", "en"),
            "Up to 28.5 grams of flower and 8 grams of concentrate (4 CCR section 15409)."
        );
        assert_eq!(spoken("Hasta 28.5 g. Responda 1", "es"), "Hasta 28.5 gramos. Diga 1.");
    }

    #[test]
    fn queue_names_fit_twilios_limit() {
        assert_eq!(queue_name("payments"), "leafdesk-payments");
        assert_eq!(queue_name(&"q".repeat(80)).chars().count(), 64);
    }
}
