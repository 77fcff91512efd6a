//! Consent lists (`marketing`, `admin`): current consent filtered and counted, a number's whole
//! history with its evidence (found by the full number, typed; lists show numbers masked), the
//! evidence pack download, the filtered list as CSV (streamed, flat memory), CSV import with the
//! dry-run report shown before anything is written, and double opt-ins waiting for their YES.
//! Numbers travel in form posts, never in URLs. Marketing sees consent only: no transcripts,
//! medical data or orders.

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Multipart, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::{audit, problem, refused, render, Form, Signed};
use crate::auth::{self, Staff};
use crate::compliance::import::{self, ImportError};
use crate::domain::staff::Role;
use crate::domain::{Country, PhoneNumber};
use crate::error::AppError;
use crate::state::AppState;
use crate::store::consent_imports::STAGED_FOR_MS;
use crate::store::consent_lists::{self, Filter, SOURCE_GROUPS};
use crate::store::{consent, consent_imports, locations};

/// Who works consent lists (admins too).
pub const CONSENT_ROLES: &[Role] = &[Role::Marketing];
/// Numbers on one page of the list.
const PAGE: i64 = 100;
/// The largest consent file the browser may send: a 50 MB export of another system fits.
pub const MAX_IMPORT_BYTES: usize = 64 * 1024 * 1024;
/// Problems shown on the page for a rejected file (the count says how many more).
const SHOWN_PROBLEMS: usize = 200;

/// The list's filters as the query string gives them.
fn filter_of(q: &HashMap<String, String>) -> Filter {
    let get = |k: &str| q.get(k).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let day = |k: &str| get(k).and_then(|d| midnight_ms(&d));
    let purpose = get("purpose").filter(|p| p == consent::TRANSACTIONAL).unwrap_or_else(|| consent::MARKETING.into());
    Filter {
        purpose,
        status: get("status").filter(|s| s == "opted_in" || s == "opted_out"),
        source: get("source").filter(|s| SOURCE_GROUPS.iter().any(|(c, _, _)| c == s)),
        location: get("location"),
        or_unlinked: false,
        since_ms: day("since"),
        until_ms: day("until").map(|ms| ms + 86_400_000),
        customer_type: None,
    }
}

fn midnight_ms(day: &str) -> Option<i64> {
    let date = day.parse::<jiff::civil::Date>().ok()?;
    let midnight = jiff::civil::DateTime::from_parts(date, jiff::civil::Time::midnight());
    midnight.to_zoned_datetime(jiff::tz::TimeZone::UTC).ok().map(|z| z.timestamp().as_millisecond())
}

fn source_label(source: &str) -> &str {
    let group = consent_lists::group_of(source);
    SOURCE_GROUPS.iter().find(|(c, _, _)| *c == group).map_or(source, |(_, label, _)| label)
}

fn ago(ms: i64) -> String {
    let minutes = ms / 60_000;
    match minutes {
        m if m < 60 => format!("{m} min"),
        m if m < 48 * 60 => format!("{} h {} min", m / 60, m % 60),
        m => format!("{} days", m / (24 * 60)),
    }
}

