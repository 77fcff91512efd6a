//! Marketing campaigns: a message per language to a segment intersected with current marketing
//! consent, written by marketing, approved by a lead or an admin, sent through the durable
//! outbox and its send gate (recipient-local quiet hours, state rules, frequency caps).
//!
//! Owns checking a draft (merge fields, the carriers' content rules, the SMS segment count, a
//! non-empty audience), rendering each recipient's text, the test send to staff numbers, and the
//! runner: it starts approved campaigns at their time (planning the audience in one statement),
//! moves planned recipients into the outbox in batches (each recipient claimed once, in the
//! transaction that writes its row), and marks a campaign finished when nothing is left. Pause,
//! resume and cancel are status changes the outbox honours on its next claim (≤ 250 ms).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::compliance::content;
use crate::domain::Channel;
use crate::flows::Library;
use crate::store::campaigns::{self, Campaign, Segment};
use crate::store::{locations, outbox, Store, StoreError};

/// A message that already tells how to opt out ("Reply STOP to end", "Text STOP…").
static SAYS_HOW_TO_STOP: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(r"(?i)\b(reply|text|send|responda|env[ií]e)\s+(stop|alto|baja)\b").expect("pattern compiles")
});

/// Recipients moved into the outbox per transaction.
const BATCH: i64 = 500;
/// Outbox rows per insert statement (7 values each: well under SQLite's 32,766 parameters).
const BATCH_ROWS: usize = 500;
/// The merge fields a message may use.
pub const MERGE_FIELDS: &[&str] = &["first_name", "store"];

/// A campaign as marketing writes it.
#[derive(Debug, Clone, Default)]
pub struct Draft {
    pub name: String,
    pub location_id: String,
    pub segment: Segment,
    /// Locale → message; `en` is required, it is also sent to anyone whose language has none.
    pub bodies: BTreeMap<String, String>,
    pub send_at_ms: Option<i64>,
}

/// What one message looks like once rendered, and what carriers will make of it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Preview {
    pub locale: String,
    /// Rendered for a sample customer, with the opt-out line.
    pub sample: String,
    pub segments: usize,
    pub encoding: &'static str,
    /// Problems that refuse the campaign: merge-field errors, content the carriers filter.
    pub problems: Vec<String>,
}

/// Renders a message for one recipient: the merge fields, then the opt-out line in their
/// language unless the message already says STOP.
///
/// # Errors
/// The template's problem (a syntax error, an unknown merge field), as people read it.
pub fn render(
    library: &Library,
    body: &str,
    locale: &str,
    first_name: Option<&str>,
    store: &str,
) -> Result<String, String> {
    let bodies = BTreeMap::from([(locale.to_owned(), body.to_owned())]);
    Renderer::new(library, &bodies, store)?.render(locale, first_name)
}

/// A campaign's messages compiled once, for rendering them to many recipients.
pub struct Renderer {
    hb: handlebars::Handlebars<'static>,
    /// Per locale: the opt-out line, and the word used when a customer's name is unknown.
    stop_lines: BTreeMap<String, String>,
    no_names: BTreeMap<String, String>,
    store: String,
}

impl Renderer {
    /// # Errors
    /// A message that is not a template, or a missing opt-out line, as people read it.
    pub fn new(library: &Library, bodies: &BTreeMap<String, String>, store: &str) -> Result<Self, String> {
        let mut hb = handlebars::Handlebars::new();
        hb.set_strict_mode(true);
        hb.register_escape_fn(handlebars::no_escape);
        let assets = library.get();
        let line = |name: &str, locale: &str| {
            assets
                .templates
                .render(name, locale, Channel::Sms, &json!({}))
                .map_err(|e| format!("the template {name} is missing: {e}"))
        };
        let (mut stop_lines, mut no_names) = (BTreeMap::new(), BTreeMap::new());
        for (locale, body) in bodies {
            hb.register_template_string(locale, body)
                .map_err(|e| format!("the message cannot be read as a template: {}", e.reason()))?;
            stop_lines.insert(locale.clone(), line("campaign/stop_line", locale)?);
            no_names.insert(locale.clone(), line("campaign/no_name", locale)?);
        }
        Ok(Self { hb, stop_lines, no_names, store: store.to_owned() })
    }

