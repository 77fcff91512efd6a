//! Fetching MMS media from the provider: Twilio's media URLs need the account's Basic auth and
//! redirect to storage that must not get it.
//!
//! Owns the download rules: only URLs under the provider's API base, at most three redirects,
//! a time limit, and a size limit enforced while reading.

use std::time::Duration;

use base64::Engine as _;
use hyper014::body::HttpBody as _;
use hyper_tls::HttpsConnector;

/// 8 s: Twilio waits 15 s for the webhook's answer, and the turn needs the rest; a phone
/// photo downloads in well under a second.
const FETCH_TIMEOUT: Duration = Duration::from_secs(8);
/// 3: Twilio's media URL redirects once, to its storage.
const MAX_REDIRECTS: usize = 3;

/// A redirect's `Location`, made absolute against the URL it came from (RFC 9110 §10.2.2).
fn absolute(current: &str, location: &str) -> String {
    if !location.starts_with('/') {
        return location.to_owned();
    }
    let origin_end = current.find("://").map_or(0, |i| i + 3);
    let host_end = current[origin_end..].find('/').map_or(current.len(), |i| origin_end + i);
    format!("{}{location}", &current[..host_end])
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("media URL is not under the provider's API base")]
    Foreign,
    #[error("media is larger than the limit")]
    TooLarge,
    #[error("fetching media failed: {0}")]
    Failed(String),
}

pub struct MediaFetcher {
    api_base: String,
    /// `Basic …` for the provider's own URLs, when credentials are configured.
    auth: Option<String>,
    client: hyper014::Client<HttpsConnector<hyper014::client::HttpConnector>>,
}

impl MediaFetcher {
    pub fn new(api_base: &str, account_sid: Option<&str>, auth_token: Option<&str>) -> Self {
        let auth = match (account_sid, auth_token) {
            (Some(sid), Some(token)) => {
                Some(format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{sid}:{token}"))))
            }
            _ => None,
        };
        let client = hyper014::Client::builder().build(HttpsConnector::new());
        Self { api_base: api_base.trim_end_matches('/').to_owned(), auth, client }
    }

    /// The media's bytes, at most `max`.
    ///
    /// # Errors
    /// `Foreign` for a URL elsewhere, `TooLarge`, or `Failed` (status, network, timeout).
    pub async fn fetch(&self, url: &str, max: usize) -> Result<Vec<u8>, FetchError> {
        if !url.starts_with(&format!("{}/", self.api_base)) {
            return Err(FetchError::Foreign);
        }
        match tokio::time::timeout(FETCH_TIMEOUT, self.follow(url, max)).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::Failed("timed out".into())),
        }
    }

    async fn follow(&self, url: &str, max: usize) -> Result<Vec<u8>, FetchError> {
        let failed = |e: &dyn std::fmt::Display| FetchError::Failed(e.to_string());
        let mut url = url.to_owned();
        for hop in 0..=MAX_REDIRECTS {
            let mut request = hyper014::Request::get(&url);
            if hop == 0 {
                if let Some(auth) = &self.auth {
                    request = request.header("authorization", auth);
                }
            }
            let request = request.body(hyper014::Body::empty()).map_err(|e| failed(&e))?;
            let mut response = self.client.request(request).await.map_err(|e| failed(&e))?;
            let status = response.status();
            if status.is_redirection() {
                let location = response.headers().get("location").and_then(|v| v.to_str().ok());
                let location = location.ok_or_else(|| FetchError::Failed("redirect without a location".into()))?;
                url = absolute(&url, location);
                continue;
            }
            if !status.is_success() {
                return Err(FetchError::Failed(format!("HTTP {}", status.as_u16())));
            }
            let mut bytes = Vec::new();
            while let Some(chunk) = response.body_mut().data().await {
                bytes.extend_from_slice(&chunk.map_err(|e| failed(&e))?);
                if bytes.len() > max {
                    return Err(FetchError::TooLarge);
                }
            }
            return Ok(bytes);
        }
        Err(FetchError::Failed("too many redirects".into()))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn relative_redirects_resolve_against_the_origin() {
        let from = "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1";
        assert_eq!(super::absolute(from, "/s/photo.jpg"), "https://api.twilio.com/s/photo.jpg");
        assert_eq!(super::absolute(from, "https://s3.example.com/p.jpg"), "https://s3.example.com/p.jpg");
    }
}
