//! Settings from the environment (and an optional TOML file), validated once at start.
//!
//! Owns every configuration key, its default and its validation. A bad value is an error that
//! names the variable and says how to fix it; nothing else in the crate reads the environment.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// A configuration value that must never be printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

pub use crate::store::SqliteSync;

#[derive(Debug, Clone)]
pub struct Settings {
    pub bind: SocketAddr,
    pub database_url: String,
    pub data_dir: PathBuf,
    /// The base URL Twilio calls; the signed URL is rebuilt from it (proxies change Host).
    pub public_url: Option<String>,
    pub twilio_account_sid: Option<String>,
    pub twilio_auth_token: Option<Secret>,
    pub twilio_api_base: String,
    /// Development only: accept unsigned Twilio webhooks. Warned about at start.
    pub skip_twilio_signature: bool,
    pub flows_dir: PathBuf,
    pub templates_dir: PathBuf,
    /// How often flow and template files are checked for edits; `None` turns reload off.
    pub reload_interval: Option<Duration>,
    pub sqlite_sync: SqliteSync,
    pub demo_number: String,
    pub log_filter: String,
    /// Outbox retry backoff base: attempt n waits base × 2^(n−1).
    pub outbox_retry_base_ms: i64,
    /// The compliant payment app's bank (ACH) checkout; `{order}` becomes the order number.
    /// Unset: the bot offers paying at pickup and a person instead.
    pub ach_payment_url: Option<String>,
    /// The key that seals medical uploads (64 hex); unset: `<data dir>/upload.key`, created on
    /// first start with owner-only permissions.
    pub upload_key: Option<Secret>,
    /// How long an upload link works (default 24 hours).
    pub upload_link_ttl_ms: i64,
    /// The largest document accepted (default 10 MB: a phone photo is 2–5 MB).
    pub upload_max_bytes: usize,
    /// How often expired medical recommendations are looked for (they lock at local midnight).
    pub verification_sweep_ms: i64,
    /// Accept `v1=` request signatures (without method and path) from platforms not yet moved to
    /// `v2=`; off by default. See `signed`.
    pub accept_v1_signatures: bool,
    /// Origins allowed to embed the chat widget in a frame (`frame-ancestors`), space separated,
    /// e.g. `https://shop.example.com`; unset: no site may frame it.
    pub chat_embed_origins: Option<String>,
    /// The most connections served at once; more wait in the kernel's queue.
    pub max_connections: usize,
    /// Our own reverse proxies: only their `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpRange>,
    /// Staff phones a campaign's test send may go to; no other number gets a test.
    pub test_numbers: Vec<crate::domain::PhoneNumber>,
    /// How long a client has to send a request's head; an idle connection closes after it too.
    pub header_timeout: Duration,
    /// Testing and demos only: the instant the clock starts at (it then runs on). Lets a
    /// command agree with a test server's pinned clock, or replay a day.
    pub now_ms: Option<i64>,
    /// When a spoken hand-off reaches a person (`LEAFDESK_VOICE_STAFFED_HOURS`, store-local
    /// `09:00-21:00` by default) and what happens when nobody is signed in
    /// (`LEAFDESK_VOICE_WHEN_NOBODY`: `callback`, the default, or `enqueue`).
    pub voice_staffing: crate::queue::staffing::Staffing,
    /// Speech Twilio is less sure of than this (0 to 1) is asked again (`LEAFDESK_VOICE_MIN_CONFIDENCE`).
    pub voice_min_confidence: f64,
    /// Transcribe calls a person takes (Twilio Real-Time Transcription) onto their ticket
    /// (`LEAFDESK_VOICE_TRANSCRIBE_CALLS`, off by default: Twilio bills it per minute).
    pub voice_transcribe_calls: bool,
    /// A person's chat reply no chat window showed for this long goes by text
    /// (`LEAFDESK_CHAT_SMS_AFTER_MINUTES`, 10 by default; 0: never).
    pub chat_sms_after: Option<Duration>,
}