    /// One recipient's text: the merge fields, then the opt-out line in their language unless
    /// the message already says how to stop.
    ///
    /// # Errors
    /// An unknown merge field (or a locale without a message), as people read it.
    pub fn render(&self, locale: &str, first_name: Option<&str>) -> Result<String, String> {
        let fallback = self.no_names.get(locale).map_or("", String::as_str);
        let name = first_name.map(str::trim).filter(|n| !n.is_empty()).unwrap_or(fallback);
        let data = json!({ "first_name": name, "store": self.store });
        let text = self.hb.render(locale, &data).map_err(|e| match e.reason() {
            handlebars::RenderErrorReason::MissingVariable(Some(name)) => {
                format!("{{{{{name}}}}} is not a merge field; use {}", fields())
            }
            reason => format!("the message cannot be made: {reason}"),
        })?;
        let text = text.trim().to_owned();
        match self.stop_lines.get(locale) {
            Some(stop) if !SAYS_HOW_TO_STOP.is_match(&text) => Ok(format!("{text} {stop}")),
            _ => Ok(text),
        }
    }
}

fn fields() -> String {
    MERGE_FIELDS.iter().map(|f| format!("{{{{{f}}}}}")).collect::<Vec<_>>().join(" or ")
}

/// The preview of each message of a draft, with its problems.
pub fn preview(library: &Library, draft: &Draft, store: &str) -> Vec<Preview> {
    draft
        .bodies
        .iter()
        .map(|(locale, body)| {
            let mut problems = Vec::new();
            let sample = match render(library, body, locale, Some("Alex"), store) {
                Ok(text) => text,
                Err(problem) => {
                    problems.push(problem);
                    body.clone()
                }
            };
            for d in content::check_text(std::path::Path::new(locale), body) {
                problems.push(d.message.trim_start_matches("warning: ").to_owned());
            }
            let (segments, encoding) = content::sms_segments(&sample);
            Preview { locale: locale.clone(), sample, segments, encoding, problems }
        })
        .collect()
}

