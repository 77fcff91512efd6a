//! Reports (`lead`, `admin`): how the bot and the team are doing over a date range and store,
//! each as a server-drawn chart, a table and a CSV download. The figures come from
//! `store::reports` (SQL on both backends); this file picks the report, lays out its table and
//! draws its chart.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::charts::{self, Kind, Series, Unit};
use super::{refused, render, Signed};
use crate::domain::staff::Role;
use crate::error::AppError;
use crate::state::AppState;
use crate::store::reports::{self, Range, TimeOf};
use crate::store::{campaigns, locations};

pub const ROLES: &[Role] = &[Role::Lead];
/// The longest range a report covers.
const MAX_DAYS: i64 = 366;
const DAY: i64 = 86_400_000;

/// The reports, in the page's order: code and title.
pub const REPORTS: &[(&str, &str)] = &[
    ("volume", "Conversations and tickets"),
    ("containment", "Bot containment"),
    ("handoffs", "Hand-offs"),
    ("times", "Response and resolution times"),
    ("sla", "SLA breaches"),
    ("misunderstood", "Misunderstood messages"),
    ("consent", "Consent growth and opt-outs"),
    ("campaigns", "Campaign results"),
];

/// A report laid out: its chart, its table (also the CSV), and a second table when it has one.
pub struct Report {
    pub chart: String,
    pub header: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
    pub extra: Option<Extra>,
}

/// A report's second table: its title, header and rows.
pub type Extra = (&'static str, Vec<&'static str>, Vec<Vec<String>>);

fn pct(part: i64, all: i64) -> f64 {
    if all == 0 {
        0.0
    } else {
        part as f64 * 100.0 / all as f64
    }
}

fn pct_text(part: i64, all: i64) -> String {
    if all == 0 {
        "–".into()
    } else {
        format!("{:.1}%", pct(part, all))
    }
}

fn minutes(ms: i64) -> f64 {
    ms as f64 / 60_000.0
}

fn minutes_text(ms: Option<i64>) -> String {
    match ms {
        None => "–".into(),
        Some(ms) if ms >= 7_200_000 => format!("{:.1} h", ms as f64 / 3_600_000.0),
        Some(ms) => format!("{:.1} min", ms as f64 / 60_000.0),
    }
}

/// The days of the range, as day numbers and labels (`Dec 1`).
fn days(r: &Range) -> Vec<(i64, String)> {
    let first = reports::day_of(r.since_ms, r.offset_ms);
    let last = reports::day_of(r.until_ms - 1, r.offset_ms);
    (first..=last).map(|d| (d, label(d))).collect()
}

fn label(day: i64) -> String {
    jiff::Timestamp::from_millisecond(day * DAY)
        .map(|t| t.to_zoned_datetime(jiff::tz::TimeZone::UTC).strftime("%b %-d").to_string())
        .unwrap_or_default()
}