#[derive(Debug, thiserror::Error)]
#[error("{key}: {problem}. {fix}")]
pub struct SettingsError {
    pub key: &'static str,
    pub problem: String,
    pub fix: &'static str,
}

/// Keys, each readable from the environment or (lower-case, without `LEAFDESK_`) from the file.
const KEYS: &[&str] = &[
    "LEAFDESK_BIND",
    "DATABASE_URL",
    "LEAFDESK_DATA_DIR",
    "LEAFDESK_PUBLIC_URL",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_API_BASE",
    "LEAFDESK_DEV_SKIP_TWILIO_SIGNATURE",
    "LEAFDESK_FLOWS_DIR",
    "LEAFDESK_TEMPLATES_DIR",
    "LEAFDESK_RELOAD_INTERVAL_MS",
    "LEAFDESK_SQLITE_SYNCHRONOUS",
    "LEAFDESK_DEMO_NUMBER",
    "LEAFDESK_LOG",
    "LEAFDESK_OUTBOX_RETRY_BASE_MS",
    "LEAFDESK_ACH_PAYMENT_URL",
    "LEAFDESK_UPLOAD_KEY",
    "LEAFDESK_UPLOAD_LINK_TTL_HOURS",
    "LEAFDESK_UPLOAD_MAX_MB",
    "LEAFDESK_VERIFICATION_SWEEP_MS",
    "LEAFDESK_NOW",
    "LEAFDESK_ACCEPT_V1_SIGNATURES",
    "LEAFDESK_CHAT_EMBED_ORIGINS",
    "LEAFDESK_MAX_CONNECTIONS",
    "LEAFDESK_HEADER_TIMEOUT_MS",
    "LEAFDESK_TRUSTED_PROXIES",
    "LEAFDESK_VOICE_STAFFED_HOURS",
    "LEAFDESK_VOICE_WHEN_NOBODY",
    "LEAFDESK_VOICE_MIN_CONFIDENCE",
    "LEAFDESK_VOICE_TRANSCRIBE_CALLS",
    "LEAFDESK_CHAT_SMS_AFTER_MINUTES",
];

fn file_key(env_key: &str) -> String {
    env_key.trim_start_matches("LEAFDESK_").to_ascii_lowercase()
}

impl Settings {
    /// Reads the environment; `LEAFDESK_CONFIG` may name a TOML file whose keys fill in what the
    /// environment leaves unset (`bind = "0.0.0.0:8080"`, `database_url = "postgres://…"`).
    ///
    /// # Errors
    /// A [`SettingsError`] naming the first bad variable.
    pub fn load() -> Result<Self, SettingsError> {
        let mut values: HashMap<String, String> = HashMap::new();
        if let Ok(path) = std::env::var("LEAFDESK_CONFIG") {
            values.extend(read_file(&path)?);
        }
        for key in KEYS {
            if let Ok(value) = std::env::var(key) {
                values.insert((*key).to_owned(), value);
            }
        }
        Self::from_map(&values)
    }