/// Why a draft cannot be saved: each problem, as people read it.
#[derive(Debug, thiserror::Error)]
pub enum DraftError {
    #[error("{}", .0.join(" "))]
    Refused(Vec<String>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks a draft and saves it for approval; returns its id.
///
/// # Errors
/// `Refused` naming every problem (no name, no English message, a message carriers filter or
/// that does not render, a time in the past, nobody in the audience); database failures.
pub async fn save(store: &Store, library: &Library, draft: &Draft, by: &str) -> Result<String, DraftError> {
    let mut problems = Vec::new();
    if draft.name.trim().is_empty() {
        problems.push("Give the campaign a name.".to_owned());
    }
    let Some(location) = locations::get(store, &draft.location_id).await? else {
        return Err(DraftError::Refused(vec!["Choose the store the campaign is sent from.".into()]));
    };
    if draft.bodies.get("en").is_none_or(|b| b.trim().is_empty()) {
        problems.push("Write the English message: it is sent to everyone whose language has none.".into());
    }
    for p in preview(library, draft, &location.name) {
        for problem in p.problems {
            problems.push(format!("{} message: {problem}.", p.locale));
        }
    }
    if draft.send_at_ms.is_some_and(|at| at < store.now_ms()) {
        problems
            .push("The send time is in the past: choose a later time, or leave it empty to send on approval.".into());
    }
    if problems.is_empty() && campaigns::audience(store, &location.location_id, &draft.segment).await? == 0 {
        problems.push("Nobody in this audience has agreed to marketing texts: widen the segment.".into());
    }
    if !problems.is_empty() {
        return Err(DraftError::Refused(problems));
    }
    let bodies = serde_json::to_value(&draft.bodies).unwrap_or_default();
    let new = campaigns::NewCampaign {
        name: draft.name.trim(),
        location_id: &location.location_id,
        segment: &draft.segment,
        bodies: &bodies,
        created_by: by,
        send_at_ms: draft.send_at_ms,
    };
    Ok(campaigns::create(store, &new).await?)
}

/// Sends each message of a campaign once to each of `phones` (staff numbers), marked as a test,
/// now: transactional, so it needs no marketing consent, but an opted-out number still gets
/// nothing. Returns how many texts were queued.
///
/// # Errors
/// A message that does not render; database failures.
pub async fn test_send(
    store: &Store,
    library: &Library,
    campaign: &Campaign,
    phones: &[crate::domain::PhoneNumber],
) -> Result<usize, DraftError> {
    let Some(location) = locations::get(store, &campaign.location_id).await? else {
        return Err(DraftError::Refused(vec!["The campaign's store no longer exists.".into()]));
    };
    let bodies: BTreeMap<String, String> = serde_json::from_str(&campaign.bodies).unwrap_or_default();
    let mut tx = store.begin().await?;
    let mut queued = 0;
    for phone in phones {
        for (locale, body) in &bodies {
            let text = render(library, body, locale, Some("Alex"), &location.name)
                .map_err(|p| DraftError::Refused(vec![p]))?;
            let body = format!("[TEST {}] {text}", campaign.name);
            let message = outbox::NewOutbound {
                conversation_id: None,
                location_id: &location.location_id,
                to_phone: phone.as_ref(),
                purpose: "transactional",
                body: &body,
                reply: None,
            };
            outbox::enqueue(&mut tx, &message, store.now_ms()).await?;
            queued += 1;
        }
    }
    tx.commit().await.map_err(StoreError::from)?;
    Ok(queued)
}

/// One round of the runner: start due campaigns, queue what is planned, finish what is done.
/// Returns how many texts were queued.
///
/// # Errors
/// Database failures.
pub async fn run_once(store: &Store, library: &Library) -> Result<usize, StoreError> {
    for id in campaigns::start_due(store).await? {
        tracing::info!(campaign_id = %id, "campaign started");
    }
    let mut queued = 0;
    for campaign in campaigns::sending(store).await? {
        queued += queue(store, library, &campaign).await?;
        if campaigns::finish_if_done(store, &campaign.campaign_id).await? {
            tracing::info!(campaign_id = %campaign.campaign_id, "campaign finished");
        }
    }
    Ok(queued)
}

/// Moves a sending campaign's planned recipients into the outbox, a batch per transaction: the
/// batch's recipients claimed in one statement, their texts written in another.
async fn queue(store: &Store, library: &Library, campaign: &Campaign) -> Result<usize, StoreError> {
    let Some(location) = locations::get(store, &campaign.location_id).await? else { return Ok(0) };
    let bodies: BTreeMap<String, String> = serde_json::from_str(&campaign.bodies).unwrap_or_default();
    let renderer = Renderer::new(library, &bodies, &location.name);
    let mut queued = 0;
    let mut after = String::new();
    loop {
        let batch = campaigns::planned(store, &campaign.campaign_id, &after, BATCH).await?;
        let Some(last) = batch.last() else { return Ok(queued) };
        after = last.phone.clone();
        let mut texts = Vec::with_capacity(batch.len());
        let mut unmade = Vec::new();
        for r in &batch {
            let locale = r.locale.as_deref().filter(|l| bodies.contains_key(*l)).unwrap_or("en");
            let made = renderer.as_ref().map_err(Clone::clone).and_then(|m| m.render(locale, r.first_name.as_deref()));
            match made {
                Ok(body) => texts.push((r.phone.as_str(), body)),
                Err(problem) => unmade.push((r.phone.as_str(), problem)),
            }
        }
        let mut tx = store.begin().await?;
        for (phone, problem) in &unmade {
            // Kept with its reason: a planned row left behind would keep the campaign open.
            tracing::error!(campaign_id = %campaign.campaign_id, %problem, "campaign message does not render");
            campaigns::block(&mut tx, &campaign.campaign_id, phone, problem).await?;
        }
        let phones: Vec<&str> = texts.iter().map(|(p, _)| *p).collect();
        let claimed = campaigns::claim(&mut tx, &campaign.campaign_id, &phones).await?;
        let rows: Vec<outbox::CampaignText<'_>> = texts
            .into_iter()
            .filter(|(phone, _)| claimed.iter().any(|c| c == phone))
            .map(|(phone, body)| outbox::CampaignText {
                outbox_id: campaigns::outbox_id(&campaign.campaign_id, phone),
                to_phone: phone,
                body,
            })
            .collect();
        for chunk in rows.chunks(BATCH_ROWS) {
            outbox::enqueue_campaign(&mut tx, &campaign.campaign_id, &location.location_id, chunk, store.now_ms())
                .await?;
        }
        tx.commit().await?;
        queued += rows.len();
        if claimed.is_empty() && unmade.is_empty() {
            // Queued by another replica, or the campaign was paused or cancelled.
            return Ok(queued);
        }
    }
}

/// Runs [`run_once`] every `every` until the process stops.
pub fn spawn(store: Store, library: Arc<Library>, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match run_once(&store, &library).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(queued = n, "campaign texts queued"),
                Err(e) => tracing::error!(error = %e, "campaign round failed"),
            }
        }
    })
}
