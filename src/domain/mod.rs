//! Core value types shared by channels, pipeline and store: parse at the edge, typed inside.
//!
//! Owns the rules of phone numbers and channels and the shape of an inbound message; knows no
//! wire format and no SQL.

pub mod commerce;
pub mod conversation;
pub mod staff;

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;

/// Declares a closed set of codes that are stored and sent as text: the enum, its text
/// (`as_str`, `Display`, serialized as the string) and `parse`, which knows every code and
/// nothing else, so a value read from a row or a request is checked once, where it enters.
macro_rules! codes {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $code:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every code, in declaration order.
            pub const CODES: &[&str] = &[$($code),+];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $code),+
                }
            }

            pub fn parse(raw: &str) -> Option<Self> {
                match raw {
                    $($code => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}
pub(crate) use codes;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DomainError {
    #[error("{0:?} is not a phone number in E.164 form (+ then country code and number)")]
    InvalidPhoneNumber(String),
    #[error("{0:?} is not a Twilio Messaging Service SID (MG, then 32 lower-case hex digits)")]
    InvalidMessagingServiceSid(String),
}

/// A Twilio Messaging Service SID: `MG`, then 32 lower-case hex digits. A malformed one is
/// refused where it enters (command, settings, start), not by the provider on every send.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MessagingServiceSid(String);

static SERVICE_SID: LazyLock<Regex> =
    LazyLock::new(|| Regex::new("^MG[0-9a-f]{32}$").expect("Messaging Service SID pattern compiles"));

impl MessagingServiceSid {
    /// # Errors
    /// `InvalidMessagingServiceSid` unless the text is exactly such a SID.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let raw = raw.trim();
        SERVICE_SID
            .is_match(raw)
            .then(|| Self(raw.to_owned()))
            .ok_or_else(|| DomainError::InvalidMessagingServiceSid(raw.to_owned()))
    }
}

impl AsRef<str> for MessagingServiceSid {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A phone number in E.164 form: `+`, then 2 to 15 digits, the first not 0.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber(String);

static E164: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^\+[1-9][0-9]{1,14}$").expect("E.164 pattern compiles"));

impl PhoneNumber {
    /// # Errors
    /// `InvalidPhoneNumber` when the text, without spaces, dashes and brackets, is not E.164.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let compact: String = raw.chars().filter(|c| !" -().".contains(*c)).collect();
        E164.is_match(&compact).then_some(Self(compact)).ok_or_else(|| DomainError::InvalidPhoneNumber(raw.to_owned()))
    }

    /// As [`PhoneNumber::parse`], but a 10-digit number (or 11 digits starting with 1) is
    /// taken as a US/Canada number, the way people type theirs into a form.
    ///
    /// # Errors
    /// `InvalidPhoneNumber` as for `parse`.
    pub fn parse_north_american(raw: &str) -> Result<Self, DomainError> {
        Self::parse_national(raw, Country::US)
    }

    /// As [`PhoneNumber::parse`], but a number written without `+` (or `00`) is read in
    /// `country`'s national format: "(415) 555-0177" in the US is +14155550177, "020 7946 0018"
    /// in the UK is +442079460018.
    ///
    /// # Errors
    /// `InvalidPhoneNumber` when it is neither E.164 nor a national number of `country`.
    pub fn parse_national(raw: &str, country: Country) -> Result<Self, DomainError> {
        let bad = || DomainError::InvalidPhoneNumber(raw.to_owned());
        let trimmed = raw.trim_start();
        if trimmed.starts_with('+') {
            return Self::parse(raw);
        }
        if !trimmed.chars().all(|c| c.is_ascii_digit() || " -().".contains(c)) {
            return Err(bad());
        }
        let digits: String = trimmed.chars().filter(char::is_ascii_digit).collect();
        if let Some(international) = digits.strip_prefix("00") {
            return Self::parse(&format!("+{international}")).map_err(|_| bad());
        }
        let national = if country.calling_code == "1" {
            // NANP: [2-9]XX [2-9]XX XXXX, with or without the leading 1.
            let ten = match digits.len() {
                10 => digits.as_str(),
                11 if digits.starts_with('1') => &digits[1..],
                _ => return Err(bad()),
            };
            let b = ten.as_bytes();
            if b[0] < b'2' || b[3] < b'2' {
                return Err(bad());
            }
            ten.to_owned()
        } else {
            // Elsewhere a national number drops its trunk prefix 0.
            digits.strip_prefix('0').unwrap_or(&digits).to_owned()
        };
        Self::parse(&format!("+{}{national}", country.calling_code)).map_err(|_| bad())
    }
    /// An anonymous web visitor's sender key (`web:` and the visitor's id), kept where a phone
    /// number goes: the visitor's contact and conversations are found by it, as a texter's are
    /// by their number. Nothing is ever texted to it (the send gate refuses what is not E.164).
    pub fn visitor(id: &str) -> Self {
        Self(format!("{VISITOR_PREFIX}{id}"))
    }

    /// Whether this is a web visitor's key rather than a phone number.
    pub fn is_visitor(&self) -> bool {
        self.0.starts_with(VISITOR_PREFIX)
    }

    /// The number with all but its last four digits hidden, for logs and CSR lists.
    pub fn masked(&self) -> String {
        mask_phone(&self.0)
    }
}

/// A country whose national phone format [`PhoneNumber::parse_national`] reads, by its ISO 3166
/// code, with its ITU-T E.164 country calling code (ITU-T, "List of ITU-T Recommendation E.164
/// assigned country codes"). The stores are American; the others are the neighbours and the
/// countries visitors most often come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Country {
    pub iso: &'static str,
    pub calling_code: &'static str,
}

