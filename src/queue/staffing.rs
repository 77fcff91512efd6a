//! Whether a person can take a call now: the hours the team answers the phone (store-local) and,
//! when configured, whether anyone who works the queue is signed in to the console. A call handed
//! off when nobody can take it becomes a callback ticket instead of waiting on hold.
//!
//! Owns this decision; the turn asks it for a spoken hand-off, the voice channel acts on it.

use jiff::civil::Time;
use jiff::tz::TimeZone;
use jiff::Timestamp;

use crate::domain::staff::Roles;
use crate::flows::model::Queue;
use crate::store::{StoreError, Tx};

/// 10 minutes: a console used, or open (its live feed says so every few minutes), more recently
/// than this counts as someone at their desk.
const PRESENT_MS: i64 = 10 * 60_000;

/// What to do with a call nobody is signed in to take (within staffed hours).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenNobody {
    /// Take a callback ticket and end the call.
    Callback,
    /// Put the caller on hold anyway (Twilio's queue; someone may answer from a phone).
    Enqueue,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staffing {
    /// Store-local opening and closing time of the phones.
    pub open: Time,
    pub close: Time,
    pub when_nobody: WhenNobody,
}

impl Default for Staffing {
    fn default() -> Self {
        Self { open: Time::constant(9, 0, 0, 0), close: Time::constant(21, 0, 0, 0), when_nobody: WhenNobody::Callback }
    }
}

/// Whether a person takes the call now, or when someone will call back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Put the caller through (on hold in the queue).
    Now,
    /// Call back when the phones open at this instant.
    CallbackAt(i64),
    /// Call back as soon as someone is free (within hours, nobody signed in).
    CallbackSoon,
}

impl Answer {
    /// What templates read as `callback`: false when a person takes the call now, else when
    /// someone calls back (`at_ms`, or 0 for as soon as someone is free).
    pub fn callback(self) -> serde_json::Value {
        match self {
            Self::Now => serde_json::json!(false),
            Self::CallbackAt(at_ms) => serde_json::json!({ "at_ms": at_ms }),
            Self::CallbackSoon => serde_json::json!({ "at_ms": 0 }),
        }
    }
}

impl Staffing {
    /// Parses `HH:MM-HH:MM` (store-local), e.g. `09:00-21:00`.
    ///
    /// # Errors
    /// What is wrong with the text.
    pub fn parse_hours(text: &str) -> Result<(Time, Time), String> {
        let (open, close) = text.split_once('-').ok_or("write it as HH:MM-HH:MM, e.g. 09:00-21:00")?;
        let time = |t: &str| t.trim().parse::<Time>().map_err(|_| format!("{t:?} is not a time such as 09:00"));
        let (open, close) = (time(open)?, time(close)?);
        if open >= close {
            return Err("the opening time must come before the closing time".into());
        }
        Ok((open, close))
    }

    /// Within the phones' hours at `now_ms` in `timezone`, or the next opening.
    pub fn next_open(&self, timezone: &str, now_ms: i64) -> Result<(), i64> {
        let tz = TimeZone::get(timezone).unwrap_or(TimeZone::UTC);
        let now = Timestamp::from_millisecond(now_ms).unwrap_or(Timestamp::UNIX_EPOCH).to_zoned_datetime(tz.clone());
        let time = now.time();
        if time >= self.open && time < self.close {
            return Ok(());
        }
        let day = if time < self.open { now.date() } else { now.date().tomorrow().unwrap_or(now.date()) };
        let opens = day.to_datetime(self.open).to_zoned_datetime(tz).map_or(now_ms, |z| z.timestamp().as_millisecond());
        Err(opens)
    }

    /// Whether someone takes a call for `queue` now (see [`Answer`]).
    ///
    /// # Errors
    /// Database failures.
    pub async fn answer(
        &self,
        tx: &mut Tx<'_>,
        queues: &[Queue],
        queue: &str,
        timezone: &str,
        now_ms: i64,
    ) -> Result<Answer, StoreError> {
        if let Err(opens) = self.next_open(timezone, now_ms) {
            return Ok(Answer::CallbackAt(opens));
        }
        if self.when_nobody == WhenNobody::Enqueue || someone_present(tx, queues, queue, now_ms).await? {
            return Ok(Answer::Now);
        }
        Ok(Answer::CallbackSoon)
    }
}

const PRESENT: &str = "select u.roles from staff_session s join staff_user u on u.user_id = s.user_id
    where s.revoked_at_ms is null and s.expires_at_ms > $1 and u.disabled_at_ms is null
        and (s.last_seen_at_ms > $2 or s.present_at_ms > $2)";

/// Someone who works `queue` used the console in the last [`PRESENT_MS`].
async fn someone_present(tx: &mut Tx<'_>, queues: &[Queue], queue: &str, now_ms: i64) -> Result<bool, StoreError> {
    let rows: Vec<(String,)> =
        sqlx::query_as(PRESENT).bind(now_ms).bind(now_ms - PRESENT_MS).fetch_all(&mut **tx).await?;
    Ok(rows.iter().any(|(roles,)| {
        let codes: Vec<String> = serde_json::from_str(roles).unwrap_or_default();
        Roles::parse(codes.iter().map(String::as_str)).is_ok_and(|roles| super::works(&roles, queues, queue))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn la(datetime: &str) -> i64 {
        let dt: jiff::civil::DateTime = datetime.parse().unwrap();
        dt.to_zoned_datetime(TimeZone::get("America/Los_Angeles").unwrap()).unwrap().timestamp().as_millisecond()
    }

    #[test]
    fn the_phones_are_open_within_hours_and_otherwise_say_when_they_open() {
        let staffing = Staffing::default();
        let tz = "America/Los_Angeles";
        assert_eq!(staffing.next_open(tz, la("2026-11-30T12:00")), Ok(()));
        assert_eq!(staffing.next_open(tz, la("2026-11-30T09:00")), Ok(()));
        assert_eq!(staffing.next_open(tz, la("2026-11-30T21:00")), Err(la("2026-12-01T09:00")), "closes at 21:00");
        assert_eq!(staffing.next_open(tz, la("2026-11-30T06:30")), Err(la("2026-11-30T09:00")), "opens later today");
    }

    #[test]
    fn hours_are_read_or_refused_with_the_fix() {
        let nine_to_five = Staffing::parse_hours("09:00-17:30").unwrap();
        assert_eq!(nine_to_five, (Time::constant(9, 0, 0, 0), Time::constant(17, 30, 0, 0)));
        for bad in ["9 to 5", "17:00-09:00", "25:00-26:00", ""] {
            assert!(Staffing::parse_hours(bad).is_err(), "{bad:?}");
        }
    }
}
