//! Medical document review in the browser (verification staff and admins only): the decrypted
//! document (`GET /console/uploads/{id}`, every view audited, never cached) and the decision
//! (`POST /console/uploads/{id}/review`), which runs the same workflow as the command: approval
//! unlocks checkout and releases held orders, rejection sends a fresh link with the reason;
//! either way the customer is told.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::json;

use super::{problem, refused, Form, Signed};
use crate::domain::staff::Role;
use crate::error::AppError;
use crate::state::AppState;
use crate::store::audit::{self, NewAudit};
use crate::store::uploads;
use crate::verification::{self, Decision, ReviewError};

/// Who may see a medical document.
pub const REVIEWERS: &[Role] = &[Role::Verification];

pub async fn document(
    State(state): State<AppState>,
    Signed(who): Signed,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    if let Some(page) = refused(&state, &who, REVIEWERS) {
        return Ok(page);
    }
    let Some(upload) = uploads::find(&state.store, &id).await? else {
        return Ok(problem(&state, &who, StatusCode::NOT_FOUND, "There is no such document."));
    };
    let Ok(plain) = state.uploads.sealer.open(&upload.upload_id, &upload.sealed) else {
        return Ok(problem(
            &state,
            &who,
            StatusCode::INTERNAL_SERVER_ERROR,
            "This document cannot be opened with this server's key.",
        ));
    };
    let entry = NewAudit {
        actor: &who.email,
        action: "document_viewed",
        target: &upload.upload_id,
        detail: json!({ "customer": upload.customer_id, "content_type": upload.content_type }),
        ip: "",
    };
    audit::append(&state.store, &entry).await?;
    // Images show in the page; a PDF or a HEIC photo (which browsers do not show) downloads.
    let disposition = if matches!(upload.content_type.as_str(), "image/jpeg" | "image/png") {
        "inline".to_owned()
    } else {
        let extension = if upload.content_type == "application/pdf" { "pdf" } else { "heic" };
        format!(
            "attachment; filename=\"document-{}.{extension}\"",
            &upload.upload_id[upload.upload_id.len().saturating_sub(8)..]
        )
    };
    let headers = [
        (header::CONTENT_TYPE, upload.content_type.clone()),
        (header::CONTENT_DISPOSITION, disposition),
        (header::CACHE_CONTROL, "no-store".to_owned()),
    ];
    Ok((headers, plain).into_response())
}

pub async fn decide(
    State(state): State<AppState>,
    Signed(who): Signed,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, AppError> {
    let form = match Form::from(&state, &who, REVIEWERS, &body) {
        Ok(form) => form,
        Err(page) => return Ok(*page),
    };
    let Some(upload) = uploads::find(&state.store, &id).await? else {
        return Ok(problem(&state, &who, StatusCode::NOT_FOUND, "There is no such document."));
    };
    let decision = match (form.get("decision"), form.get("reason")) {
        (Some("approve"), _) => Decision::Approve { expires_on: form.get("expires_on") },
        (Some("reject"), Some(reason)) => Decision::Reject { reason },
        (Some("reject"), None) => {
            let why = "Say why the document cannot be accepted: the customer reads it, with a new link.";
            return Ok(problem(&state, &who, StatusCode::UNPROCESSABLE_ENTITY, why));
        }
        _ => return Ok(problem(&state, &who, StatusCode::UNPROCESSABLE_ENTITY, "Choose approve or reject.")),
    };
    let assets = state.library.get();
    let staff = who.display_name.clone();
    match verification::review(&state.store, &assets, &state.uploads, &upload.customer_id, decision, &staff).await {
        Ok(_) => {
            let entry = NewAudit {
                actor: &who.email,
                action: "document_reviewed",
                target: &upload.upload_id,
                detail: json!({ "customer": upload.customer_id, "decision": form.get("decision") }),
                ip: "",
            };
            audit::append(&state.store, &entry).await?;
            let back = upload.ticket_id.map_or_else(|| "/console".to_owned(), |t| format!("/console/tickets/{t}"));
            Ok(Redirect::to(&back).into_response())
        }
        Err(ReviewError::Store(e)) => Err(e.into()),
        Err(e) => {
            let message = e.to_string().replace("--expires", "The expiry date");
            Ok(problem(&state, &who, StatusCode::UNPROCESSABLE_ENTITY, &format!("{message}.")))
        }
    }
}