/// `GET /console/consent`: counts, the filtered list a page at a time, pending double opt-ins,
/// and the forms to find a number and import a file.
pub async fn list(
    State(state): State<AppState>,
    Signed(who): Signed,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, AppError> {
    if let Some(page) = refused(&state, &who, CONSENT_ROLES) {
        return Ok(page);
    }
    list_page(&state, &who, &q, StatusCode::OK, json!({})).await
}

async fn list_page(
    state: &AppState,
    who: &Staff,
    q: &HashMap<String, String>,
    status: StatusCode,
    extra: Value,
) -> Result<Response, AppError> {
    let filter = filter_of(q);
    let offset = q.get("offset").and_then(|o| o.parse::<i64>().ok()).unwrap_or(0).max(0);
    let counts = consent_lists::counts(&state.store, &filter).await?;
    let entries = consent_lists::page(&state.store, &filter, PAGE, offset).await?;
    let stores = locations::list(&state.store).await?;
    let now = state.store.now_ms();
    let rows: Vec<Value> = entries
        .iter()
        .map(|e| {
            json!({
                "phone": crate::domain::mask_phone(&e.phone),
                "status": e.status,
                "since": crate::evidence::when(e.since_ms, "UTC"),
                "source": source_label(&e.source),
            })
        })
        .collect();
    let window = crate::compliance::consent::DOUBLE_OPT_IN_WINDOW_MS;
    let pending = consent::pending_requests(&state.store, filter.location.as_deref(), now - window, 200).await?;
    let pending: Vec<Value> = pending
        .iter()
        .map(|r| {
            let store = stores.iter().find(|l| l.location_id == r.location_id);
            let waited = now - r.created_at_ms;
            json!({
                "phone": crate::domain::mask_phone(&r.phone),
                "purpose": r.purpose,
                "where": source_label(&r.source),
                "store": store.map(|l| l.name.clone()),
                "asked": crate::evidence::when(r.created_at_ms, store.map_or("UTC", |l| l.timezone.as_str())),
                "age": ago(waited),
            })
        })
        .collect();
    let query = |offset: i64| -> String {
        let mut pairs: Vec<(String, String)> =
            q.iter().filter(|(k, _)| k.as_str() != "offset").map(|(k, v)| (k.clone(), v.clone())).collect();
        pairs.sort();
        let mut s = form_urlencoded::Serializer::new(String::new());
        s.extend_pairs(pairs);
        if offset > 0 {
            s.append_pair("offset", &offset.to_string());
        }
        s.finish()
    };
    let sources: Vec<Value> = SOURCE_GROUPS
        .iter()
        .map(|(code, label, _)| {
            let count = counts.by_source.iter().find(|(c, _)| c == code).map_or(0, |(_, n)| *n);
            json!({ "code": code, "label": label, "count": count, "selected": filter.source.as_deref() == Some(code) })
        })
        .collect();
    let get = |k: &str| q.get(k).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let mut data = json!({
        "counts": counts,
        "entries": rows,
        "shown_from": offset + 1,
        "shown_to": offset + i64::try_from(entries.len()).unwrap_or(0),
        "next": (i64::try_from(entries.len()).unwrap_or(0) == PAGE).then(|| format!("/console/consent?{}", query(offset + PAGE))),
        "prev": (offset > 0).then(|| format!("/console/consent?{}", query((offset - PAGE).max(0)))),
        "export_link": format!("/console/consent/export?{}", query(0)),
        "pending": pending,
        "sources": sources,
        "locations": stores.iter().map(|l| json!({
            "id": l.location_id, "name": l.name, "selected": filter.location.as_deref() == Some(l.location_id.as_str()),
        })).collect::<Vec<_>>(),
        "filter": {
            "marketing": filter.purpose == consent::MARKETING,
            "status": filter.status, "since": get("since"), "until": get("until"),
        },
        "countries": Country::codes(),
    });
    if let (Some(data), Value::Object(extra)) = (data.as_object_mut(), extra) {
        data.extend(extra);
    }
    Ok(render(state, Some(who), status, "console/consent", data))
}

/// `GET /console/consent/export`: the filtered list as CSV, read and sent a chunk at a time.
pub async fn export(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Signed(who): Signed,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, AppError> {
    if let Some(page) = refused(&state, &who, CONSENT_ROLES) {
        return Ok(page);
    }
    let filter = filter_of(&q);
    let detail = json!({ "purpose": filter.purpose, "status": filter.status, "source": filter.source,
        "location": filter.location, "since_ms": filter.since_ms, "until_ms": filter.until_ms });
    audit(&state, &who, (&headers, peer), "consent_exported", &filter.purpose, detail).await?;
    let store = state.store.clone();
    // (the next phone to start after, whether the header went out; None once done)
    let start = Some((String::new(), false));
    let body = futures_util::stream::unfold(start, move |cursor| {
        let store = store.clone();
        let filter = filter.clone();
        async move {
            let (after, header_sent) = cursor?;
            let mut out = csv::Writer::from_writer(Vec::with_capacity(512 * 1024));
            if !header_sent {
                out.write_record(crate::evidence::EXPORT_HEADER).ok()?;
            }
            let chunk = match consent_lists::export_chunk(&store, &filter, &after).await {
                Ok(chunk) => chunk,
                Err(e) => {
                    tracing::warn!(error = %e, "consent export stopped");
                    return Some((Err(std::io::Error::other("the export stopped")), None));
                }
            };
            let next = chunk.last().map(|last| (last.phone.clone(), true));
            for row in &chunk {
                out.write_record(crate::evidence::export_record(row)).ok()?;
            }
            let bytes = out.into_inner().ok()?;
            if bytes.is_empty() && next.is_none() {
                return None;
            }
            Some((Ok::<_, std::io::Error>(Bytes::from(bytes)), next))
        }
    });
    let name = format!(
        "attachment; filename=\"leafdesk-consent-{}.csv\"",
        q.get("purpose").map_or("marketing", |p| {
            if p == consent::TRANSACTIONAL {
                "transactional"
            } else {
                "marketing"
            }
        })
    );
    let headers = [
        (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
        (header::CONTENT_DISPOSITION, name),
        (header::CACHE_CONTROL, "no-store".to_owned()),
    ];
    Ok((headers, Body::from_stream(body)).into_response())
}

/// The number typed into a form, read as people write it.
fn typed_phone(form: &Form) -> Option<PhoneNumber> {
    let country = form.get("country").and_then(Country::parse).unwrap_or(Country::US);
    PhoneNumber::parse_national(form.get("phone")?, country).ok()
}

/// `POST /console/consent/number`: one number's whole consent history with its evidence.
pub async fn number(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Signed(who): Signed,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let form = match Form::from(&state, &who, CONSENT_ROLES, &body) {
        Ok(form) => form,
        Err(page) => return Ok(*page),
    };
    let Some(phone) = typed_phone(&form) else {
        let q = HashMap::new();
        let error = json!({ "search_error": "Type the whole number, e.g. (415) 555-0177 or +14155550177." });
        return list_page(&state, &who, &q, StatusCode::UNPROCESSABLE_ENTITY, error).await;
    };
    audit(&state, &who, (&headers, peer), "consent_history_viewed", &phone.masked(), json!({})).await?;
    let record = crate::evidence::gather(&state.store, &phone).await?;
    let when = |ms: i64| crate::evidence::when(ms, &record.timezone);
    let mut current: Vec<Value> = Vec::new();
    for purpose in [consent::TRANSACTIONAL, consent::MARKETING] {
        let last = record.events.iter().rev().find(|e| e.purpose == purpose);
        current.push(json!({
            "purpose": purpose,
            "status": last.map_or("no consent recorded", |e| if e.action == "opt_out" { "opted out" } else { "opted in" }),
            "since": last.map(|e| when(e.created_at_ms)),
        }));
    }
    let events: Vec<Value> = record
        .events
        .iter()
        .rev()
        .map(|e| {
            let evidence: Value = serde_json::from_str(&e.evidence).unwrap_or(Value::Null);
            json!({
                "at": when(e.created_at_ms),
                "recorded": e.recorded_at_ms.map(when),
                "purpose": e.purpose,
                "action": if e.action == "opt_out" { "opt-out" } else { "opt-in" },
                "source": source_label(&e.source),
                "evidence": evidence_lines(&evidence),
            })
        })
        .collect();
    let requests: Vec<Value> = record
        .requests
        .iter()
        .rev()
        .map(|r| {
            json!({
                "at": when(r.created_at_ms),
                "where": source_label(&r.source),
                "purpose": r.purpose,
                "version": r.disclosure_version,
                "disclosure": r.disclosure_text,
                "ip": r.ip,
                "user_agent": r.user_agent,
                "confirmed": r.confirmed_at_ms.map(when),
            })
        })
        .collect();
    let texts = record.texts.len();
    let data = json!({
        "phone": phone.to_string(),
        "timezone": record.timezone,
        "current": current,
        "events": events,
        "requests": requests,
        "texts": texts,
    });
    Ok(render(&state, Some(&who), StatusCode::OK, "console/consent_number", data))
}

/// Evidence as `label: value` lines, nested objects flattened (`request ip: 127.0.0.1`).
fn evidence_lines(evidence: &Value) -> Vec<String> {
    fn walk(prefix: &str, v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    let label = if prefix.is_empty() {
                        k.replace('_', " ")
                    } else {
                        format!("{prefix} {}", k.replace('_', " "))
                    };
                    walk(&label, v, out);
                }
            }
            Value::Null => {}
            Value::String(s) => out.push(format!("{prefix}: {s}")),
            other => out.push(format!("{prefix}: {other}")),
        }
    }
    let mut out = Vec::new();
    walk("", evidence, &mut out);
    out
}