impl Country {
    pub const US: Self = Self { iso: "US", calling_code: "1" };
    const ALL: &'static [Self] = &[
        Self::US,
        Self { iso: "CA", calling_code: "1" },
        Self { iso: "PR", calling_code: "1" },
        Self { iso: "MX", calling_code: "52" },
        Self { iso: "GB", calling_code: "44" },
        Self { iso: "DE", calling_code: "49" },
        Self { iso: "FR", calling_code: "33" },
        Self { iso: "ES", calling_code: "34" },
    ];

    /// The country of an ISO 3166 alpha-2 code (any case), if leafdesk knows its format.
    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.iso.eq_ignore_ascii_case(code.trim()))
    }

    /// The codes [`Country::parse`] knows, for error messages.
    pub fn codes() -> String {
        Self::ALL.iter().map(|c| c.iso).collect::<Vec<_>>().join(", ")
    }
}

/// What begins a web visitor's sender key ([`PhoneNumber::visitor`]).
pub const VISITOR_PREFIX: &str = "web:";

/// Hides all but the last four digits of a phone-like string (`+1•••••••0123`).
pub fn mask_phone(raw: &str) -> String {
    let keep = raw.len().saturating_sub(4);
    raw.char_indices().map(|(i, c)| if i >= 2 && i < keep { '•' } else { c }).collect()
}

/// `text` with every phone-number-like run (7 to 15 digits, an optional `+`, spaces, dashes,
/// dots and brackets inside) masked: for provider messages that quote the number.
pub fn mask_phones(text: &str) -> String {
    static PHONE_LIKE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\+?\d[\d\s().-]{5,18}\d").expect("phone-like pattern compiles"));
    PHONE_LIKE
        .replace_all(text, |caps: &regex::Captures<'_>| {
            let found = &caps[0];
            let digits = found.chars().filter(char::is_ascii_digit).count();
            if digits >= 7 {
                mask_phone(found)
            } else {
                found.to_owned()
            }
        })
        .into_owned()
}

impl AsRef<str> for PhoneNumber {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// 1600 characters: the longest message body Twilio takes or delivers (a longer reply is split;
/// a longer inbound text did not come from Twilio), and so the longest message a customer or a
/// CSR can send on any channel.
pub const MAX_MESSAGE_CHARS: usize = 1600;

/// A number's consent as the send gate needs it, read from the ledger.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Consent {
    pub opted_out: bool,
    pub marketing_opted_in: bool,
}

codes! {
    /// Where a conversation happens. Each channel has its own template variant.
    pub enum Channel {
        Sms = "sms",
        Voice = "voice",
        Web = "web",
    }
}

/// One media attachment of an inbound message (MMS).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Media {
    pub url: String,
    pub content_type: String,
}

/// A customer's message, whatever channel brought it.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub channel: Channel,
    /// The provider's id for this message; claiming it makes retries idempotent.
    pub provider_id: String,
    pub from: PhoneNumber,
    /// Our address the customer wrote to: our number (SMS), or for web chat the store's number,
    /// else its location id. With the Messaging Service it belongs to, if any.
    pub to: String,
    pub messaging_service_sid: Option<String>,
    pub body: String,
    pub media: Vec<Media>,
    /// Twilio's verdict when Advanced Opt-Out is on (`STOP`, `START`, `HELP`); Twilio has then
    /// already answered the customer.
    pub opt_out_type: Option<String>,
}

/// One conversation: a customer, one of our locations, one channel. Every path into a
/// conversation (a text, a chat message, a platform event, a call) names it this way, so all of
/// them take the same lock and run in the same lane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConversationId<'a> {
    pub channel: Channel,
    /// The customer's number (E.164).
    pub phone: &'a str,
    pub location_id: &'a str,
}

