//! The send gate, applied when an outbox row is about to be delivered: may this message go to
//! this number now? A pure function of the purpose, the number's consent, the clock and where the
//! recipient is, so every case is testable with an injected clock.
//!
//! Rules: nothing goes to a number that opted out (the one opt-out confirmation is sent inline,
//! never through here); marketing needs a marketing opt-in; marketing waits for the quiet-hours
//! window in the recipient's local time (federal 8 a.m.–9 p.m., stricter states from
//! `rules/quiet_hours.json`). A held message waits for its window; a blocked one is kept with
//! its reason.
//!
//! Where the recipient is ([`Recipient::locate`]): the contact's own timezone when the platform
//! gave one, else every zone of the number's area code (`compliance::area_codes`), else the
//! store's; the rules of the contact's state and of the area code's state (Florida presumes a
//! call to a Florida area code reaches a person in Florida: Fla. Stat. 501.059 as amended by
//! CS/SB 1120 (2021), https://flsenate.gov/Session/Bill/2021/1120/BillText/er/HTML), else the
//! store's. Every zone × state pair must be inside its window: the most restrictive reading.

use std::collections::HashMap;
use std::sync::LazyLock;

use jiff::civil::Weekday;
use jiff::tz::TimeZone;
use jiff::Timestamp;

use super::area_codes;

pub use crate::domain::Consent;

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

/// Where a message's recipient is, as far as leafdesk knows: the zones their local time may be
/// in, and the states whose rules apply.
#[derive(Debug, Clone)]
pub struct Recipient {
    pub zones: Vec<TimeZone>,
    pub states: Vec<String>,
}

impl Recipient {
    /// The recipient of `phone` (see the module doc for the order). A contact timezone that is
    /// not a known IANA name is ignored, never trusted.
    pub fn locate(
        phone: &str,
        contact_state: Option<&str>,
        contact_timezone: Option<&str>,
        store_state: &str,
        store_timezone: &str,
    ) -> Self {
        let area = area_codes::lookup(phone);
        let zones = match (contact_timezone.and_then(|tz| TimeZone::get(tz).ok()), area) {
            (Some(own), _) => vec![own],
            (None, Some(area)) => area.zones.clone(),
            (None, None) => TimeZone::get(store_timezone).into_iter().collect(),
        };
        let mut states: Vec<String> =
            contact_state.into_iter().chain(area.map(|a| a.state.as_str())).map(str::to_owned).collect();
        states.dedup();
        if states.is_empty() {
            states.push(store_state.to_owned());
        }
        Self { zones, states }
    }
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

impl Window {
    fn start(&self, weekday: Weekday) -> i8 {
        match (weekday, self.sunday_start_hour) {
            (Weekday::Sunday, Some(h)) => h,
            _ => self.start_hour,
        }
    }