    /// Builds settings from explicit key/values (environment names), as tests do.
    ///
    /// # Errors
    /// A [`SettingsError`] naming the first bad key.
    pub fn from_map(values: &HashMap<String, String>) -> Result<Self, SettingsError> {
        let get = |key: &str| values.get(key).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let data_dir = PathBuf::from(get("LEAFDESK_DATA_DIR").unwrap_or_else(|| "data".into()));
        let database_url = match get("DATABASE_URL") {
            Some(url) => parse_database_url(url)?,
            None => format!("sqlite://{}?mode=rwc", data_dir.join("leafdesk.db").display()),
        };
        let bind = parse_bind("LEAFDESK_BIND", &get("LEAFDESK_BIND").unwrap_or_else(|| "127.0.0.1:8080".into()))?;
        let public_url = get("LEAFDESK_PUBLIC_URL").map(parse_public_url).transpose()?;
        let twilio_api_base = get("TWILIO_API_BASE").unwrap_or_else(|| "https://api.twilio.com".into());
        if !twilio_api_base.starts_with("http://") && !twilio_api_base.starts_with("https://") {
            return Err(SettingsError {
                key: "TWILIO_API_BASE",
                problem: format!("{twilio_api_base:?} is not an http(s) URL"),
                fix: "Use the provider's API root, for example https://api.twilio.com.",
            });
        }
        Ok(Self {
            bind,
            database_url,
            data_dir,
            public_url,
            twilio_account_sid: get("TWILIO_ACCOUNT_SID").map(parse_account_sid).transpose()?,
            twilio_auth_token: get("TWILIO_AUTH_TOKEN").map(Secret::new),
            twilio_api_base: twilio_api_base.trim_end_matches('/').to_owned(),
            skip_twilio_signature: parse_bool(
                "LEAFDESK_DEV_SKIP_TWILIO_SIGNATURE",
                get("LEAFDESK_DEV_SKIP_TWILIO_SIGNATURE"),
            )?,
            flows_dir: PathBuf::from(get("LEAFDESK_FLOWS_DIR").unwrap_or_else(|| "flows".into())),
            templates_dir: PathBuf::from(get("LEAFDESK_TEMPLATES_DIR").unwrap_or_else(|| "templates".into())),
            reload_interval: parse_reload(get("LEAFDESK_RELOAD_INTERVAL_MS"))?,
            sqlite_sync: parse_sqlite_sync(get("LEAFDESK_SQLITE_SYNCHRONOUS"))?,
            demo_number: parse_number("LEAFDESK_DEMO_NUMBER", get("LEAFDESK_DEMO_NUMBER"), "+15005550006")?,
            log_filter: get("LEAFDESK_LOG").unwrap_or_else(|| "info".into()),
            outbox_retry_base_ms: parse_positive(
                "LEAFDESK_OUTBOX_RETRY_BASE_MS",
                get("LEAFDESK_OUTBOX_RETRY_BASE_MS"),
                2000,
            )?,
            ach_payment_url: get("LEAFDESK_ACH_PAYMENT_URL").map(parse_ach_url).transpose()?,
            upload_key: get("LEAFDESK_UPLOAD_KEY").map(Secret::new),
            upload_link_ttl_ms: parse_positive(
                "LEAFDESK_UPLOAD_LINK_TTL_HOURS",
                get("LEAFDESK_UPLOAD_LINK_TTL_HOURS"),
                24,
            )? * 3_600_000,
            upload_max_bytes: usize::try_from(parse_positive(
                "LEAFDESK_UPLOAD_MAX_MB",
                get("LEAFDESK_UPLOAD_MAX_MB"),
                10,
            )?)
            .unwrap_or(10)
                * 1024
                * 1024,
            verification_sweep_ms: parse_positive(
                "LEAFDESK_VERIFICATION_SWEEP_MS",
                get("LEAFDESK_VERIFICATION_SWEEP_MS"),
                60_000,
            )?,
            now_ms: get("LEAFDESK_NOW").map(parse_now).transpose()?,
            chat_embed_origins: get("LEAFDESK_CHAT_EMBED_ORIGINS").map(parse_origins).transpose()?,
            max_connections: usize::try_from(parse_positive(
                "LEAFDESK_MAX_CONNECTIONS",
                get("LEAFDESK_MAX_CONNECTIONS"),
                1024,
            )?)
            .unwrap_or(1024),
            trusted_proxies: get("LEAFDESK_TRUSTED_PROXIES").map(parse_proxies).transpose()?.unwrap_or_default(),
            test_numbers: get("LEAFDESK_TEST_NUMBERS").map(parse_test_numbers).transpose()?.unwrap_or_default(),
            header_timeout: Duration::from_millis(
                u64::try_from(parse_positive("LEAFDESK_HEADER_TIMEOUT_MS", get("LEAFDESK_HEADER_TIMEOUT_MS"), 10_000)?)
                    .unwrap_or(10_000),
            ),
            accept_v1_signatures: parse_bool("LEAFDESK_ACCEPT_V1_SIGNATURES", get("LEAFDESK_ACCEPT_V1_SIGNATURES"))?,
            voice_staffing: parse_staffing(get("LEAFDESK_VOICE_STAFFED_HOURS"), get("LEAFDESK_VOICE_WHEN_NOBODY"))?,
            voice_min_confidence: parse_confidence(get("LEAFDESK_VOICE_MIN_CONFIDENCE"))?,
            chat_sms_after: match parse_minutes(
                "LEAFDESK_CHAT_SMS_AFTER_MINUTES",
                get("LEAFDESK_CHAT_SMS_AFTER_MINUTES"),
            )? {
                0 => None,
                minutes => Some(Duration::from_secs(minutes * 60)),
            },
            voice_transcribe_calls: parse_bool(
                "LEAFDESK_VOICE_TRANSCRIBE_CALLS",
                get("LEAFDESK_VOICE_TRANSCRIBE_CALLS"),
            )?,
        })
    }