impl ConversationId<'_> {
    /// A stable 63-bit key, used as the advisory lock id and to pick the lane. FNV-1a: stable
    /// across processes and releases, unlike `DefaultHasher`.
    pub fn key(&self) -> i64 {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in [self.channel.as_str(), "|", self.phone, "|", self.location_id].iter().flat_map(|s| s.bytes()) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        i64::try_from(hash >> 1).expect("63-bit value fits in i64")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_read_back_as_themselves_and_nothing_else_parses() {
        use commerce::{CustomerType, LockReason, VerificationStatus};
        for code in CustomerType::CODES {
            assert_eq!(CustomerType::parse(code).map(CustomerType::as_str), Some(*code));
        }
        for code in VerificationStatus::CODES {
            assert_eq!(VerificationStatus::parse(code).map(VerificationStatus::as_str), Some(*code));
        }
        assert_eq!(
            LockReason::parse("recommendation_expired").map(LockReason::status),
            Some(VerificationStatus::Expired)
        );
        assert_eq!(serde_json::to_value(conversation::Ownership::Queued).unwrap(), "queued");
        for wrong in ["", "Medical", "adult-use", "verified "] {
            assert_eq!(CustomerType::parse(wrong), None, "{wrong:?}");
            assert_eq!(VerificationStatus::parse(wrong), None, "{wrong:?}");
        }
    }

    #[test]
    fn phone_numbers_in_e164_are_accepted_and_compacted() {
        for (raw, want) in [("+14155550100", "+14155550100"), ("+1 (415) 555-0100", "+14155550100")] {
            assert_eq!(PhoneNumber::parse(raw).unwrap().as_ref(), want, "{raw:?}");
        }
    }

    #[test]
    fn malformed_phone_numbers_are_rejected() {
        for raw in ["02079460958", "+0123", "", "+1234567890123456", "+1415abc0100", "+"] {
            assert!(PhoneNumber::parse(raw).is_err(), "{raw:?} should be rejected");
        }
    }

    #[test]
    fn national_numbers_are_read_in_the_default_country() {
        let gb = Country::parse("gb").unwrap();
        for (raw, country, want) in [
            ("(415) 555-0177", Country::US, "+14155550177"),
            ("415.555.0177", Country::US, "+14155550177"),
            ("1 415 555 0177", Country::US, "+14155550177"),
            ("+1 415 555 0177", gb, "+14155550177"),
            ("0044 20 7946 0018", Country::US, "+442079460018"),
            ("020 7946 0018", gb, "+442079460018"),
        ] {
            assert_eq!(PhoneNumber::parse_national(raw, country).unwrap().as_ref(), want, "{raw:?}");
        }
        for raw in ["555-0177", "(015) 555-0177", "(415) 155-0177", "2 415 555 0177", "415-555-O177", "call me"] {
            assert!(PhoneNumber::parse_national(raw, Country::US).is_err(), "{raw:?} should be rejected");
        }
        assert_eq!(Country::parse("XX"), None);
    }

    #[test]
    fn messaging_service_sids_are_checked() {
        assert!(MessagingServiceSid::parse("MG0123456789abcdef0123456789abcdef").is_ok());
        for raw in ["MGnot-a-real-sid", "MG0123456789ABCDEF0123456789ABCDEF", "AC0123456789abcdef0123456789abcdef", ""]
        {
            assert!(MessagingServiceSid::parse(raw).is_err(), "{raw:?} should be rejected");
        }
    }

    #[test]
    fn masked_numbers_keep_only_the_country_prefix_and_last_four_digits() {
        assert_eq!(PhoneNumber::parse("+14155550123").unwrap().masked(), "+1••••••0123");
    }

    #[test]
    fn phone_numbers_inside_text_are_masked() {
        let said = "The 'To' number +15555550199 is not a valid phone number. (415) 555-0100 too; code 21211.";
        let masked = mask_phones(said);
        assert!(!masked.contains("5555550199") && !masked.contains("555-0100"), "{masked}");
        assert!(masked.contains("0199") && masked.contains("code 21211"), "{masked}");
    }

    #[test]
    fn conversation_keys_are_stable_and_distinct() {
        let id = |phone, location| ConversationId { channel: Channel::Sms, phone, location_id: location };
        let a = id("+14155550100", "loc-1").key();
        // Pinned: the key is a lock id shared by server processes of different releases.
        assert_eq!(a, 4_407_681_889_643_323_497); // FNV-1a of "sms|+14155550100|loc-1", shifted
        assert_eq!(a, id("+14155550100", "loc-1").key());
        assert_ne!(a, id("+14155550101", "loc-1").key());
        assert_ne!(a, id("+14155550100", "loc-2").key());
        assert_ne!(a, ConversationId { channel: Channel::Web, ..id("+14155550100", "loc-1") }.key());
    }
}
