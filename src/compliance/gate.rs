//! The send gate, applied when an outbox row is about to be delivered: may this message go to
//! this number now? A pure function of the purpose, the number's consent, the clock and the
//! recipient's timezone and state, so every case is testable with an injected clock.
//!
//! Rules: nothing goes to a number that opted out (the one opt-out confirmation is sent inline,
//! never through here); marketing needs a marketing opt-in; marketing waits for the quiet-hours
//! window in the recipient's local time (federal 8 a.m.–9 p.m., stricter states from
//! `rules/quiet_hours.json`). A held message waits for its window; a blocked one is kept with
//! its reason.

use std::collections::HashMap;
use std::sync::LazyLock;

use jiff::civil::Weekday;
use jiff::tz::TimeZone;
use jiff::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Consent {
    pub opted_out: bool,
    pub marketing_opted_in: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Send,
    /// Try again at this time (UTC milliseconds).
    Hold {
        until_ms: i64,
        reason: String,
    },
    Block {
        reason: String,
    },
}

#[derive(Debug, serde::Deserialize)]
struct Window {
    start_hour: i8,
    end_hour: i8,
    sunday_start_hour: Option<i8>,
    max_per_24h: Option<usize>,
    #[allow(dead_code)]
    source: String,
}

#[derive(Debug, serde::Deserialize)]
struct QuietHours {
    federal: Window,
    states: HashMap<String, Window>,
}

static RULES: LazyLock<QuietHours> = LazyLock::new(|| {
    serde_json::from_str(include_str!("../../rules/quiet_hours.json")).expect("rules/quiet_hours.json is valid")
});

/// 24 hours, the period of the state frequency caps.
pub const DAY_MS: i64 = 24 * 60 * 60_000;

/// The state's cap on marketing texts per 24 hours, if it sets one.
pub fn frequency_cap(state: &str) -> Option<usize> {
    RULES.states.get(state).and_then(|w| w.max_per_24h)
}