/// `POST /console/consent/evidence`: the number's evidence pack, as a zip.
pub async fn evidence(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Signed(who): Signed,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let form = match Form::from(&state, &who, CONSENT_ROLES, &body) {
        Ok(form) => form,
        Err(page) => return Ok(*page),
    };
    let Some(phone) = typed_phone(&form) else {
        return Ok(problem(
            &state,
            &who,
            StatusCode::UNPROCESSABLE_ENTITY,
            "Type the whole number to download its evidence.",
        ));
    };
    audit(&state, &who, (&headers, peer), "consent_evidence_downloaded", &phone.masked(), json!({})).await?;
    let record = crate::evidence::gather(&state.store, &phone).await?;
    let zip = crate::evidence::build(&record, &state.pages).map_err(|e| AppError::Internal(e.into()))?;
    let headers = [
        (header::CONTENT_TYPE, "application/zip".to_owned()),
        (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{}\"", crate::evidence::file_name(&record))),
        (header::CACHE_CONTROL, "no-store".to_owned()),
    ];
    Ok((headers, zip).into_response())
}

/// The fields of the import form: the file's name and text, the country, the CSRF token.
struct Upload {
    csrf: Option<String>,
    country: Option<String>,
    file_name: String,
    bytes: Vec<u8>,
}

