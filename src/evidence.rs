//! The consent evidence pack of one number: what a dispensary needs to answer a TCPA demand
//! letter. Every consent event with its evidence (disclosure and version, IP, user agent,
//! MessageSid, who imported), every double opt-in request, every marketing text queued (body,
//! time, the send gate's decision, delivery status) and every revocation with its confirmation.
//!
//! Owns gathering that record and writing it as one zip: `evidence.html` (readable, printable
//! to PDF from any browser) beside one CSV per table. The console's download and
//! `leafdesk consent evidence` both call [`build`]. Also the rows of a consent list export, which
//! show the same dates the same way.

use std::io::Write as _;

use serde_json::{json, Value};

use crate::domain::PhoneNumber;
use crate::store::consent::{self, ConsentEvent, Request, MARKETING};
use crate::store::outbox::{self, SentText};
use crate::store::{locations, messages, Store, StoreError};
use crate::templates::Pages;

/// One number's whole consent record.
pub struct Record {
    pub phone: PhoneNumber,
    pub generated_at_ms: i64,
    /// The timezone the times are shown in: the contact's, their store's, or their area code's.
    pub timezone: String,
    pub events: Vec<ConsentEvent>,
    pub requests: Vec<Request>,
    pub texts: Vec<SentText>,
    pub revocations: Vec<Revocation>,
}

/// An opt-out and the confirmation leafdesk sent for it, if any.
pub struct Revocation {
    pub event: ConsentEvent,
    /// The confirmation's text, when it was sent and its delivery status.
    pub confirmation: Option<(String, i64, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("rendering the evidence page: {0}")]
    Render(#[from] handlebars::RenderError),
    #[error("writing the evidence zip: {0}")]
    Zip(String),
}

/// Reads everything leafdesk holds on `phone`'s consent.
///
/// # Errors
/// Database failures.
pub async fn gather(store: &Store, phone: &PhoneNumber) -> Result<Record, StoreError> {
    let events = consent::history(store, phone.as_ref()).await?;
    let requests = consent::requests_of(store, phone.as_ref()).await?;
    let texts = outbox::texts_to(store, phone.as_ref(), MARKETING).await?;
    let mut revocations = Vec::new();
    // An opt-out covers both purposes (two events, one message): one revocation per message.
    let mut seen = std::collections::HashSet::new();
    for event in events.iter().filter(|e| e.action == "opt_out") {
        let evidence: Value = serde_json::from_str(&event.evidence).unwrap_or(Value::Null);
        let message_id = evidence["message_id"].as_str();
        if !seen.insert(message_id.map_or_else(|| event.consent_event_id.clone(), str::to_owned)) {
            continue;
        }
        let confirmation = match message_id {
            Some(id) => messages::reply_to(store, id).await?,
            None => None,
        };
        revocations.push(Revocation { event: event.clone(), confirmation });
    }
    let place = consent::gate_inputs(store, &[phone.as_ref()]).await?.remove(phone.as_ref()).unwrap_or_default();
    // The contact's timezone, else the store they signed up at, else their area code's.
    let by_area_code = || {
        crate::compliance::area_codes::lookup(phone.as_ref())
            .and_then(|p| p.zones.first())
            .and_then(|tz| tz.iana_name().map(str::to_owned))
            .unwrap_or_else(|| "UTC".to_owned())
    };
    let timezone = match place.place.timezone {
        Some(tz) => tz,
        None => match requests.first() {
            Some(r) => locations::get(store, &r.location_id).await?.map_or_else(by_area_code, |l| l.timezone),
            None => by_area_code(),
        },
    };
    Ok(Record { phone: phone.clone(), generated_at_ms: store.now_ms(), timezone, events, requests, texts, revocations })
}

/// A time as people read it, in `timezone`: `2026-11-02 14:03:07 PST`.
pub fn when(ms: i64, timezone: &str) -> String {
    let tz = jiff::tz::TimeZone::get(timezone).unwrap_or(jiff::tz::TimeZone::UTC);
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_zoned_datetime(tz).strftime("%Y-%m-%d %H:%M:%S %Z").to_string())
        .unwrap_or_default()
}