    /// The clock everything in this process reads: the machine's, unless `LEAFDESK_NOW` pins it.
    pub fn clock(&self) -> crate::clock::Clock {
        self.now_ms.map_or_else(crate::clock::Clock::system, crate::clock::Clock::starting_at)
    }

    /// What `serve` needs beyond the common settings: a way to verify Twilio's signatures.
    ///
    /// # Errors
    /// When neither `TWILIO_AUTH_TOKEN` nor the development skip is set.
    pub fn check_serving(&self) -> Result<(), SettingsError> {
        if self.twilio_auth_token.is_none() && !self.skip_twilio_signature {
            return Err(SettingsError {
                key: "TWILIO_AUTH_TOKEN",
                problem: "is not set, so Twilio webhooks cannot be verified".into(),
                fix: "Set it to your Twilio (or compatible provider's) auth token; for local development only, LEAFDESK_DEV_SKIP_TWILIO_SIGNATURE=true accepts unsigned webhooks.",
            });
        }
        Ok(())
    }

    /// Where the upload key lives when `LEAFDESK_UPLOAD_KEY` is not set.
    pub fn upload_key_file(&self) -> PathBuf {
        self.data_dir.join("upload.key")
    }

    /// The base URL customers' phones reach us at, for links in messages and pages: the public
    /// URL, else this machine's address (`localhost` when bound to every interface), which only
    /// works on this machine.
    pub fn public_base(&self) -> String {
        self.public_url.clone().unwrap_or_else(|| {
            let host =
                if self.bind.ip().is_unspecified() { "localhost".to_owned() } else { self.bind.ip().to_string() };
            let host = if self.bind.is_ipv6() && host != "localhost" { format!("[{host}]") } else { host };
            format!("http://{host}:{}", self.bind.port())
        })
    }
}

/// An IP address, or a network in CIDR form (`10.0.0.0/8`, `fd00::/8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    network: std::net::IpAddr,
    prefix: u8,
}

impl IpRange {
    pub fn parse(text: &str) -> Option<Self> {
        let (ip, prefix) = match text.trim().split_once('/') {
            Some((ip, prefix)) => (ip.parse().ok()?, prefix.parse().ok()?),
            None => {
                let ip: std::net::IpAddr = text.trim().parse().ok()?;
                (ip, if ip.is_ipv4() { 32 } else { 128 })
            }
        };
        let max = if ip.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Self { network: ip, prefix })
    }

    pub fn contains(&self, ip: &std::net::IpAddr) -> bool {
        let bits = |ip: &std::net::IpAddr| match ip {
            std::net::IpAddr::V4(v4) => (u128::from(u32::from(*v4)), 32u32),
            std::net::IpAddr::V6(v6) => (u128::from(*v6), 128u32),
        };
        let ((net, width), (addr, addr_width)) = (bits(&self.network), bits(ip));
        if width != addr_width {
            return false;
        }
        let host_bits = width - u32::from(self.prefix);
        host_bits >= 128 || (net >> host_bits) == (addr >> host_bits)
    }
}

