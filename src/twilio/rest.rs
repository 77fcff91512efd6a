//! Sending a message through Twilio's Messages REST API, or any provider that speaks it.
//!
//! The request (path, Basic auth, form encoding) is built by twilio-async. Its client is fixed
//! to api.twilio.com and cannot set `StatusCallback`, so the request is re-pointed at
//! `TWILIO_API_BASE` and sent with the hyper client twilio-async itself is built on.

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
    /// 4xx: the provider refused this message; sending it again will not help.
    #[error("provider rejected the message: HTTP {status}, code {code:?}: {message}")]
    Rejected { status: u16, code: Option<i64>, message: String },
    /// 5xx, timeout or network: worth retrying.
    #[error("temporary failure: {0}")]
    Temporary(String),
}

pub struct TwilioRest {
    twilio: Twilio,
    account_sid: String,
    api_base: String,
    status_callback: Option<String>,
    client: hyper014::Client<HttpsConnector<hyper014::client::HttpConnector>>,
}

#[derive(serde::Deserialize)]
struct Accepted {
    sid: String,
}

#[derive(serde::Deserialize)]
struct Refused {
    code: Option<i64>,
    message: Option<String>,
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
            api_base: api_base.trim_end_matches('/').to_owned(),
            status_callback,
            client,
        })
    }

    /// Sends one SMS; returns the provider's message id.
    ///
    /// # Errors
    /// `Rejected` for a 4xx answer, `Temporary` for anything worth retrying.
    pub async fn send(&self, from: Sender<'_>, to: &str, body: &str) -> Result<String, SendError> {
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
                form.append_pair("StatusCallback", url);
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
        let uri = format!("{}/2010-04-01/Accounts/{}/Messages.json", self.api_base, self.account_sid);
        parts.uri = uri.parse().map_err(|e| SendError::Temporary(format!("TWILIO_API_BASE gives a bad URL: {e}")))?;
        let exchange = async {
            let response = self.client.request(hyper014::Request::from_parts(parts, request_body)).await?;
            let status = response.status().as_u16();
            let bytes = hyper014::body::to_bytes(response.into_body()).await?;
            Ok::<_, hyper014::Error>((status, bytes))
        };
        let (status, bytes) = match tokio::time::timeout(SEND_TIMEOUT, exchange).await {
            Err(_) => return Err(SendError::Temporary("timed out".into())),
            Ok(Err(e)) => return Err(SendError::Temporary(e.to_string())),
            Ok(Ok(answer)) => answer,
        };
        match status {
            200..=299 => serde_json::from_slice::<Accepted>(&bytes)
                .map(|a| a.sid)
                .map_err(|e| SendError::Temporary(format!("unreadable answer: {e}"))),
            400..=499 => {
                let refused: Refused = serde_json::from_slice(&bytes).unwrap_or(Refused { code: None, message: None });
                Err(SendError::Rejected { status, code: refused.code, message: refused.message.unwrap_or_default() })
            }
            _ => Err(SendError::Temporary(format!("HTTP {status}"))),
        }
    }
}