async fn read_upload(mut multipart: Multipart) -> Result<Upload, (StatusCode, String)> {
    let too_large = || {
        let message = format!("The file is larger than {} MB: split it and import the parts.", MAX_IMPORT_BYTES >> 20);
        (StatusCode::PAYLOAD_TOO_LARGE, message)
    };
    let broken = |e: axum::extract::multipart::MultipartError| {
        (StatusCode::BAD_REQUEST, format!("The upload did not arrive whole ({e}); try again."))
    };
    let mut upload = Upload { csrf: None, country: None, file_name: String::new(), bytes: Vec::new() };
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => return Ok(upload),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_large()),
            Err(e) => return Err(broken(e)),
        };
        let name = field.name().unwrap_or("").to_owned();
        if name == "file" {
            upload.file_name = field.file_name().unwrap_or("consent.csv").to_owned();
        }
        let mut field = field;
        let mut bytes = Vec::new();
        loop {
            match field.chunk().await {
                Ok(Some(chunk)) => {
                    bytes.extend_from_slice(&chunk);
                    if bytes.len() > MAX_IMPORT_BYTES {
                        return Err(too_large());
                    }
                }
                Ok(None) => break,
                Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_large()),
                Err(e) => return Err(broken(e)),
            }
        }
        match name.as_str() {
            "csrf" => upload.csrf = String::from_utf8(bytes).ok(),
            "country" => upload.country = String::from_utf8(bytes).ok(),
            "file" => upload.bytes = bytes,
            _ => {}
        }
    }
}