fn parse_proxies(value: String) -> Result<Vec<IpRange>, SettingsError> {
    value
        .split([',', ' '])
        .filter(|p| !p.is_empty())
        .map(|p| {
            IpRange::parse(p).ok_or_else(|| SettingsError {
                key: "LEAFDESK_TRUSTED_PROXIES",
                problem: format!("{p:?} is not an IP address or network"),
                fix: "List your load balancers' addresses or networks, e.g. 10.0.0.0/8, 192.168.1.10.",
            })
        })
        .collect()
}

fn parse_test_numbers(value: String) -> Result<Vec<crate::domain::PhoneNumber>, SettingsError> {
    value
        .split([',', ' '])
        .filter(|p| !p.is_empty())
        .map(|p| {
            crate::domain::PhoneNumber::parse(p).map_err(|_| SettingsError {
                key: "LEAFDESK_TEST_NUMBERS",
                problem: format!("{p:?} is not a phone number in E.164 form"),
                fix: "List staff phones, comma separated, e.g. +14155550100,+14155550101.",
            })
        })
        .collect()
}

/// `https://a.example https://b.example` (commas also separate): each an http(s) origin.
fn parse_origins(value: String) -> Result<String, SettingsError> {
    let origins: Vec<&str> = value.split([' ', ',']).filter(|o| !o.is_empty()).collect();
    let bad = origins.iter().find(|o| {
        let rest = o.strip_prefix("https://").or_else(|| o.strip_prefix("http://"));
        rest.is_none_or(|host| host.is_empty() || host.contains(['/', ';', '\'', '"']))
    });
    match bad {
        None => Ok(origins.join(" ")),
        Some(o) => Err(SettingsError {
            key: "LEAFDESK_CHAT_EMBED_ORIGINS",
            problem: format!("{o:?} is not an origin"),
            fix: "List the store's site origins, scheme and host only, e.g. https://shop.example.com https://www.shop.example.com.",
        }),
    }
}

fn parse_now(value: String) -> Result<i64, SettingsError> {
    value.parse::<jiff::Timestamp>().map(|t| t.as_millisecond()).map_err(|_| SettingsError {
        key: "LEAFDESK_NOW",
        problem: format!("{value:?} is not an instant"),
        fix: "Use RFC 3339 with a zone, for example 2026-11-30T20:00:00Z, or leave it unset (the machine's clock).",
    })
}

/// `host:port`: an IP address or a name (`localhost:8080`), resolved now.
///
/// # Errors
/// When it is not host:port or the name does not resolve.
pub fn parse_bind(key: &'static str, value: &str) -> Result<SocketAddr, SettingsError> {
    use std::net::ToSocketAddrs as _;
    let fix = "Use host:port, for example 127.0.0.1:8080, localhost:8080 or 0.0.0.0:8080.";
    if let Ok(addr) = value.parse() {
        return Ok(addr);
    }
    let resolved = value.to_socket_addrs().map_err(|e| SettingsError {
        key,
        problem: format!("{value:?} is not host:port ({e})"),
        fix,
    })?;
    let mut resolved: Vec<SocketAddr> = resolved.collect();
    // IPv4 first: `localhost` is most often meant as 127.0.0.1.
    resolved.sort_by_key(|a| !a.is_ipv4());
    resolved.into_iter().next().ok_or_else(|| SettingsError {
        key,
        problem: format!("{value:?} resolves to no address"),
        fix,
    })
}