/// The record as a zip: `evidence.html` and its tables as CSV.
///
/// # Errors
/// A page that does not render, or a zip that cannot be written.
pub fn build(record: &Record, pages: &Pages) -> Result<Vec<u8>, EvidenceError> {
    let tz = record.timezone.as_str();
    let t = |ms: i64| when(ms, tz);
    let opt = |ms: Option<i64>| ms.map(t).unwrap_or_default();
    let ledger: Vec<Vec<String>> = record
        .events
        .iter()
        .map(|e| {
            vec![
                t(e.created_at_ms),
                e.purpose.clone(),
                e.action.clone(),
                e.source.clone(),
                e.evidence.clone(),
                opt(e.recorded_at_ms),
                e.consent_event_id.clone(),
            ]
        })
        .collect();
    let requests: Vec<Vec<String>> = record
        .requests
        .iter()
        .map(|r| {
            vec![
                t(r.created_at_ms),
                r.source.clone(),
                r.purpose.clone(),
                r.disclosure_version.clone(),
                r.disclosure_text.clone(),
                r.ip.clone(),
                r.user_agent.clone(),
                r.confirmed_at_ms.map_or_else(|| "never confirmed".to_owned(), t),
            ]
        })
        .collect();
    let texts: Vec<Vec<String>> = record
        .texts
        .iter()
        .map(|m| {
            vec![
                t(m.created_at_ms),
                m.body.clone(),
                m.status.clone(),
                m.reason.clone().unwrap_or_default(),
                opt(m.sent_at_ms),
                m.provider_id.clone().unwrap_or_default(),
                m.delivery.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let revocations: Vec<Vec<String>> = record
        .revocations
        .iter()
        .map(|r| {
            let evidence: Value = serde_json::from_str(&r.event.evidence).unwrap_or(Value::Null);
            let said = evidence["text"].as_str().unwrap_or("").to_owned();
            let (confirmation, at, status) = r.confirmation.clone().map_or_else(
                || ("(none sent)".to_owned(), String::new(), String::new()),
                |(body, at, status)| (body, t(at), status),
            );
            vec![t(r.event.created_at_ms), r.event.source.clone(), said, confirmation, at, status]
        })
        .collect();
    let tables = [
        Table {
            file: "ledger.csv",
            title: "Consent ledger",
            header: &["when", "purpose", "action", "source", "evidence", "recorded", "event id"],
            rows: ledger,
        },
        Table {
            file: "opt_in_requests.csv",
            title: "Double opt-in requests",
            header: &[
                "when",
                "where",
                "purpose",
                "disclosure version",
                "disclosure shown",
                "ip",
                "user agent",
                "confirmed",
            ],
            rows: requests,
        },
        Table {
            file: "marketing_texts.csv",
            title: "Marketing texts",
            header: &["queued", "text", "send gate / outcome", "reason", "sent", "MessageSid", "delivery"],
            rows: texts,
        },
        Table {
            file: "revocations.csv",
            title: "Revocations and confirmations",
            header: &["when", "source", "what they said", "confirmation sent", "confirmation at", "delivery"],
            rows: revocations,
        },
    ];
    let data = json!({
        "phone": record.phone.to_string(),
        "generated": t(record.generated_at_ms),
        "timezone": tz,
        "tables": tables.iter().map(|t| json!({
            "title": t.title, "file": t.file, "header": t.header, "rows": t.rows, "count": t.rows.len(),
        })).collect::<Vec<_>>(),
    });
    let html = pages.render("evidence", &data)?;
    let zip_err = |e: &dyn std::fmt::Display| EvidenceError::Zip(e.to_string());
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .unix_permissions(0o644);
    zip.start_file("evidence.html", options).map_err(|e| zip_err(&e))?;
    zip.write_all(html.as_bytes()).map_err(|e| zip_err(&e))?;
    for table in &tables {
        zip.start_file(table.file, options).map_err(|e| zip_err(&e))?;
        let mut out = csv::Writer::from_writer(Vec::new());
        out.write_record(table.header).map_err(|e| zip_err(&e))?;
        for row in &table.rows {
            out.write_record(row).map_err(|e| zip_err(&e))?;
        }
        let bytes = out.into_inner().map_err(|e| zip_err(&e))?;
        zip.write_all(&bytes).map_err(|e| zip_err(&e))?;
    }
    Ok(zip.finish().map_err(|e| zip_err(&e))?.into_inner())
}

struct Table {
    file: &'static str,
    title: &'static str,
    header: &'static [&'static str],
    rows: Vec<Vec<String>>,
}

/// The pack's file name for `phone`: its last four digits and the day.
pub fn file_name(record: &Record) -> String {
    let digits = record.phone.as_ref().trim_start_matches('+');
    let last4 = &digits[digits.len().saturating_sub(4)..];
    let day = jiff::Timestamp::from_millisecond(record.generated_at_ms)
        .map(|t| t.strftime("%Y-%m-%d").to_string())
        .unwrap_or_default();
    format!("consent-evidence-{last4}-{day}.zip")
}

/// The header of a consent list export (`consent export`, the console's download).
pub const EXPORT_HEADER: [&str; 6] = ["phone", "purpose", "status", "since", "source", "evidence"];

/// One exported row: `since` is when consent was given or withdrawn, in UTC.
pub fn export_record(row: &crate::store::consent_lists::Entry) -> [String; 6] {
    let since = jiff::Timestamp::from_millisecond(row.since_ms).map(|t| t.to_string()).unwrap_or_default();
    [row.phone.clone(), row.purpose.clone(), row.status.clone(), since, row.source.clone(), row.evidence.clone()]
}
