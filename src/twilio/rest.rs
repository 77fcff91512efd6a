//! Sending a message through Twilio's Messages REST API, or any provider that speaks it, and
//! asking it whether a message whose answer was lost was accepted after all.
//!
//! The send request (path, Basic auth, form encoding) is built by twilio-async. Its client is
//! fixed to api.twilio.com and cannot set `StatusCallback`, so the request is re-pointed at
//! `TWILIO_API_BASE` and sent with the hyper client twilio-async itself is built on. The
//! `StatusCallback` carries our outbox id (`?outbox=`), so a delivery report can settle a row
//! whose answer never came back.

use std::time::Duration;

use hyper_tls::HttpsConnector;
use twilio_async::{Execute, Twilio};

/// 10 s: a send that takes longer is treated as failed and retried; Twilio answers in well
/// under a second.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a message is sent from: a number, or a Messaging Service that picks one.
#[derive(Debug, Clone, Copy)]
pub enum Sender<'a> {
    Number(&'a str),
    MessagingService(&'a str),
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// 4xx: the provider refused this message; sending it again will not help. `message` is the
    /// provider's own words, which may quote the number: it is stored masked, never logged.
    #[error("provider rejected the message: HTTP {status}, code {code:?}")]
    Rejected { status: u16, code: Option<i64>, message: String },
    /// 5xx, or the provider could not be reached: it did not take the message; worth retrying.
    #[error("temporary failure: {0}")]
    Temporary(String),
    /// The answer was lost (a timeout, a broken connection, an unreadable 2xx): the provider
    /// may have accepted the message. Ask it ([`TwilioRest::find_sent`]) before sending again.
    #[error("no answer from the provider ({0}); it may have accepted the message")]
    Unknown(String),
}

pub struct TwilioRest {
    twilio: Twilio,
    account_sid: String,
    auth_token: String,
    api_base: String,
    status_callback: Option<String>,
    client: hyper014::Client<HttpsConnector<hyper014::client::HttpConnector>>,
    timeout: Duration,
}

#[derive(serde::Deserialize)]
struct Accepted {
    sid: String,
}

/// One page of the Messages list, as far as finding our own message needs.
#[derive(serde::Deserialize)]
struct MessagePage {
    #[serde(default)]
    messages: Vec<ListedMessage>,
}

#[derive(serde::Deserialize)]
struct ListedMessage {
    sid: String,
    #[serde(default)]
    body: Option<String>,
    /// RFC 2822, e.g. `Mon, 30 Nov 2026 20:00:00 +0000`.
    #[serde(default)]
    date_created: Option<String>,
}

/// A refusal: Twilio's own shape (`code`, `message`), or a problem document (RFC 9457:
/// `title`, `detail`) as API gateways and stand-ins answer.
#[derive(serde::Deserialize)]
struct Refused {
    code: Option<i64>,
    message: Option<String>,
    title: Option<String>,
    detail: Option<String>,
}

impl TwilioRest {
    /// # Errors
    /// When twilio-async refuses the credentials (they must form a valid header).
    pub fn new(
        account_sid: &str,
        auth_token: &str,
        api_base: &str,
        status_callback: Option<String>,
    ) -> anyhow::Result<Self> {
        let twilio = Twilio::new(account_sid, auth_token).map_err(|e| anyhow::anyhow!("Twilio credentials: {e:?}"))?;
        let client = hyper014::Client::builder().build(HttpsConnector::new());
        Ok(Self {
            twilio,
            account_sid: account_sid.to_owned(),
            auth_token: auth_token.to_owned(),
            api_base: api_base.trim_end_matches('/').to_owned(),
            status_callback,
            client,
            timeout: SEND_TIMEOUT,
        })
    }

    /// The same client giving up on an answer after `timeout` (tests use a short one).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sends one SMS for outbox row `outbox_id`; returns the provider's message id.
    ///
    /// # Errors
    /// `Rejected` for a 4xx answer, `Temporary` for a 5xx, `Unknown` when the answer was lost.
    pub async fn send(&self, from: Sender<'_>, to: &str, body: &str, outbox_id: &str) -> Result<String, SendError> {
        // Built in a block: the serializer is not Send and must not live across an await.
        let form = {
            let mut form = form_urlencoded::Serializer::new(String::new());
            form.append_pair("To", to);
            match from {
                Sender::Number(n) => form.append_pair("From", n),
                Sender::MessagingService(sid) => form.append_pair("MessagingServiceSid", sid),
            };
            form.append_pair("Body", body);
            if let Some(url) = &self.status_callback {
                let marked: String =
                    form_urlencoded::Serializer::new(String::new()).append_pair("outbox", outbox_id).finish();
                form.append_pair("StatusCallback", &format!("{url}?{marked}"));
            }
            form.finish()
        };
        let from_number = match from {
            Sender::Number(n) => n,
            Sender::MessagingService(_) => "",
        };
        let request = self
            .twilio
            .send_msg(from_number, to, body)
            .request(hyper014::Method::POST, "Messages.json", Some(form))
            .map_err(|e| SendError::Temporary(format!("building the request: {e:?}")))?;
        let (mut parts, request_body) = request.into_parts();
        parts.uri = self.uri("Messages.json")?;
        let (status, bytes) = self.exchange(hyper014::Request::from_parts(parts, request_body)).await?;
        match status {
            200..=299 => serde_json::from_slice::<Accepted>(&bytes)
                .map(|a| a.sid)
                .map_err(|e| SendError::Unknown(format!("unreadable answer: {e}"))),
            400..=499 => Err(refused(status, &bytes)),
            _ => Err(SendError::Temporary(format!("HTTP {status}"))),
        }
    }

    /// Our message to `to` with this `body`, created at or after `since_ms`, if the provider
    /// has it: how a send whose answer was lost is settled without sending twice.
    ///
    /// # Errors
    /// When the provider cannot be asked (`Temporary` or `Unknown`) or refuses (`Rejected`).
    pub async fn find_sent(&self, to: &str, body: &str, since_ms: i64) -> Result<Option<String>, SendError> {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("To", to)
            .append_pair("PageSize", "50")
            .finish();
        let request = hyper014::Request::get(self.uri(&format!("Messages.json?{query}"))?)
            .header("authorization", self.basic_auth())
            .body(hyper014::Body::empty())
            .map_err(|e| SendError::Temporary(format!("building the lookup: {e}")))?;
        let (status, bytes) = self.exchange(request).await?;
        match status {
            200..=299 => {
                let page: MessagePage = serde_json::from_slice(&bytes)
                    .map_err(|e| SendError::Temporary(format!("unreadable message list: {e}")))?;
                // A minute of slack: the provider's clock and ours need not agree to the second.
                let since = jiff::Timestamp::from_millisecond(since_ms - 60_000).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
                Ok(page.messages.into_iter().find_map(|m| {
                    let created = m.date_created.as_deref().and_then(parse_rfc2822);
                    let recent = created.is_none_or(|at| at >= since);
                    (m.body.as_deref() == Some(body) && recent).then_some(m.sid)
                }))
            }
            400..=499 => Err(refused(status, &bytes)),
            _ => Err(SendError::Temporary(format!("HTTP {status}"))),
        }
    }

    fn uri(&self, resource: &str) -> Result<hyper014::Uri, SendError> {
        format!("{}/2010-04-01/Accounts/{}/{resource}", self.api_base, self.account_sid)
            .parse()
            .map_err(|e| SendError::Temporary(format!("TWILIO_API_BASE gives a bad URL: {e}")))
    }

    fn basic_auth(&self) -> String {
        use base64::Engine as _;
        let credentials = format!("{}:{}", self.account_sid, self.auth_token);
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(credentials))
    }

    /// One request and its whole answer, within the timeout ([`SEND_TIMEOUT`] unless set).
    async fn exchange(
        &self,
        request: hyper014::Request<hyper014::Body>,
    ) -> Result<(u16, hyper014::body::Bytes), SendError> {
        let exchange = async {
            let response = self.client.request(request).await?;
            let status = response.status().as_u16();
            let bytes = hyper014::body::to_bytes(response.into_body()).await?;
            Ok::<_, hyper014::Error>((status, bytes))
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Err(_) => Err(SendError::Unknown("timed out".into())),
            // Refused before anything was sent: the provider has nothing of ours.
            Ok(Err(e)) if e.is_connect() => Err(SendError::Temporary(e.to_string())),
            Ok(Err(e)) => Err(SendError::Unknown(e.to_string())),
            Ok(Ok(answer)) => Ok(answer),
        }
    }
}

fn refused(status: u16, bytes: &[u8]) -> SendError {
    let refused: Refused =
        serde_json::from_slice(bytes).unwrap_or(Refused { code: None, message: None, title: None, detail: None });
    let message = refused.message.or(refused.detail).or(refused.title).unwrap_or_default();
    SendError::Rejected { status, code: refused.code, message }
}

/// `Mon, 30 Nov 2026 20:00:00 +0000`, the date format of Twilio's resources.
fn parse_rfc2822(text: &str) -> Option<jiff::Timestamp> {
    jiff::fmt::rfc2822::parse(text).ok().map(|zoned| zoned.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twilio_dates_parse() {
        let at = parse_rfc2822("Mon, 30 Nov 2026 20:00:00 +0000").unwrap();
        assert_eq!(at.as_millisecond(), 1_796_068_800_000);
        assert!(parse_rfc2822("yesterday").is_none());
    }
}