/// `AC`, then 32 lower-case hex digits: a Twilio account SID.
fn parse_account_sid(value: String) -> Result<String, SettingsError> {
    let ok = value.len() == 34
        && value.starts_with("AC")
        && value[2..].bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if ok {
        Ok(value)
    } else {
        Err(SettingsError {
            key: "TWILIO_ACCOUNT_SID",
            problem: format!("{value:?} is not an account SID"),
            fix: "Copy it from the provider's console: AC followed by 32 lower-case hex digits.",
        })
    }
}

fn parse_number(key: &'static str, value: Option<String>, default: &str) -> Result<String, SettingsError> {
    let value = value.unwrap_or_else(|| default.to_owned());
    crate::domain::PhoneNumber::parse(&value).map(|p| p.as_ref().to_owned()).map_err(|e| SettingsError {
        key,
        problem: e.to_string(),
        fix: "Use the number in E.164 form, e.g. +15005550006.",
    })
}

fn parse_ach_url(url: String) -> Result<String, SettingsError> {
    if url.starts_with("https://") || url.starts_with("http://") {
        Ok(url)
    } else {
        Err(SettingsError {
            key: "LEAFDESK_ACH_PAYMENT_URL",
            problem: format!("{url:?} is not an http(s) URL"),
            fix: "Use the payment app's checkout address, e.g. https://pay.example.com/ach?order={order}.",
        })
    }
}

fn read_file(path: &str) -> Result<HashMap<String, String>, SettingsError> {
    let bad = |problem: String| SettingsError {
        key: "LEAFDESK_CONFIG",
        problem,
        fix: "Point it at a readable TOML file of string keys such as bind = \"127.0.0.1:8080\".",
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read {path}: {e}")))?;
    let table: toml::Table = text.parse().map_err(|e| bad(format!("{path}: {e}")))?;
    let mut values = HashMap::new();
    for key in KEYS {
        if let Some(value) = table.get(&file_key(key)) {
            let text = match value {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(n) => n.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                _ => return Err(bad(format!("{} must be a string, number or boolean", file_key(key)))),
            };
            values.insert((*key).to_owned(), text);
        }
    }
    if let Some(unknown) = table.keys().find(|k| !KEYS.iter().any(|key| file_key(key) == **k)) {
        return Err(bad(format!("unknown key {unknown:?} in {path}")));
    }
    Ok(values)
}

fn parse_database_url(url: String) -> Result<String, SettingsError> {
    if url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(url)
    } else {
        Err(SettingsError {
            key: "DATABASE_URL",
            problem: format!("unsupported database URL scheme in {:?}", url.split(':').next().unwrap_or("")),
            fix: "Use sqlite://path/to/file.db?mode=rwc or postgres://user@host:5432/dbname.",
        })
    }
}

fn parse_public_url(url: String) -> Result<String, SettingsError> {
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(url.trim_end_matches('/').to_owned())
    } else {
        Err(SettingsError {
            key: "LEAFDESK_PUBLIC_URL",
            problem: format!("{url:?} is not an http(s) URL"),
            fix: "Use the exact base URL Twilio calls, for example https://bot.example.com.",
        })
    }
}

fn parse_bool(key: &'static str, value: Option<String>) -> Result<bool, SettingsError> {
    match value.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("false" | "0" | "no") => Ok(false),
        Some("true" | "1" | "yes") => Ok(true),
        Some(other) => {
            Err(SettingsError { key, problem: format!("{other:?} is not true or false"), fix: "Use true or false." })
        }
    }
}