/// `POST /console/consent/import`: checks the file, shows what importing it would do, and
/// keeps it for the import the person confirms. Nothing is written to the ledger here.
pub async fn check_import(
    State(state): State<AppState>,
    Signed(who): Signed,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, AppError> {
    if let Some(page) = refused(&state, &who, CONSENT_ROLES) {
        return Ok(page);
    }
    let reject = |status, message: String| import_page(&state, &who, status, json!({ "problems": [message] }));
    let upload = match multipart {
        Ok(multipart) => match read_upload(multipart).await {
            Ok(upload) => upload,
            Err((status, message)) => return reject(status, message),
        },
        Err(_) => return reject(StatusCode::UNPROCESSABLE_ENTITY, "Choose a CSV file to import.".into()),
    };
    if !auth::csrf_ok(&who, upload.csrf.as_deref()) {
        return Ok(problem(
            &state,
            &who,
            StatusCode::FORBIDDEN,
            "This form has expired. Go back, reload the page and try again.",
        ));
    }
    if upload.bytes.is_empty() {
        return reject(StatusCode::UNPROCESSABLE_ENTITY, "Choose a CSV file to import.".into());
    }
    let country_code = upload.country.as_deref().unwrap_or("US");
    let Some(country) = Country::parse(country_code) else {
        return reject(StatusCode::UNPROCESSABLE_ENTITY, format!("Choose a country: {}.", Country::codes()));
    };
    let Ok(text) = String::from_utf8(upload.bytes) else {
        return reject(
            StatusCode::UNPROCESSABLE_ENTITY,
            "The file is not UTF-8 text. Save it as \"CSV UTF-8\" and choose it again.".into(),
        );
    };
    let checked = match import::parse(&text, import::Options { country, now_ms: state.store.now_ms() }) {
        Ok(checked) => checked,
        Err(ImportError::Rejected(problems)) => {
            let more = problems.len().saturating_sub(SHOWN_PROBLEMS);
            let shown: Vec<&String> = problems.iter().take(SHOWN_PROBLEMS).collect();
            let data = json!({ "file": upload.file_name, "problems": shown, "more": more, "bad_rows": problems.len() });
            return import_page(&state, &who, StatusCode::UNPROCESSABLE_ENTITY, data);
        }
        Err(ImportError::Store(e)) => return Err(e.into()),
    };
    let report = import::plan(&state.store, &checked).await.map_err(import_failed)?;
    let id = consent_imports::stage(&state.store, &upload.file_name, &text, country.iso, &who.email).await?;
    let data = json!({
        "file": upload.file_name, "rows": checked.rows.len(), "report": report.lines(true), "staged": id,
        "addable": report.added > 0,
    });
    import_page(&state, &who, StatusCode::OK, data)
}

fn import_failed(e: ImportError) -> AppError {
    match e {
        ImportError::Store(e) => e.into(),
        ImportError::Rejected(problems) => AppError::Internal(anyhow::anyhow!(problems.join("; "))),
    }
}

/// `POST /console/consent/import/{id}`: imports a file checked a moment ago, as its dry run said.
pub async fn confirm_import(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Signed(who): Signed,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    if let Err(page) = Form::from(&state, &who, CONSENT_ROLES, &body) {
        return Ok(*page);
    }
    let staged = consent_imports::find(&state.store, &id).await?;
    let now = state.store.now_ms();
    let Some(staged) = staged.filter(|s| s.staged_by == who.email) else {
        return Ok(problem(&state, &who, StatusCode::NOT_FOUND, "There is no such file to import. Choose it again."));
    };
    let imported_already = || problem(&state, &who, StatusCode::CONFLICT, "This file was imported already.");
    if staged.imported_at_ms.is_some() {
        return Ok(imported_already());
    }
    if now - staged.staged_at_ms > STAGED_FOR_MS {
        return Ok(problem(
            &state,
            &who,
            StatusCode::GONE,
            "This check is more than an hour old. Choose the file again to see what importing it does now.",
        ));
    }
    let country = Country::parse(&staged.country).unwrap_or(Country::US);
    let checked = import::parse(&staged.body, import::Options { country, now_ms: now }).map_err(import_failed)?;
    // Claimed before the import: a second click (or another replica) imports nothing again.
    if !consent_imports::mark_imported(&state.store, &id).await? {
        return Ok(imported_already());
    }
    let ip = crate::channels::client_ip(&headers, peer, &state.settings.trusted_proxies);
    let source = import::Source { file: &staged.file_name, by: &who.email, ip: &ip };
    let report = match import::import(&state.store, &source, &checked).await {
        Ok(report) => report,
        Err(e) => {
            consent_imports::unmark_imported(&state.store, &id).await?;
            return Err(import_failed(e));
        }
    };
    let data =
        json!({ "file": staged.file_name, "rows": checked.rows.len(), "report": report.lines(false), "done": true });
    import_page(&state, &who, StatusCode::OK, data)
}

fn import_page(state: &AppState, who: &Staff, status: StatusCode, data: Value) -> Result<Response, AppError> {
    Ok(render(state, Some(who), status, "console/consent_import", data))
}