    /// Whether `at` is inside the window in `tz`, else when it next opens (UTC milliseconds).
    fn next_open(&self, tz: &TimeZone, at_ms: i64) -> Option<i64> {
        let local = Timestamp::from_millisecond(at_ms).ok()?.to_zoned_datetime(tz.clone());
        let hour = local.hour();
        if hour >= self.start(local.weekday()) && hour < self.end_hour {
            return Some(at_ms);
        }
        let day = if hour >= self.end_hour { local.date().tomorrow().ok()? } else { local.date() };
        let opens = day.at(self.start(day.weekday()), 0, 0, 0).to_zoned_datetime(tz.clone()).ok()?;
        Some(opens.timestamp().as_millisecond())
    }
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

/// The strictest cap on marketing texts per 24 hours among the recipient's states, if any sets one.
pub fn frequency_cap(recipient: &Recipient) -> Option<(usize, &str)> {
    recipient
        .states
        .iter()
        .filter_map(|s| RULES.states.get(s).and_then(|w| w.max_per_24h).map(|cap| (cap, s.as_str())))
        .min_by_key(|(cap, _)| *cap)
}

/// Decides whether a message may be sent now. `recent_marketing` holds when marketing texts
/// were sent to this number in the last 24 hours (only needed where a state caps them).
pub fn decide(
    purpose: &str,
    consent: Consent,
    now_ms: i64,
    recipient: &Recipient,
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
    if recipient.zones.is_empty() {
        return Verdict::Block { reason: "the recipient's timezone is unknown: quiet hours cannot be checked".into() };
    }
    let windows: Vec<(&str, &Window)> = recipient
        .states
        .iter()
        .map(|s| RULES.states.get(s).map_or(("federal", &RULES.federal), |w| (s.as_str(), w)))
        .collect();
    // The earliest time at or after now when every zone × window pair is open at once.
    let mut at_ms = now_ms;
    let mut closed_by = None;
    for _ in 0..16 {
        let mut latest = at_ms;
        for (rule, window) in &windows {
            for tz in &recipient.zones {
                match window.next_open(tz, at_ms) {
                    Some(open) if open > latest => (latest, closed_by) = (open, Some((*rule, *window))),
                    Some(_) => {}
                    None => return Verdict::Block { reason: "clock out of range".into() },
                }
            }
        }
        if latest == at_ms {
            break;
        }
        at_ms = latest;
    }
    if at_ms > now_ms {
        let (rule, window) = closed_by.unwrap_or(("federal", &RULES.federal));
        let rule = if rule == "federal" { "federal quiet hours".to_owned() } else { format!("{rule} quiet hours") };
        return Verdict::Hold {
            until_ms: at_ms,
            reason: format!("{rule}: marketing is sent {}:00–{}:00 recipient time", window.start_hour, window.end_hour),
        };
    }
    match frequency_cap(recipient) {
        Some((cap, state)) => {
            let in_day: Vec<i64> = recent_marketing.iter().copied().filter(|at| now_ms - at < DAY_MS).collect();
            if in_day.len() >= cap {
                return Verdict::Hold {
                    until_ms: in_day.iter().min().copied().unwrap_or(now_ms) + DAY_MS,
                    reason: format!("{state} allows at most {cap} marketing texts per 24 hours"),
                };
            }
            Verdict::Send
        }
        None => Verdict::Send,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IN: Consent = Consent { opted_out: false, marketing_opted_in: true };
    const NO_MARKETING: Consent = Consent { opted_out: false, marketing_opted_in: false };
    const OUT: Consent = Consent { opted_out: true, marketing_opted_in: true };

    /// A recipient in one zone under one state's rules.
    fn r(tz: &str, state: &str) -> Recipient {
        Recipient { zones: vec![TimeZone::get(tz).unwrap()], states: vec![state.to_owned()] }
    }

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
            let got = match decide(purpose, consent, at(la, date, time), &r(la, state), &[]) {
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
        match decide("marketing", IN, evening, &r(ny, "NY"), &[]) {
            Verdict::Hold { until_ms, reason } => {
                assert_eq!(until_ms, at(ny, "2026-12-01", "08:00"));
                assert!(reason.contains("federal"), "{reason}");
            }
            other => panic!("expected a hold, got {other:?}"),
        }
        let early = at(ny, "2026-11-30", "06:00");
        assert!(
            matches!(decide("marketing", IN, early, &r(ny, "NY"), &[]), Verdict::Hold { until_ms, .. } if until_ms == at(ny, "2026-11-30", "08:00"))
        );
    }

    #[test]
    fn a_state_frequency_cap_holds_the_fourth_marketing_text_of_a_day() {
        let miami = "America/New_York";
        let noon = at(miami, "2026-11-30", "12:00");
        let sent = [noon - 5 * 3_600_000, noon - 3 * 3_600_000, noon - 3_600_000];
        match decide("marketing", IN, noon, &r(miami, "FL"), &sent) {
            Verdict::Hold { until_ms, reason } => {
                assert_eq!(until_ms, sent[0] + DAY_MS, "held until the oldest of the three leaves the 24 h window");
                assert!(reason.contains("FL allows at most 3"), "{reason}");
            }
            other => panic!("expected a hold, got {other:?}"),
        }
        assert_eq!(decide("marketing", IN, noon, &r(miami, "FL"), &sent[1..]), Verdict::Send, "two in a day is fine");
        assert_eq!(decide("marketing", IN, noon, &r(miami, "NY"), &sent), Verdict::Send, "New York sets no cap");
        let yesterday = [noon - DAY_MS - 1; 3];
        assert_eq!(decide("marketing", IN, noon, &r(miami, "FL"), &yesterday), Verdict::Send);
        assert_eq!(frequency_cap(&r(miami, "OK")), Some((3, "OK")));
    }

    #[test]
    fn an_unknown_timezone_blocks_marketing_with_a_reason() {
        let nowhere = Recipient { zones: vec![], states: vec!["CA".into()] };
        assert!(
            matches!(decide("marketing", IN, 0, &nowhere, &[]), Verdict::Block { reason } if reason.contains("timezone"))
        );
    }

    #[test]
    fn the_recipient_is_located_by_contact_then_area_code_then_store() {
        let names = |r: &Recipient| r.zones.iter().map(|z| z.iana_name().unwrap().to_owned()).collect::<Vec<_>>();
        let store = ("CA", "America/Los_Angeles");
        // A Miami number, nothing else known: Florida's rules in Eastern time.
        let miami = Recipient::locate("+13055550100", None, None, store.0, store.1);
        assert_eq!((names(&miami), miami.states.clone()), (vec!["America/New_York".into()], vec!["FL".into()]));
        // The platform says the customer lives in Los Angeles: their clock, both states' rules.
        let moved = Recipient::locate("+13055550100", Some("CA"), Some("America/Los_Angeles"), store.0, store.1);
        assert_eq!((names(&moved), moved.states.clone()), (vec![store.1.into()], vec!["CA".into(), "FL".into()]));
        // A number with no US area code: the store's place.
        let unknown = Recipient::locate("+15555550100", None, None, store.0, store.1);
        assert_eq!((names(&unknown), unknown.states), (vec![store.1.into()], vec!["CA".into()]));
        // A contact timezone that is no IANA name is not trusted.
        let bad = Recipient::locate("+13055550100", None, Some("Mars/Olympus"), store.0, store.1);
        assert_eq!(names(&bad), vec!["America/New_York"]);
    }

    #[test]
    fn quiet_hours_follow_the_area_code_when_the_store_is_elsewhere() {
        // A California store texting a Miami number at 5:30 p.m. Pacific: 8:30 p.m. in Miami,
        // after Florida's 8 p.m. close. Held until 8 a.m. Eastern.
        let la = "America/Los_Angeles";
        let miami = Recipient::locate("+13055550100", None, None, "CA", la);
        match decide("marketing", IN, at(la, "2026-11-30", "17:30"), &miami, &[]) {
            Verdict::Hold { until_ms, reason } => {
                assert_eq!(until_ms, at("America/New_York", "2026-12-01", "08:00"));
                assert!(reason.starts_with("FL quiet hours"), "{reason}");
            }
            other => panic!("expected a hold, got {other:?}"),
        }
        // The same number whose owner lives in Los Angeles: 5:30 p.m. there is fine.
        let moved = Recipient::locate("+13055550100", Some("CA"), Some(la), "CA", la);
        assert_eq!(decide("marketing", IN, at(la, "2026-11-30", "17:30"), &moved, &[]), Verdict::Send);
        // ...but Florida's cap follows the Florida number.
        let noon = at(la, "2026-11-30", "12:00");
        assert!(matches!(decide("marketing", IN, noon, &moved, &[noon - 1, noon - 2, noon - 3]), Verdict::Hold { .. }));
    }

    #[test]
    fn an_area_code_spanning_two_zones_waits_for_both() {
        // 219 (Indiana) is Eastern and Central. 8:30 a.m. Eastern is 7:30 a.m. Central: held
        // until 8 a.m. Central. 8:30 p.m. Central is 9:30 p.m. Eastern: held until morning.
        let indiana = Recipient::locate("+12195550100", None, None, "CA", "America/Los_Angeles");
        let (ny, chicago) = ("America/New_York", "America/Chicago");
        assert!(matches!(
            decide("marketing", IN, at(ny, "2026-11-30", "08:30"), &indiana, &[]),
            Verdict::Hold { until_ms, .. } if until_ms == at(chicago, "2026-11-30", "08:00")
        ));
        assert_eq!(decide("marketing", IN, at(chicago, "2026-11-30", "12:00"), &indiana, &[]), Verdict::Send);
        assert!(matches!(
            decide("marketing", IN, at(chicago, "2026-11-30", "20:30"), &indiana, &[]),
            Verdict::Hold { until_ms, .. } if until_ms == at(chicago, "2026-12-01", "08:00")
        ));
        // Arizona in summer: Phoenix 8:00 a.m. is Navajo Nation 9:00 a.m.; 8:30 p.m. Phoenix is
        // 9:30 p.m. on the Navajo Nation, closed.
        let phoenix = Recipient::locate("+16025550100", None, None, "CA", "America/Los_Angeles");
        let az = "America/Phoenix";
        assert_eq!(decide("marketing", IN, at(az, "2026-07-01", "08:00"), &phoenix, &[]), Verdict::Send);
        assert!(matches!(decide("marketing", IN, at(az, "2026-07-01", "20:30"), &phoenix, &[]), Verdict::Hold { .. }));
        assert_eq!(
            decide("marketing", IN, at(az, "2026-12-01", "20:30"), &phoenix, &[]),
            Verdict::Send,
            "no DST in winter"
        );
    }
}