fn date(day: i64) -> String {
    jiff::Timestamp::from_millisecond(day * DAY)
        .map(|t| t.to_zoned_datetime(jiff::tz::TimeZone::UTC).strftime("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// Builds one report over the range.
///
/// # Errors
/// Database failures.
pub async fn build(state: &AppState, code: &str, r: &Range, now_ms: i64) -> Result<Report, AppError> {
    let store = &state.store;
    let all_days = days(r);
    let labels: Vec<String> = all_days.iter().map(|(_, l)| l.clone()).collect();
    let per_day = |rows: &[(i64, i64, i64)], pick: fn(&(i64, i64, i64)) -> f64| -> Vec<f64> {
        all_days.iter().map(|(d, _)| rows.iter().find(|x| x.0 == *d).map_or(0.0, pick)).collect()
    };
    Ok(match code {
        "containment" => {
            let by_day = reports::outcomes_by_day(store, r).await?;
            let by_flow = reports::outcomes_by_flow(store, r).await?;
            let series = vec![Series {
                name: "contained (no person needed)".into(),
                values: all_days
                    .iter()
                    .map(|(d, _)| {
                        by_day.iter().find(|x| x.0 == *d && x.1 > 0).map_or(f64::NAN, |x| pct(x.1 - x.2, x.1))
                    })
                    .collect(),
            }];
            Report {
                chart: charts::render("Bot containment per day", Kind::Lines, &labels, &series, Unit::Percent),
                header: vec!["flow", "runs", "handed to a person", "contained"],
                rows: by_flow
                    .iter()
                    .map(|f| {
                        vec![
                            f.flow_id.clone(),
                            f.runs.to_string(),
                            f.handed_off.to_string(),
                            pct_text(f.runs - f.handed_off, f.runs),
                        ]
                    })
                    .collect(),
                extra: None,
            }
        }
        "handoffs" => {
            let by_flow = reports::outcomes_by_flow(store, r).await?;
            let reasons = reports::handoff_reasons(store, r).await?;
            let flows: Vec<String> = by_flow.iter().map(|f| f.flow_id.clone()).collect();
            let series = vec![Series {
                name: "hand-off rate".into(),
                values: by_flow.iter().map(|f| pct(f.handed_off, f.runs)).collect(),
            }];
            Report {
                chart: charts::render("Hand-off rate by flow", Kind::Bars, &flows, &series, Unit::Percent),
                header: vec!["flow", "runs", "handed off", "hand-off rate"],
                rows: by_flow
                    .iter()
                    .map(|f| {
                        vec![
                            f.flow_id.clone(),
                            f.runs.to_string(),
                            f.handed_off.to_string(),
                            pct_text(f.handed_off, f.runs),
                        ]
                    })
                    .collect(),
                extra: Some((
                    "Reasons",
                    vec!["queue", "reason", "tickets"],
                    reasons.into_iter().map(|(q, reason, n)| vec![q, reason, n.to_string()]).collect(),
                )),
            }
        }
        "times" => {
            let first = reports::times(store, r, TimeOf::FirstResponse).await?;
            let done = reports::times(store, r, TimeOf::Resolution).await?;
            let mut queues: Vec<String> = first.iter().chain(&done).map(|t| t.queue.clone()).collect();
            queues.sort();
            queues.dedup();
            let get = |list: &[reports::Times], q: &str| list.iter().find(|t| t.queue == q).cloned();
            let series = vec![
                Series {
                    name: "first response, median".into(),
                    values: queues.iter().map(|q| get(&first, q).map_or(0.0, |t| minutes(t.median_ms))).collect(),
                },
                Series {
                    name: "first response, p90".into(),
                    values: queues.iter().map(|q| get(&first, q).map_or(0.0, |t| minutes(t.p90_ms))).collect(),
                },
                Series {
                    name: "resolution, median".into(),
                    values: queues.iter().map(|q| get(&done, q).map_or(0.0, |t| minutes(t.median_ms))).collect(),
                },
                Series {
                    name: "resolution, p90".into(),
                    values: queues.iter().map(|q| get(&done, q).map_or(0.0, |t| minutes(t.p90_ms))).collect(),
                },
            ];
            Report {
                chart: charts::render("Times by queue", Kind::Bars, &queues, &series, Unit::Minutes),
                header: vec![
                    "queue",
                    "answered",
                    "first response median",
                    "first response p90",
                    "resolved",
                    "resolution median",
                    "resolution p90",
                ],
                rows: queues
                    .iter()
                    .map(|q| {
                        let (f, d) = (get(&first, q), get(&done, q));
                        vec![
                            q.clone(),
                            f.as_ref().map_or(0, |t| t.tickets).to_string(),
                            minutes_text(f.as_ref().map(|t| t.median_ms)),
                            minutes_text(f.as_ref().map(|t| t.p90_ms)),
                            d.as_ref().map_or(0, |t| t.tickets).to_string(),
                            minutes_text(d.as_ref().map(|t| t.median_ms)),
                            minutes_text(d.as_ref().map(|t| t.p90_ms)),
                        ]
                    })
                    .collect(),
                extra: None,
            }
        }
        "sla" => {
            let allowed: Vec<(String, i64, i64)> = state
                .library
                .get()
                .flows
                .queues
                .iter()
                .flat_map(|q| {
                    q.sla_minutes.keys().filter_map(|p| Some((q.id.clone(), i64::from(*p), q.sla_ms(i64::from(*p))?)))
                })
                .collect();
            let rows = reports::sla_breaches(store, r, &allowed, now_ms).await?;
            let series = vec![Series {
                name: "tickets past their time".into(),
                values: all_days
                    .iter()
                    .map(|(d, _)| rows.iter().filter(|x| x.0 == *d).map(|x| x.2 as f64).sum())
                    .collect(),
            }];
            Report {
                chart: charts::render("SLA breaches per day", Kind::Bars, &labels, &series, Unit::Count),
                header: vec!["day", "queue", "breaches", "tickets", "breach rate"],
                rows: rows
                    .iter()
                    .map(|(d, q, b, n)| vec![date(*d), q.clone(), b.to_string(), n.to_string(), pct_text(*b, *n)])
                    .collect(),
                extra: None,
            }
        }
        "misunderstood" => {
            let rows = reports::misunderstood(store, r).await?;
            let series = vec![Series {
                name: "misunderstood".into(),
                values: all_days
                    .iter()
                    .map(|(d, _)| rows.iter().find(|x| x.0 == *d && x.1 > 0).map_or(f64::NAN, |x| pct(x.2, x.1)))
                    .collect(),
            }];
            Report {
                chart: charts::render("Misunderstood messages per day", Kind::Lines, &labels, &series, Unit::Percent),
                header: vec!["day", "customer messages", "misunderstood", "rate"],
                rows: rows
                    .iter()
                    .map(|(d, m, x)| vec![date(*d), m.to_string(), x.to_string(), pct_text(*x, *m)])
                    .collect(),
                extra: None,
            }
        }
        "consent" => {
            let rows = reports::consent_by_day(store, r).await?;
            let count = |d: i64, action: &str| -> f64 {
                rows.iter().filter(|x| x.0 == d && x.1 == action).map(|x| x.3 as f64).sum()
            };
            let series = vec![
                Series { name: "opt-ins".into(), values: all_days.iter().map(|(d, _)| count(*d, "opt_in")).collect() },
                Series {
                    name: "opt-outs".into(),
                    values: all_days.iter().map(|(d, _)| count(*d, "opt_out")).collect(),
                },
            ];
            Report {
                chart: charts::render("Consent per day", Kind::Bars, &labels, &series, Unit::Count),
                header: vec!["day", "event", "source", "numbers"],
                rows: rows.iter().map(|(d, a, s, n)| vec![date(*d), a.clone(), s.clone(), n.to_string()]).collect(),
                extra: None,
            }
        }
        "campaigns" => {
            let mut names = Vec::new();
            let (mut sent, mut delivered, mut out) = (Vec::new(), Vec::new(), Vec::new());
            let mut rows = Vec::new();
            for c in campaigns::list(store, 200).await? {
                let Some(started) = c.started_at_ms else { continue };
                if started < r.since_ms
                    || started >= r.until_ms
                    || r.location.as_ref().is_some_and(|l| *l != c.location_id)
                {
                    continue;
                }
                let p = campaigns::progress(store, &c.campaign_id).await?;
                names.push(c.name.clone());
                sent.push(p.sent as f64);
                delivered.push(p.delivered as f64);
                out.push(p.opted_out_after as f64);
                rows.push(vec![
                    c.name.clone(),
                    c.status.clone(),
                    date(reports::day_of(started, r.offset_ms)),
                    p.planned.to_string(),
                    p.sent.to_string(),
                    p.delivered.to_string(),
                    p.held.to_string(),
                    p.blocked.to_string(),
                    (p.failed + p.undelivered).to_string(),
                    p.opted_out_after.to_string(),
                    pct_text(p.opted_out_after, p.sent),
                ]);
            }
            let series = vec![
                Series { name: "sent".into(), values: sent },
                Series { name: "delivered".into(), values: delivered },
                Series { name: "opted out after".into(), values: out },
            ];
            Report {
                chart: charts::render("Campaign results", Kind::Bars, &names, &series, Unit::Count),
                header: vec![
                    "campaign",
                    "status",
                    "started",
                    "recipients",
                    "sent",
                    "delivered",
                    "held",
                    "blocked",
                    "failed or undelivered",
                    "opted out after",
                    "opt-out rate",
                ],
                rows,
                extra: None,
            }
        }
        _ => {
            let rows = reports::volume(store, r).await?;
            let tags = reports::tickets_by_tag(store, r).await?;
            let series = vec![
                Series { name: "conversations".into(), values: per_day(&rows, |x| x.1 as f64) },
                Series { name: "tickets".into(), values: per_day(&rows, |x| x.2 as f64) },
            ];
            Report {
                chart: charts::render("Conversations and tickets per day", Kind::Bars, &labels, &series, Unit::Count),
                header: vec!["day", "conversations", "tickets"],
                rows: rows.iter().map(|(d, c, t)| vec![date(*d), c.to_string(), t.to_string()]).collect(),
                extra: Some((
                    "Tickets by tag",
                    vec!["tag", "tickets", "still open"],
                    tags.into_iter().map(|(t, n, o)| vec![t, n.to_string(), o.to_string()]).collect(),
                )),
            }
        }
    })
}

/// `GET /console/reports`: `report`, `since`, `until` (store dates), `location`; `format=csv`
/// downloads the report's table.
pub async fn show(
    State(state): State<AppState>,
    Signed(who): Signed,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, AppError> {
    if let Some(page) = refused(&state, &who, ROLES) {
        return Ok(page);
    }
    let get = |k: &str| q.get(k).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let code = get("report").filter(|c| REPORTS.iter().any(|(r, _)| r == c)).unwrap_or_else(|| "volume".into());
    let stores = locations::list(&state.store).await?;
    let location = get("location").filter(|l| stores.iter().any(|s| s.location_id == *l));
    let tz_name = location
        .as_ref()
        .and_then(|l| stores.iter().find(|s| s.location_id == *l))
        .or(stores.first())
        .map_or("UTC", |l| l.timezone.as_str());
    let tz = jiff::tz::TimeZone::get(tz_name).unwrap_or(jiff::tz::TimeZone::UTC);
    let now = state.store.now_ms();
    let now_ts = jiff::Timestamp::from_millisecond(now).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let today = now_ts.to_zoned_datetime(tz.clone()).date();
    let parse_day = |k: &str| get(k).and_then(|d| d.parse::<jiff::civil::Date>().ok());
    let until_day = parse_day("until").unwrap_or(today);
    let since_day =
        parse_day("since").unwrap_or_else(|| until_day.checked_sub(jiff::Span::new().days(27)).unwrap_or(until_day));
    let start = |d: jiff::civil::Date| {
        jiff::civil::DateTime::from_parts(d, jiff::civil::Time::midnight())
            .to_zoned_datetime(tz.clone())
            .map(|z| z.timestamp().as_millisecond())
            .unwrap_or(now)
    };
    let since_ms = start(since_day);
    let until_ms = start(until_day.tomorrow().unwrap_or(until_day));
    if until_ms <= since_ms || until_ms - since_ms > MAX_DAYS * DAY {
        let message = format!("Choose a range of 1 to {MAX_DAYS} days, the first day before the last.");
        return Ok(super::problem(&state, &who, StatusCode::UNPROCESSABLE_ENTITY, &message));
    }
    let offset_ms = now_ts.to_zoned_datetime(tz).offset().seconds() as i64 * 1000;
    let range = Range { since_ms, until_ms, location: location.clone(), offset_ms };
    let report = build(&state, &code, &range, now).await?;
    let title = REPORTS.iter().find(|(c, _)| *c == code).map_or("", |(_, t)| *t);
    if get("format").as_deref() == Some("csv") {
        let mut out = csv::Writer::from_writer(Vec::new());
        out.write_record(&report.header).map_err(|e| AppError::Internal(e.into()))?;
        for row in &report.rows {
            out.write_record(row).map_err(|e| AppError::Internal(e.into()))?;
        }
        let bytes = out.into_inner().map_err(|e| AppError::Internal(anyhow::anyhow!("{e}")))?;
        let name = format!("attachment; filename=\"leafdesk-{code}-{since_day}-{until_day}.csv\"");
        let headers = [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, name),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ];
        return Ok((headers, bytes).into_response());
    }
    let query = |report: &str, csv: bool| {
        let mut s = form_urlencoded::Serializer::new(String::new());
        s.append_pair("report", report)
            .append_pair("since", &since_day.to_string())
            .append_pair("until", &until_day.to_string());
        if let Some(l) = &location {
            s.append_pair("location", l);
        }
        if csv {
            s.append_pair("format", "csv");
        }
        s.finish()
    };
    let data = json!({
        "title": title,
        "code": code,
        "reports": REPORTS.iter().map(|(c, t)| json!({ "code": c, "title": t, "link": format!("/console/reports?{}", query(c, false)), "current": *c == code })).collect::<Vec<_>>(),
        "chart": report.chart,
        "header": report.header,
        "rows": report.rows,
        "extra": report.extra.map(|(t, h, rows)| json!({ "title": t, "header": h, "rows": rows })),
        "csv_link": format!("/console/reports?{}", query(&code, true)),
        "since": since_day.to_string(),
        "until": until_day.to_string(),
        "timezone": tz_name,
        "locations": stores.iter().map(|l| json!({ "id": l.location_id, "name": l.name, "selected": location.as_deref() == Some(l.location_id.as_str()) })).collect::<Vec<_>>(),
    });
    Ok(render(&state, Some(&who), StatusCode::OK, "console/reports", data))
}
