//! The HTTP error type: one enum, one place that turns it into a status and a JSON body.
//!
//! Owns the mapping of failures to responses; modules keep their own error enums and convert.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

pub type Result<T, E = AppError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// 400: the request is well-formed but a field is missing or invalid.
    #[error("invalid {field}: {message}")]
    Validation { field: &'static str, message: String },
    /// 400: the body cannot be read at all (not a form, not UTF-8).
    #[error("{0}")]
    BadRequest(String),
    /// 403: webhook signature missing or wrong (Twilio's own guidance is 403).
    #[error("webhook signature rejected: {0}")]
    BadSignature(&'static str),
    /// 413: the body is larger than any real webhook.
    #[error("request body is larger than {0} bytes")]
    TooLarge(usize),
    /// 415: not a content type this endpoint accepts.
    #[error("unsupported content type {0:?}; send application/x-www-form-urlencoded")]
    UnsupportedMediaType(String),
    /// A 4xx of a named kind, with its own code, for APIs that name each problem.
    #[error("{message}")]
    Rejected { kind: Refused, code: &'static str, message: String },
    /// 500: logged with its cause chain, never shown to the caller.
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Validation { .. } | Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::BadSignature(_) => StatusCode::FORBIDDEN,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Rejected { kind, .. } => kind.status(),
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Validation { .. } => "validation",
            Self::BadRequest(_) => "bad_request",
            Self::BadSignature(_) => "bad_signature",
            Self::TooLarge(_) => "too_large",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::Rejected { code, .. } => code,
            Self::Internal(_) => "internal",
        }
    }
}

/// The kinds of refusal an API answers, each with its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// 400: the body cannot be read as what the call takes.
    Malformed,
    /// 401: a signature or link that does not check out.
    Unauthorized,
    /// 403: not from where it may come (another site's page).
    Forbidden,
    /// 404: what the request names does not exist.
    NotFound,
    /// 409: it would clash with what exists.
    Conflict,
    /// 415: a content type the call does not take.
    UnsupportedMediaType,
    /// 422: well-formed, but a field is missing or invalid.
    Unprocessable,
    /// 429: too many, too fast.
    TooManyRequests,
}

impl Refused {
    pub fn status(self) -> StatusCode {
        match self {
            Self::Malformed => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Conflict => StatusCode::CONFLICT,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
        }
    }
}

impl AppError {
    /// A 4xx of `kind` with its code and a message saying what to fix.
    pub fn rejected(kind: Refused, code: &'static str, message: impl Into<String>) -> Self {
        Self::Rejected { kind, code, message: message.into() }
    }
}

/// Failures of the layers below, each a 500 (logged with its cause, never shown).
macro_rules! internal_from {
    ($($error:ty),* $(,)?) => {
        $(impl From<$error> for AppError {
            fn from(err: $error) -> Self {
                Self::Internal(err.into())
            }
        })*
    };
}

internal_from!(
    crate::store::StoreError,
    crate::pipeline::PipelineError,
    handlebars::RenderError,
    crate::templates::TemplateError,
    crate::domain::DomainError,
    crate::domain::commerce::CommerceError,
);

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = ?self, "request failed");
        }
        let body = serde_json::json!({ "error": { "code": self.code(), "message": self.to_string() } });
        (status, Json(body)).into_response()
    }
}
