//! Where a US phone number's area code is: its state or territory and its time zones, from
//! NANPA's NPA report (`rules/area_codes.json`, source and corrections inside). The send gate
//! falls back on it when a recipient's own state and timezone are not known.

use std::collections::HashMap;
use std::sync::LazyLock;

use jiff::tz::TimeZone;

/// An area code's place: a state or territory (USPS code) and every zone it spans.
#[derive(Debug, Clone)]
pub struct Place {
    pub npa: String,
    pub state: String,
    pub zones: Vec<TimeZone>,
}

#[derive(serde::Deserialize)]
struct File {
    zones: HashMap<String, Vec<String>>,
    state_zones: HashMap<String, HashMap<String, Vec<String>>>,
    codes: HashMap<String, String>,
}

static PLACES: LazyLock<HashMap<String, Place>> = LazyLock::new(|| {
    let file: File =
        serde_json::from_str(include_str!("../../rules/area_codes.json")).expect("rules/area_codes.json is valid");
    let zone = |name: &String| TimeZone::get(name).unwrap_or_else(|e| panic!("rules/area_codes.json: {name}: {e}"));
    file.codes
        .into_iter()
        .map(|(npa, place)| {
            let (state, letters) = place.split_once(' ').expect("codes are \"STATE ZONES\"");
            let names = |letters: &str| {
                file.state_zones.get(state).and_then(|z| z.get(letters)).or_else(|| file.zones.get(letters)).cloned()
            };
            // A whole entry first ("UTC-10", "AK"), else one letter a zone ("EC", "MP").
            let zones = names(letters)
                .or_else(|| {
                    letters.chars().map(|c| names(&c.to_string())).collect::<Option<Vec<_>>>().map(|v| v.concat())
                })
                .unwrap_or_else(|| panic!("rules/area_codes.json: {npa}: unknown zone {letters:?}"));
            let place = Place { npa: npa.clone(), state: state.to_owned(), zones: zones.iter().map(zone).collect() };
            (npa, place)
        })
        .collect()
});

/// The place of a +1 number's area code, if it is a US one leafdesk knows.
pub fn lookup(phone: &str) -> Option<&'static Place> {
    let npa = phone.strip_prefix("+1").filter(|rest| rest.len() == 10)?.get(..3)?;
    PLACES.get(npa)
}

/// Whether `code` is a US state, DC or territory with an area code (the USPS codes).
pub fn is_us_state(code: &str) -> bool {
    PLACES.values().any(|p| p.state == code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(phone: &str) -> (String, Vec<String>) {
        let place = lookup(phone).unwrap_or_else(|| panic!("{phone} has a place"));
        (place.state.to_owned(), place.zones.iter().map(|z| z.iana_name().unwrap().to_owned()).collect())
    }

    #[test]
    fn area_codes_give_the_state_and_every_zone_nanpa_lists() {
        // Rows of NANPA's report (File Date 11/26/2025): NPA, LOCATION, TIME_ZONE.
        assert_eq!(names("+13055550100"), ("FL".into(), vec!["America/New_York".into()]));
        assert_eq!(names("+14155550100"), ("CA".into(), vec!["America/Los_Angeles".into()]));
        assert_eq!(names("+12195550100"), ("IN".into(), vec!["America/New_York".into(), "America/Chicago".into()]));
        assert_eq!(names("+16055550100"), ("SD".into(), vec!["America/Chicago".into(), "America/Denver".into()]));
        assert_eq!(names("+18085550100"), ("HI".into(), vec!["Pacific/Honolulu".into()]));
        assert_eq!(names("+19075550100").1, vec!["America/Anchorage", "America/Adak"]);
        assert_eq!(names("+16025550100").1, vec!["America/Phoenix", "America/Denver"], "Navajo Nation keeps DST");
        assert_eq!(names("+16705550100"), ("MP".into(), vec!["Pacific/Saipan".into()]));
        assert_eq!(names("+16715550100"), ("GU".into(), vec!["Pacific/Guam".into()]));
        assert_eq!(names("+17875550100"), ("PR".into(), vec!["America/Puerto_Rico".into()]));
        assert_eq!(names("+19865550100").1, vec!["America/Denver", "America/Los_Angeles"], "as its parent 208");
        assert_eq!(names("+14655550100").0, "NY", "in service 2026-06-18, after the file date");
    }

    #[test]
    fn numbers_outside_the_us_plan_have_no_place() {
        for phone in ["+15555550100", "+14165550100", "+18005550100", "+442071234567", "+1415555010", "415"] {
            assert!(lookup(phone).is_none(), "{phone}");
        }
        assert!(is_us_state("FL") && is_us_state("DC") && is_us_state("PR"));
        assert!(!is_us_state("ON") && !is_us_state("XX"));
    }

    #[test]
    fn every_state_and_territory_is_covered() {
        let mut states: Vec<_> = PLACES.values().map(|p| p.state.as_str()).collect();
        states.sort_unstable();
        states.dedup();
        assert_eq!(states.len(), 56, "50 states, DC and 5 territories: {states:?}");
    }
}