fn parse_staffing(
    hours: Option<String>,
    when_nobody: Option<String>,
) -> Result<crate::queue::staffing::Staffing, SettingsError> {
    use crate::queue::staffing::{Staffing, WhenNobody};
    let mut staffing = Staffing::default();
    if let Some(hours) = hours {
        (staffing.open, staffing.close) = Staffing::parse_hours(&hours).map_err(|problem| SettingsError {
            key: "LEAFDESK_VOICE_STAFFED_HOURS",
            problem: format!("{hours:?}: {problem}"),
            fix: "Use the store-local hours people answer calls, such as 09:00-21:00.",
        })?;
    }
    staffing.when_nobody = match when_nobody.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("callback") => WhenNobody::Callback,
        Some("enqueue") => WhenNobody::Enqueue,
        Some(other) => {
            return Err(SettingsError {
                key: "LEAFDESK_VOICE_WHEN_NOBODY",
                problem: format!("{other:?} is not callback or enqueue"),
                fix: "Use callback (take a callback ticket) or enqueue (hold the caller anyway).",
            })
        }
    };
    Ok(staffing)
}

fn parse_minutes(key: &'static str, value: Option<String>) -> Result<u64, SettingsError> {
    let Some(value) = value else { return Ok(10) };
    value.parse::<u64>().ok().filter(|m| *m <= 7 * 24 * 60).ok_or_else(|| SettingsError {
        key,
        problem: format!("{value:?} is not a number of minutes"),
        fix: "Use whole minutes, such as 10 (0 turns it off).",
    })
}

fn parse_confidence(value: Option<String>) -> Result<f64, SettingsError> {
    let Some(value) = value else { return Ok(0.3) };
    value.parse::<f64>().ok().filter(|c| (0.0..=1.0).contains(c)).ok_or_else(|| SettingsError {
        key: "LEAFDESK_VOICE_MIN_CONFIDENCE",
        problem: format!("{value:?} is not a number from 0 to 1"),
        fix: "Use a confidence such as 0.3 (0 accepts every transcript).",
    })
}

fn parse_reload(value: Option<String>) -> Result<Option<Duration>, SettingsError> {
    let Some(value) = value else {
        return Ok(Some(Duration::from_secs(1)));
    };
    let ms: u64 = value.parse().map_err(|_| SettingsError {
        key: "LEAFDESK_RELOAD_INTERVAL_MS",
        problem: format!("{value:?} is not a whole number of milliseconds"),
        fix: "Use a number such as 1000, or 0 to turn hot reload off.",
    })?;
    Ok((ms > 0).then(|| Duration::from_millis(ms)))
}

/// A positive whole number (milliseconds, hours or megabytes, as the key's name says).
fn parse_positive(key: &'static str, value: Option<String>, default: i64) -> Result<i64, SettingsError> {
    let Some(value) = value else { return Ok(default) };
    value.parse::<i64>().ok().filter(|n| *n > 0 && *n < 1_000_000_000).ok_or_else(|| SettingsError {
        key,
        problem: format!("{value:?} is not a positive whole number"),
        fix: "Use a number such as 2000 (the key's name says the unit).",
    })
}

