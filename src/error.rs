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
    /// Any 4xx with its own code, for APIs that name each problem (the events API).
    #[error("{message}")]
    Rejected { status: StatusCode, code: &'static str, message: String },
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
            Self::Rejected { status, .. } => *status,
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

impl AppError {
    /// A 4xx with its code and a message saying what to fix.
    pub fn rejected(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self::Rejected { status, code, message: message.into() }
    }
}

impl From<crate::store::StoreError> for AppError {
    fn from(err: crate::store::StoreError) -> Self {
        Self::Internal(err.into())
    }
}

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
