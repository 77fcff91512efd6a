//! Pickup times in the store's local time: the next slot the store can hand an order over,
//! reading a time a customer typed ("tomorrow 5pm", "hoy a las 17:30"). Saying one back is the templates' `{{when}}` helper.
//!
//! Owns these pure calculations; the actions bring the clock, timezone and store hours.

use std::sync::LazyLock;

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ZonedDateTime as Zoned};
use regex::Regex;

/// 60 minutes: the time a store needs to pull and pack an order.
const PREP_MINUTES: i64 = 60;

pub use crate::domain::commerce::Hours;

fn zoned(ms: i64, tz: &TimeZone) -> Zoned {
    Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH).to_zoned_datetime(tz.clone())
}

fn at(date: Date, hour: i8, minute: i8, tz: &TimeZone) -> Option<i64> {
    let dt = DateTime::from_parts(date, Time::new(hour, minute, 0, 0).ok()?);
    Some(dt.to_zoned_datetime(tz.clone()).ok()?.timestamp().as_millisecond())
}

/// The earliest pickup at least [`PREP_MINUTES`] from now, on the half hour, within hours.
pub fn next_pickup(now_ms: i64, tz: &TimeZone, hours: Hours) -> i64 {
    let ready = zoned(now_ms + PREP_MINUTES * 60_000, tz);
    let (mut date, mut hour, mut minute) = (ready.date(), ready.hour(), if ready.minute() == 0 { 0 } else { 30 });
    if ready.minute() > 30 {
        hour += 1;
        minute = 0;
    }
    if hour < hours.open {
        (hour, minute) = (hours.open, 0);
    } else if hour >= hours.close {
        date = date.tomorrow().unwrap_or(date);
        (hour, minute) = (hours.open, 0);
    }
    at(date, hour, minute, tz).unwrap_or(now_ms)
}

/// Why a requested time cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PickupError {
    Unclear,
    Past,
    OutsideHours,
}

static WHEN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?ix)
        (?P<day>today|tonight|tomorrow|hoy|esta\s+noche|ma[ñn]ana
            |monday|tuesday|wednesday|thursday|friday|saturday|sunday
            |lunes|martes|mi[eé]rcoles|jueves|viernes|s[aá]bado|domingo)?
        \D*?
        (?P<hour>\d{1,2})(?::(?P<minute>\d{2}))?\s*(?P<ampm>a\.?m\.?|p\.?m\.?)?",
    )
    .expect("pickup time pattern compiles")
});

/// Weekdays as customers name them, Monday first (jiff's `to_monday_zero_offset`).
const WEEKDAYS: [&[&str]; 7] = [
    &["monday", "lunes"],
    &["tuesday", "martes"],
    &["wednesday", "miercoles", "miércoles"],
    &["thursday", "jueves"],
    &["friday", "viernes"],
    &["saturday", "sabado", "sábado"],
    &["sunday", "domingo"],
];

/// The date `day` (as matched) names from `today`: tomorrow, the next such weekday (today when
/// it is today), else today.
fn named_day(day: Option<&str>, today: Date) -> Date {
    let Some(day) = day else { return today };
    if ["tomorrow", "mañana", "manana"].contains(&day) {
        return today.tomorrow().unwrap_or(today);
    }
    let Some(target) = WEEKDAYS.iter().position(|names| names.contains(&day)) else { return today };
    let ahead = (target as i64 - i64::from(today.weekday().to_monday_zero_offset())).rem_euclid(7);
    today.checked_add(jiff::Span::new().days(ahead)).unwrap_or(today)
}