fn parse_sqlite_sync(value: Option<String>) -> Result<SqliteSync, SettingsError> {
    match value.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("normal") => Ok(SqliteSync::Normal),
        Some("full") => Ok(SqliteSync::Full),
        Some(other) => Err(SettingsError {
            key: "LEAFDESK_SQLITE_SYNCHRONOUS",
            problem: format!("{other:?} is not a supported durability setting"),
            fix: "Use normal (survives process crashes) or full (also survives power loss).",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        Settings::from_map(&pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect())
    }

    #[test]
    fn defaults_use_an_sqlite_file_under_the_data_dir() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.database_url, "sqlite://data/leafdesk.db?mode=rwc");
        assert_eq!(s.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(s.reload_interval, Some(Duration::from_secs(1)));
    }

    #[test]
    fn links_start_with_the_public_url_else_a_reachable_local_address() {
        let public =
            settings(&[("LEAFDESK_PUBLIC_URL", "https://bot.example.com/"), ("LEAFDESK_BIND", "0.0.0.0:9000")]);
        assert_eq!(public.unwrap().public_base(), "https://bot.example.com");
        assert_eq!(settings(&[("LEAFDESK_BIND", "0.0.0.0:9000")]).unwrap().public_base(), "http://localhost:9000");
        assert_eq!(settings(&[("LEAFDESK_BIND", "[::1]:9000")]).unwrap().public_base(), "http://[::1]:9000");
    }

    #[test]
    fn the_bind_address_may_be_a_name() {
        let s = settings(&[("LEAFDESK_BIND", "localhost:8080")]).unwrap();
        assert_eq!(s.bind.port(), 8080);
        assert!(s.bind.ip().is_loopback());
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (key, value) in [
            ("LEAFDESK_BIND", "not an address"),
            ("DATABASE_URL", "mysql://x"),
            ("LEAFDESK_PUBLIC_URL", "bot.example.com"),
            ("TWILIO_API_BASE", "ftp://x"),
            ("LEAFDESK_DEV_SKIP_TWILIO_SIGNATURE", "maybe"),
            ("LEAFDESK_RELOAD_INTERVAL_MS", "soon"),
            ("LEAFDESK_SQLITE_SYNCHRONOUS", "off"),
            ("LEAFDESK_OUTBOX_RETRY_BASE_MS", "-5"),
            ("LEAFDESK_NOW", "yesterday"),
            ("TWILIO_ACCOUNT_SID", "AC123"),
            ("LEAFDESK_DEMO_NUMBER", "555-0100"),
            ("LEAFDESK_CHAT_EMBED_ORIGINS", "https://shop.example.com/chat"),
            ("LEAFDESK_CHAT_EMBED_ORIGINS", "shop.example.com"),
            ("LEAFDESK_MAX_CONNECTIONS", "0"),
            ("LEAFDESK_TRUSTED_PROXIES", "10.0.0.0/33"),
            ("LEAFDESK_TRUSTED_PROXIES", "the load balancer"),
            ("LEAFDESK_NOW", "2026-11-30 12:00"),
        ] {
            let err = settings(&[(key, value)]).expect_err(key);
            assert_eq!(err.key, key, "{key}={value:?} should be rejected naming {key}");
        }
    }

    #[test]
    fn serving_without_a_twilio_token_is_refused_unless_explicitly_skipped() {
        assert_eq!(settings(&[]).unwrap().check_serving().unwrap_err().key, "TWILIO_AUTH_TOKEN");
        assert!(settings(&[("LEAFDESK_DEV_SKIP_TWILIO_SIGNATURE", "true")]).unwrap().check_serving().is_ok());
    }

    #[test]
    fn the_clock_is_the_machines_unless_pinned() {
        assert!(settings(&[]).unwrap().now_ms.is_none());
        let pinned = settings(&[("LEAFDESK_NOW", "2026-11-30T20:00:00Z")]).unwrap();
        let now = pinned.clock().now_ms();
        assert!((1_796_068_800_000..1_796_068_860_000).contains(&now), "{now}");
    }

    #[test]
    fn ip_ranges_hold_their_own_addresses_only() {
        let net = IpRange::parse("10.1.0.0/16").unwrap();
        assert!(net.contains(&"10.1.255.3".parse().unwrap()));
        assert!(!net.contains(&"10.2.0.1".parse().unwrap()));
        assert!(!net.contains(&"::ffff:10.1.0.1".parse().unwrap()), "another family");
        let one = IpRange::parse("192.168.1.10").unwrap();
        assert!(one.contains(&"192.168.1.10".parse().unwrap()) && !one.contains(&"192.168.1.11".parse().unwrap()));
        assert!(IpRange::parse("0.0.0.0/0").unwrap().contains(&"8.8.8.8".parse().unwrap()));
        assert!(IpRange::parse("fd00::/8").unwrap().contains(&"fd12::1".parse().unwrap()));
    }

    #[test]
    fn secrets_do_not_print() {
        let s = settings(&[("TWILIO_AUTH_TOKEN", "hunter2")]).unwrap();
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
