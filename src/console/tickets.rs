//! The queue page (`GET /console`) and a ticket (`GET /console/tickets/{id}`, and the forms it
//! posts: claim, release, reply, note, transfer, snooze, resolve). Phones are masked here; the
//! rules of each action are `queue`'s.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{json, Value};

use super::{problem, refused, render, Form, Signed};
use crate::auth::Staff;
use crate::clock::{age, ago};
use crate::commerce;
use crate::domain::staff::Role;
use crate::domain::{mask_phone, Channel};
use crate::error::AppError;
use crate::queue::{self, QueueError, Sla, Worker, WrapUp};
use crate::state::AppState;
use crate::store::tickets::{QueueFilter, QueueItem};
use crate::store::{conversations, messages, tickets};

/// Roles that work tickets of some queue.
pub const TICKET_ROLES: &[Role] = &[Role::Csr, Role::Lead, Role::Verification, Role::Inventory, Role::It];

/// 100 rows: more than a person reads at once; the page says how many match, filters narrow it.
const PAGE_SIZE: i64 = 100;
/// 200 lines of transcript: months of a customer's messages.
const TRANSCRIPT_LINES: i64 = 200;

fn worker(who: &Staff) -> Worker<'_> {
    Worker { user_id: &who.user_id, name: &who.display_name, roles: &who.roles }
}

/// A queue row as the page shows it.
fn row(t: &QueueItem, queues: &[crate::flows::model::Queue], me: &str, now_ms: i64) -> Value {
    let (sla, due) = Sla::of(t, queues, now_ms);
    json!({
        "ticket_id": t.ticket_id,
        "queue": t.queue,
        "priority": t.priority,
        "tags": serde_json::from_str::<Vec<String>>(&t.tags).unwrap_or_default(),
        "reason": t.reason,
        "age": age(now_ms - t.created_at_ms),
        "created_at_ms": t.created_at_ms,
        "assignee": t.assignee_name,
        "mine": t.assignee_id.as_deref() == Some(me),
        "channel": t.channel,
        "location": t.location_name,
        "customer": t.first_name.clone().unwrap_or_else(|| "Customer".into()),
        "phone": mask_phone(&t.phone),
        "sla": sla.code(),
        "due_in": due.map(|d| if d > now_ms { age(d - now_ms) } else { format!("{} late", age(now_ms - d)) }),
    })
}