/// Reads "5pm", "tomorrow at 11:30 am", "friday 12:00", "mañana a las 17:00" as a time at the
/// store.
///
/// # Errors
/// `Unclear` when no time is found, `Past` for a time already gone, `OutsideHours` when the
/// store is closed then.
pub fn parse_pickup(text: &str, now_ms: i64, tz: &TimeZone, hours: Hours) -> Result<i64, PickupError> {
    let caps = WHEN.captures(text).ok_or(PickupError::Unclear)?;
    let mut hour: i8 = caps["hour"].parse().map_err(|_| PickupError::Unclear)?;
    let minute: i8 = caps.name("minute").map_or(Ok(0), |m| m.as_str().parse()).map_err(|_| PickupError::Unclear)?;
    let ampm = caps.name("ampm").map(|m| m.as_str().to_ascii_lowercase());
    match ampm.as_deref().map(|m| m.starts_with('p')) {
        Some(true) if hour < 12 => hour += 12,
        Some(false) if hour == 12 => hour = 0,
        // No am/pm: "5" at a store open 9 to 21 means 5 pm.
        None if hour < hours.open && hour + 12 < 24 => hour += 12,
        _ => {}
    }
    if hour > 23 || minute > 59 {
        return Err(PickupError::Unclear);
    }
    let today = zoned(now_ms, tz).date();
    let day = caps.name("day").map(|d| d.as_str().to_lowercase());
    let date = named_day(day.as_deref(), today);
    if hour < hours.open || (hour, minute) > (hours.close - 1, 30) {
        return Err(PickupError::OutsideHours);
    }
    let ms = at(date, hour, minute, tz).ok_or(PickupError::Unclear)?;
    if ms < now_ms + 15 * 60_000 {
        return Err(PickupError::Past);
    }
    Ok(ms)
}

/// The start and end (UTC ms) of the local day containing `now_ms`.
pub fn local_day(now_ms: i64, tz: &TimeZone) -> (i64, i64) {
    let today = zoned(now_ms, tz).date();
    let start = today.to_zoned_datetime(tz.clone()).map_or(now_ms, |z| z.timestamp().as_millisecond());
    let end = today
        .tomorrow()
        .ok()
        .and_then(|d| d.to_zoned_datetime(tz.clone()).ok())
        .map_or(start + 86_400_000, |z| z.timestamp().as_millisecond());
    (start, end)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOURS: Hours = Hours { open: 9, close: 21 };

    fn la() -> TimeZone {
        TimeZone::get("America/Los_Angeles").unwrap()
    }

    fn ms(local: &str) -> i64 {
        let dt: DateTime = local.parse().unwrap();
        dt.to_zoned_datetime(la()).unwrap().timestamp().as_millisecond()
    }

    #[test]
    fn the_next_pickup_is_an_hour_out_on_the_half_hour_within_store_hours() {
        for (now, want) in [
            ("2026-11-28T10:10", "2026-11-28T11:30"),
            ("2026-11-28T10:40", "2026-11-28T12:00"),
            ("2026-11-28T06:00", "2026-11-28T09:00"),
            ("2026-11-28T20:30", "2026-11-29T09:00"),
        ] {
            assert_eq!(next_pickup(ms(now), &la(), HOURS), ms(want), "now {now}");
        }
    }

    #[test]
    fn typed_pickup_times_are_read_in_store_time() {
        let now = ms("2026-11-28T10:00");
        for (text, want) in [
            ("5pm", "2026-11-28T17:00"),
            ("today at 5:30 PM", "2026-11-28T17:30"),
            ("tomorrow 11am", "2026-11-29T11:00"),
            ("can I come at 4", "2026-11-28T16:00"),
            ("mañana a las 17:00", "2026-11-29T17:00"),
            ("12pm", "2026-11-28T12:00"),
            // 2026-11-28 is a Saturday.
            ("friday 12:00", "2026-12-04T12:00"),
            ("martes a las 3", "2026-12-01T15:00"),
            ("saturday 18:00", "2026-11-28T18:00"),
            ("sábado 18:00", "2026-11-28T18:00"),
        ] {
            assert_eq!(parse_pickup(text, now, &la(), HOURS), Ok(ms(want)), "{text:?}");
        }
    }

    #[test]
    fn unusable_pickup_times_say_why() {
        let now = ms("2026-11-28T10:00");
        for (text, want) in [
            ("whenever", PickupError::Unclear),
            ("10pm", PickupError::OutsideHours),
            ("tomorrow 7am", PickupError::OutsideHours),
            ("9am", PickupError::Past),
            ("25:00", PickupError::Unclear),
        ] {
            assert_eq!(parse_pickup(text, now, &la(), HOURS), Err(want), "{text:?}");
        }
    }
}