/// Decides whether a message may be sent now. `recent_marketing` holds when marketing texts
/// were sent to this number in the last 24 hours (only needed where a state caps them).
pub fn decide(
    purpose: &str,
    consent: Consent,
    now_ms: i64,
    timezone: &str,
    state: &str,
    recent_marketing: &[i64],
) -> Verdict {
    if consent.opted_out {
        return Verdict::Block { reason: "the number opted out of our messages".into() };
    }
    if purpose != "marketing" {
        return Verdict::Send;
    }
    if !consent.marketing_opted_in {
        return Verdict::Block { reason: "no marketing consent for this number".into() };
    }
    let Ok(tz) = TimeZone::get(timezone) else {
        return Verdict::Block { reason: format!("unknown timezone {timezone:?}: quiet hours cannot be checked") };
    };
    let window = RULES.states.get(state).unwrap_or(&RULES.federal);
    let Ok(now) = Timestamp::from_millisecond(now_ms) else {
        return Verdict::Block { reason: "clock out of range".into() };
    };
    let local = now.to_zoned_datetime(tz.clone());
    let start = |weekday: Weekday| match (weekday, window.sunday_start_hour) {
        (Weekday::Sunday, Some(h)) => h,
        _ => window.start_hour,
    };
    let hour = local.hour();
    if hour >= start(local.weekday()) && hour < window.end_hour {
        let in_day: Vec<i64> = recent_marketing.iter().copied().filter(|at| now_ms - at < DAY_MS).collect();
        return match window.max_per_24h {
            Some(cap) if in_day.len() >= cap => Verdict::Hold {
                until_ms: in_day.iter().min().copied().unwrap_or(now_ms) + DAY_MS,
                reason: format!("{state} allows at most {cap} marketing texts per 24 hours"),
            },
            _ => Verdict::Send,
        };
    }
    let day = if hour >= window.end_hour { local.date().tomorrow().unwrap_or(local.date()) } else { local.date() };
    let opens = day
        .at(start(day.weekday()), 0, 0, 0)
        .to_zoned_datetime(tz)
        .map(|z| z.timestamp().as_millisecond())
        .unwrap_or(now_ms + 3_600_000);
    let rule = if RULES.states.contains_key(state) {
        format!("{state} quiet hours")
    } else {
        "federal quiet hours".to_owned()
    };
    Verdict::Hold {
        until_ms: opens,
        reason: format!("{rule}: marketing is sent {}:00–{}:00 recipient time", window.start_hour, window.end_hour),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IN: Consent = Consent { opted_out: false, marketing_opted_in: true };
    const NO_MARKETING: Consent = Consent { opted_out: false, marketing_opted_in: false };
    const OUT: Consent = Consent { opted_out: true, marketing_opted_in: true };

    /// UTC milliseconds of a local wall-clock time in `tz`.
    fn at(tz: &str, date: &str, time: &str) -> i64 {
        let civil: jiff::civil::DateTime = format!("{date}T{time}").parse().unwrap();
        civil.to_zoned_datetime(TimeZone::get(tz).unwrap()).unwrap().timestamp().as_millisecond()
    }

    #[test]
    fn the_gate_matrix_purpose_consent_local_time_and_state() {
        let la = "America/Los_Angeles";
        let cases = [
            // purpose, consent, local time (2026-11-30 is a Monday), state, expected
            ("transactional", IN, "2026-11-30", "03:00", "CA", "send"),
            ("transactional", NO_MARKETING, "2026-11-30", "23:30", "CA", "send"),
            ("transactional", OUT, "2026-11-30", "12:00", "CA", "block"),
            ("marketing", OUT, "2026-11-30", "12:00", "CA", "block"),
            ("marketing", NO_MARKETING, "2026-11-30", "12:00", "CA", "block"),
            ("marketing", IN, "2026-11-30", "12:00", "CA", "send"),
            ("marketing", IN, "2026-11-30", "07:59", "CA", "hold"),
            ("marketing", IN, "2026-11-30", "08:00", "CA", "send"),
            ("marketing", IN, "2026-11-30", "20:59", "CA", "send"),
            ("marketing", IN, "2026-11-30", "21:00", "CA", "hold"),
            ("marketing", IN, "2026-11-30", "20:30", "WA", "hold"),
            ("marketing", IN, "2026-11-30", "08:30", "KY", "hold"),
            ("marketing", IN, "2026-11-29", "10:00", "TX", "hold"), // Sunday: noon in Texas
            ("marketing", IN, "2026-11-29", "12:30", "TX", "send"),
        ];
        for (purpose, consent, date, time, state, want) in cases {
            let got = match decide(purpose, consent, at(la, date, time), la, state, &[]) {
                Verdict::Send => "send",
                Verdict::Hold { .. } => "hold",
                Verdict::Block { .. } => "block",
            };
            assert_eq!(got, want, "{purpose} {consent:?} at {date} {time} in {state}");
        }
    }

    #[test]
    fn a_held_message_waits_for_the_next_window_opening_in_recipient_time() {
        let ny = "America/New_York";
        let evening = at(ny, "2026-11-30", "21:15");
        match decide("marketing", IN, evening, ny, "NY", &[]) {
            Verdict::Hold { until_ms, reason } => {
                assert_eq!(until_ms, at(ny, "2026-12-01", "08:00"));
                assert!(reason.contains("federal"), "{reason}");
            }
            other => panic!("expected a hold, got {other:?}"),
        }
        let early = at(ny, "2026-11-30", "06:00");
        assert!(
            matches!(decide("marketing", IN, early, ny, "NY", &[]), Verdict::Hold { until_ms, .. } if until_ms == at(ny, "2026-11-30", "08:00"))
        );
    }

    #[test]
    fn a_state_frequency_cap_holds_the_fourth_marketing_text_of_a_day() {
        let miami = "America/New_York";
        let noon = at(miami, "2026-11-30", "12:00");
        let sent = [noon - 5 * 3_600_000, noon - 3 * 3_600_000, noon - 3_600_000];
        match decide("marketing", IN, noon, miami, "FL", &sent) {
            Verdict::Hold { until_ms, reason } => {
                assert_eq!(until_ms, sent[0] + DAY_MS, "held until the oldest of the three leaves the 24 h window");
                assert!(reason.contains("FL allows at most 3"), "{reason}");
            }
            other => panic!("expected a hold, got {other:?}"),
        }
        assert_eq!(decide("marketing", IN, noon, miami, "FL", &sent[1..]), Verdict::Send, "two in a day is fine");
        assert_eq!(decide("marketing", IN, noon, miami, "NY", &sent), Verdict::Send, "New York sets no cap");
        let yesterday = [noon - DAY_MS - 1; 3];
        assert_eq!(decide("marketing", IN, noon, miami, "FL", &yesterday), Verdict::Send);
        assert_eq!(frequency_cap("OK"), Some(3));
    }

    #[test]
    fn an_unknown_timezone_blocks_marketing_with_a_reason() {
        assert!(
            matches!(decide("marketing", IN, 0, "Mars/Olympus", "CA", &[]), Verdict::Block { reason } if reason.contains("Mars/Olympus"))
        );
    }
}