pub async fn queue(
    State(state): State<AppState>,
    Signed(who): Signed,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, AppError> {
    // Marketing works consent lists, not tickets: the console opens there for them.
    if !who.roles.any(TICKET_ROLES) && who.roles.any(super::consent::CONSENT_ROLES) {
        return Ok(axum::response::Redirect::to("/console/consent").into_response());
    }
    if let Some(page) = refused(&state, &who, TICKET_ROLES) {
        return Ok(page);
    }
    let assets = state.library.get();
    let queues = &assets.flows.queues;
    let get = |k: &str| q.get(k).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let now = state.store.now_ms();
    let filter = QueueFilter {
        queues: get("queue").into_iter().collect(),
        priority: get("priority").and_then(|p| p.parse().ok()),
        tag: get("tag"),
        location_id: get("location"),
        assignee_id: (get("mine").as_deref() == Some("1")).then(|| who.user_id.clone()),
        sla: get("sla").and_then(|code| Sla::filter(&code, queues, now)),
        awake_at_ms: None,
        limit: PAGE_SIZE,
    };
    let (items, total) = queue::board(&state.store, &who.roles, queues, filter, get("snoozed").is_some()).await?;
    let rows: Vec<Value> = items.iter().map(|t| row(t, queues, &who.user_id, now)).collect();
    let visible: Vec<Value> = queue::visible(&who.roles, queues)
        .iter()
        .map(|q| json!({ "id": q.id, "name": q.name, "selected": get("queue").as_deref() == Some(q.id.as_str()) }))
        .collect();
    let locations = crate::store::locations::list(&state.store).await?;
    let data = json!({
        "rows": rows,
        "count": total,
        "more": total > i64::try_from(rows.len()).unwrap_or(i64::MAX),
        "shown": rows.len(),
        "queues": visible,
        "tags": assets.flows.tags,
        "locations": locations.iter().map(|l| json!({ "id": l.location_id, "name": l.name,
            "selected": get("location").as_deref() == Some(l.location_id.as_str()) })).collect::<Vec<_>>(),
        "filter": {
            "priority": get("priority"), "tag": get("tag"), "sla": get("sla"),
            "mine": get("mine").is_some(), "snoozed": get("snoozed").is_some(),
        },
    });
    Ok(render(&state, Some(&who), StatusCode::OK, "console/queue", data))
}

pub async fn show(
    State(state): State<AppState>,
    Signed(who): Signed,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    if let Some(page) = refused(&state, &who, TICKET_ROLES) {
        return Ok(page);
    }
    ticket_page(&state, &who, &id, &Revealed::default()).await
}

/// Personal data a person asked to see (with a reason, audited); masked otherwise.
#[derive(Debug, Default)]
struct Revealed {
    phone: Option<String>,
    date_of_birth: Option<String>,
    recommendation_number: Option<String>,
}

/// Who may reveal which field: anyone who works the ticket sees the phone and date of birth;
/// a recommendation number is medical data, for verification staff (and admins).
const REVEALABLE: &[(&str, &[Role])] =
    &[("phone", TICKET_ROLES), ("date_of_birth", TICKET_ROLES), ("recommendation_number", &[Role::Verification])];

async fn ticket_page(state: &AppState, who: &Staff, id: &str, revealed: &Revealed) -> Result<Response, AppError> {
    let assets = state.library.get();
    let queues = &assets.flows.queues;
    let Some((item, ticket)) = tickets::item(&state.store, id).await? else {
        return Ok(problem(state, who, StatusCode::NOT_FOUND, "There is no such ticket."));
    };
    if !queue::works(&who.roles, queues, &item.queue) {
        return Ok(render(state, Some(who), StatusCode::FORBIDDEN, "console/forbidden", json!({})));
    }
    let now = state.store.now_ms();
    let transcript = messages::transcript(&state.store, &ticket.contact_id, TRANSCRIPT_LINES).await?;
    let events = conversations::events(&state.store, &item.conversation_id).await?;
    let bot = conversations::bot_state(&state.store, &item.conversation_id).await?;
    let notes = tickets::notes(&state.store, id).await?;
    let staff = crate::store::staff::list(&state.store).await?;
    let (customer, orders) = commerce::profile(state.commerce.as_ref(), &state.store, &ticket.contact_id, 5).await?;
    let contact = crate::store::contacts::find_by_id(&state.store, &ticket.contact_id).await?;
    let locale = contact.as_ref().map_or("en", |c| c.locale.as_str()).to_owned();
    let lines: Vec<Value> = transcript
        .iter()
        .map(|l| {
            json!({
                "inbound": l.direction == "inbound",
                "speaker": l.speaker(),
                "channel": l.channel,
                "body": l.body,
                "status": l.status,
                "reason": l.reason,
                "ago": ago(now - l.at_ms),
                "this_ticket": l.ticket_id.as_deref() == Some(id),
            })
        })
        .collect();
    let details: serde_json::Map<String, Value> = serde_json::from_str(&ticket.details).unwrap_or_default();
    let detail_rows: Vec<Value> = details
        .iter()
        .map(|(k, v)| json!({ "key": k, "value": v.as_str().map_or_else(|| v.to_string(), str::to_owned) }))
        .collect();
    let report = report_text(&item, &ticket.summary, &detail_rows);
    // A medical document, for those who may see it: shown inline (images) or to download.
    let upload_id =
        details.get("upload_id").and_then(Value::as_str).filter(|_| who.roles.any(super::review::REVIEWERS));
    let document = match upload_id {
        Some(upload_id) => crate::store::uploads::find(&state.store, upload_id).await?.map(|u| {
            json!({
                "upload_id": u.upload_id,
                "content_type": u.content_type,
                "inline": matches!(u.content_type.as_str(), "image/jpeg" | "image/png"),
                "pending": u.review_status == "pending",
                "status": u.review_status,
            })
        }),
        None => None,
    };
    let orders_view: Vec<Value> = orders
        .iter()
        .map(|o| {
            json!({
                "number": o.order_number, "status": o.status, "total": crate::actions::money(o.total_cents),
                "fulfillment": o.fulfillment, "payment": o.payment_method, "placed": ago(now - o.created_at_ms),
            })
        })
        .collect();
    let profile = json!({
        "first_name": contact.as_ref().and_then(|c| c.first_name.clone()),
        "locale": locale,
        "phone": revealed.phone.clone().unwrap_or_else(|| mask_phone(&item.phone)),
        "phone_revealed": revealed.phone.is_some(),
        "customer_type": customer.as_ref().map(|c| c.customer_type.as_str()),
        "verification": customer.as_ref().map(|c| c.verification_status.as_str()),
        "locked": customer.as_ref().and_then(|c| c.locked_reason).map(|r| r.as_str()),
        "recommendation_expires_on": customer.as_ref().and_then(|c| c.recommendation_expires_on.clone()),
        "date_of_birth": customer.as_ref().and_then(|c| c.date_of_birth.as_ref())
            .map(|dob| revealed.date_of_birth.clone().unwrap_or_else(|| mask_date(dob))),
        "dob_revealed": revealed.date_of_birth.is_some(),
        "recommendation_number": revealed.recommendation_number.clone(),
        "orders": orders_view,
    });
    let revealable: Vec<&str> = REVEALABLE.iter().filter(|(_, roles)| who.roles.any(roles)).map(|(f, _)| *f).collect();
    let canned = canned_replies(&assets, &locale, &item, contact.as_ref(), orders.first(), who);
    let holder_is_me = item.assignee_id.as_deref() == Some(who.user_id.as_str());
    let data = json!({
        "ticket": row(&item, queues, &who.user_id, now),
        "state": ticket,
        "open": ticket.status == "open",
        "claimable": ticket.status == "open" && item.assignee_id.is_none(),
        "held_by_me": holder_is_me,
        "can_act": ticket.status == "open" && (holder_is_me || who.roles.any(&[Role::Lead])),
        "lines": lines,
        "events": events.iter().map(|e| json!({ "kind": e.kind, "detail": e.detail, "ago": ago(now - e.created_at_ms) })).collect::<Vec<_>>(),
        "bot": bot,
        "details": detail_rows,
        "report": report,
        "document": document,
        "profile": profile,
        "revealable": revealable,
        "canned": canned,
        "notes": notes.iter().map(|n| json!({ "kind": n.kind, "body": n.body, "author": n.author, "ago": ago(now - n.created_at_ms) })).collect::<Vec<_>>(),
        "tags": assets.flows.tags,
        "queues": queues.iter().map(|q| json!({ "id": q.id, "name": q.name })).collect::<Vec<_>>(),
        "people": staff.iter().filter(|u| !u.disabled && u.user_id != who.user_id && u.roles.any(TICKET_ROLES))
            .map(|u| json!({ "id": u.user_id, "name": u.display_name })).collect::<Vec<_>>(),
        "max_chars": crate::domain::MAX_MESSAGE_CHARS,
    });
    Ok(render(state, Some(who), StatusCode::OK, "console/ticket", data))
}

/// `1985-••-••`: the year, not the day.
fn mask_date(date: &str) -> String {
    date.get(..4).map_or_else(|| "••••".to_owned(), |year| format!("{year}-••-••"))
}

/// The ticket as plain text for another team's tracker ("copy as report"); the phone masked.
fn report_text(item: &QueueItem, summary: &str, details: &[Value]) -> String {
    let mut out = format!(
        "leafdesk ticket {} ({} queue, priority {})\nStore: {}\nCustomer: {} {}\n",
        item.ticket_id,
        item.queue,
        item.priority,
        item.location_name,
        item.first_name.as_deref().unwrap_or("(no name)"),
        mask_phone(&item.phone)
    );
    if !details.is_empty() {
        out.push_str("Details:\n");
        for d in details {
            out.push_str(&format!("  {}: {}\n", d["key"].as_str().unwrap_or(""), d["value"].as_str().unwrap_or("")));
        }
    }
    out.push_str(summary);
    out
}

/// The canned replies (`templates/messages/<locale>/canned/*`) filled in for this customer, in
/// their language: the text the reply box takes.
fn canned_replies(
    assets: &crate::flows::Assets,
    locale: &str,
    item: &QueueItem,
    contact: Option<&crate::store::contacts::Contact>,
    order: Option<&crate::domain::commerce::Order>,
    who: &Staff,
) -> Vec<Value> {
    let channel = match item.channel.as_str() {
        "web" => Channel::Web,
        "voice" => Channel::Voice,
        _ => Channel::Sms,
    };
    let data = json!({
        "contact": { "first_name": contact.and_then(|c| c.first_name.clone()), "locale": locale },
        "location": { "name": item.location_name },
        "staff": { "name": who.display_name.split(" (").next().unwrap_or(&who.display_name) },
        "order": order.map(|o| json!({ "number": o.order_number, "status": o.status })),
    });
    let mut names: Vec<&str> = assets
        .templates
        .names()
        .into_iter()
        .filter_map(|n| n.strip_prefix(crate::templates::BASE_LOCALE).and_then(|n| n.strip_prefix("/canned/")))
        .map(|n| n.split('.').next().unwrap_or(n))
        .collect();
    names.dedup();
    names
        .into_iter()
        .filter_map(|name| {
            let text = assets.templates.render(&format!("canned/{name}"), locale, channel, &data).ok()?;
            Some(json!({ "name": name.replace('_', " "), "text": text }))
        })
        .collect()
}

/// A ticket form: the action, then back to the ticket (or, after a wrap-up, to the queue). A
/// refusal shows the page again with the reason.
pub async fn act(
    State(state): State<AppState>,
    Signed(who): Signed,
    Path((id, action)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, AppError> {
    let form = match Form::from(&state, &who, TICKET_ROLES, &body) {
        Ok(form) => form,
        Err(page) => return Ok(*page),
    };
    if action == "reveal" {
        return reveal(&state, &who, &id, &form).await;
    }
    let assets = state.library.get();
    let (store, queues, me) = (&state.store, &assets.flows.queues, worker(&who));
    let note = form.get("note").unwrap_or("");
    let done = match action.as_str() {
        "claim" => queue::claim(store, queues, &me, &id).await,
        "release" => queue::release(store, queues, &me, &id, note).await,
        "reply" => queue::reply(store, queues, &me, &id, form.get("text").unwrap_or("")).await.map(|_| ()),
        "note" => queue::note(store, queues, &me, &id, note).await,
        "transfer" => queue::transfer(store, queues, &me, &id, form.get("queue"), form.get("person"), note).await,
        "snooze" => {
            let minutes: i64 = form.get("minutes").and_then(|m| m.parse().ok()).unwrap_or(60).clamp(5, 7 * 24 * 60);
            queue::snooze(store, queues, &me, &id, store.now_ms() + minutes * 60_000, note).await
        }
        "resolve" | "close" => {
            let tags: Vec<String> = form.all("tag").into_iter().map(str::to_owned).collect();
            let done = WrapUp { tags: &tags, closed: action == "close", note };
            queue::wrap_up(store, queues, &assets.flows.tags, &me, &id, &done).await
        }
        _ => return Ok(problem(&state, &who, StatusCode::NOT_FOUND, "There is no such action on a ticket.")),
    };
    match done {
        Ok(()) if matches!(action.as_str(), "resolve" | "close") => Ok(Redirect::to("/console").into_response()),
        // The page clears the browser's draft of the reply only once it was sent.
        Ok(()) if action == "reply" => Ok(Redirect::to(&format!("/console/tickets/{id}?sent=1")).into_response()),
        Ok(()) => Ok(Redirect::to(&format!("/console/tickets/{id}")).into_response()),
        Err(QueueError::Store(e)) => Err(e.into()),
        Err(QueueError::NotYourQueue) => {
            Ok(render(&state, Some(&who), StatusCode::FORBIDDEN, "console/forbidden", json!({})))
        }
        Err(e) => {
            let status = match e {
                QueueError::Taken(_) | QueueError::NotOpen | QueueError::NotYours => StatusCode::CONFLICT,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            let message = format!("{}{}.", e.to_string()[..1].to_uppercase(), &e.to_string()[1..]);
            let data = json!({ "message": message, "back": format!("/console/tickets/{id}") });
            Ok(render(&state, Some(&who), status, "console/problem", data))
        }
    }
}

/// Shows one masked field for this page view, once the person gave a reason; the audit log
/// records who saw what, why, and when.
async fn reveal(state: &AppState, who: &Staff, id: &str, form: &Form) -> Result<Response, AppError> {
    let field = form.get("field").unwrap_or("");
    let Some((_, roles)) = REVEALABLE.iter().find(|(f, _)| *f == field) else {
        return Ok(problem(
            state,
            who,
            StatusCode::UNPROCESSABLE_ENTITY,
            "Choose what to reveal: phone, date of birth or recommendation number.",
        ));
    };
    if !who.roles.any(roles) {
        return Ok(render(state, Some(who), StatusCode::FORBIDDEN, "console/forbidden", json!({})));
    }
    let Some(reason) = form.get("reason").filter(|r| r.chars().count() >= 5) else {
        return Ok(problem(
            state,
            who,
            StatusCode::UNPROCESSABLE_ENTITY,
            "Say why you need to see it (a few words); it goes in the audit log.",
        ));
    };
    let assets = state.library.get();
    let Some((item, ticket)) = tickets::item(&state.store, id).await? else {
        return Ok(problem(state, who, StatusCode::NOT_FOUND, "There is no such ticket."));
    };
    if !queue::works(&who.roles, &assets.flows.queues, &item.queue) {
        return Ok(render(state, Some(who), StatusCode::FORBIDDEN, "console/forbidden", json!({})));
    }
    let customer = commerce::customer(state.commerce.as_ref(), &state.store, &ticket.contact_id).await?;
    let mut revealed = Revealed::default();
    match field {
        "phone" => revealed.phone = Some(item.phone.clone()),
        "date_of_birth" => revealed.date_of_birth = customer.as_ref().and_then(|c| c.date_of_birth.clone()),
        _ => {
            if let Some(c) = &customer {
                let mut conn = state.store.pool().acquire().await.map_err(crate::store::StoreError::from)?;
                let sealed =
                    crate::store::commerce::customers::recommendation_number_sealed(&mut conn, &c.customer_id).await?;
                let context = crate::channels::customers::recommendation_context(&c.customer_id);
                revealed.recommendation_number = sealed
                    .and_then(|s| state.uploads.sealer.open(&context, &s).ok())
                    .map(|b| String::from_utf8_lossy(&b).into_owned());
            }
        }
    }
    let entry = crate::store::audit::NewAudit {
        actor: &who.email,
        action: "pii_revealed",
        target: id,
        detail: json!({ "field": field, "reason": reason, "customer": customer.as_ref().map(|c| c.customer_id.clone()) }),
        ip: "",
    };
    crate::store::audit::append(&state.store, &entry).await?;
    ticket_page(state, who, id, &revealed).await
}
