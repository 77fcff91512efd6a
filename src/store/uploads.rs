//! Upload links (tokens) and sealed medical documents.

use sqlx::{AnyConnection, FromRow};

use super::{Store, StoreError, Tx};

#[derive(Debug, Clone, FromRow)]
pub struct Token {
    pub token_id: String,
    pub customer_id: String,
    pub conversation_id: Option<String>,
    pub expires_at_ms: i64,
    pub used_at_ms: Option<i64>,
}

/// What using a token found.
pub enum TokenUse {
    Used(Token),
    Unknown,
    Expired,
    AlreadyUsed,
}

pub struct NewUpload<'a> {
    pub upload_id: &'a str,
    pub customer_id: &'a str,
    pub source: &'a str,
    pub token_id: Option<&'a str>,
    pub content_type: &'a str,
    pub size_bytes: usize,
    pub sealed: &'a [u8],
    pub ticket_id: Option<&'a str>,
}

#[derive(Debug, Clone, FromRow)]
pub struct Upload {
    pub upload_id: String,
    pub customer_id: String,
    pub source: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub sealed: Vec<u8>,
    pub ticket_id: Option<String>,
    pub review_status: String,
    pub created_at_ms: i64,
}

const INSERT_TOKEN: &str = "insert into upload_token (token_id, customer_id, conversation_id, expires_at_ms,
        created_at_ms) values ($1, $2, $3, $4, $5)";
const FIND_TOKEN: &str =
    "select token_id, customer_id, conversation_id, expires_at_ms, used_at_ms from upload_token where token_id = $1";
const USE_TOKEN: &str = "update upload_token set used_at_ms = $2
    where token_id = $1 and used_at_ms is null and expires_at_ms > $2";
const INSERT: &str = "insert into upload (upload_id, customer_id, source, token_id, content_type, size_bytes, sealed,
        ticket_id, review_status, created_at_ms) values ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9)";
const FIND: &str = "select upload_id, customer_id, source, content_type, size_bytes, sealed, ticket_id,
        review_status, created_at_ms from upload where upload_id = $1";
const PENDING: &str = "select upload_id, customer_id, source, content_type, size_bytes, sealed, ticket_id,
        review_status, created_at_ms from upload where review_status = 'pending' order by created_at_ms";
const CLOSE_TICKETS: &str = "update ticket set status = 'resolved', resolved_at_ms = $2
    where status = 'open' and ticket_id in (select ticket_id from upload where customer_id = $1 and ticket_id is not null)";
const REVIEW: &str = "update upload set review_status = $2, review_note = $3, reviewed_at_ms = $4
    where customer_id = $1 and review_status = 'pending'";

/// # Errors
/// Database failures.
pub async fn insert_token(
    conn: &mut AnyConnection,
    customer_id: &str,
    conversation_id: Option<&str>,
    expires_at_ms: i64,
    now_ms: i64,
) -> Result<String, StoreError> {
    let id = hex::encode(uuid::Uuid::now_v7().as_bytes());
    sqlx::query(INSERT_TOKEN)
        .bind(&id)
        .bind(customer_id)
        .bind(conversation_id)
        .bind(expires_at_ms)
        .bind(now_ms)
        .execute(conn)
        .await?;
    Ok(id)
}

/// # Errors
/// Database failures.
pub async fn find_token(store: &Store, token_id: &str) -> Result<Option<Token>, StoreError> {
    Ok(sqlx::query_as(FIND_TOKEN).bind(token_id).fetch_optional(store.pool()).await?)
}

/// Uses a token up, if it is unused and unexpired (one conditional update: two uploads racing
/// on one link cannot both win).
///
/// # Errors
/// Database failures.
pub async fn use_token(tx: &mut Tx<'_>, token_id: &str, now_ms: i64) -> Result<TokenUse, StoreError> {
    let token: Option<Token> = sqlx::query_as(FIND_TOKEN).bind(token_id).fetch_optional(&mut **tx).await?;
    let Some(token) = token else { return Ok(TokenUse::Unknown) };
    let done = sqlx::query(USE_TOKEN).bind(token_id).bind(now_ms).execute(&mut **tx).await?;
    Ok(match done.rows_affected() {
        1 => TokenUse::Used(token),
        _ if token.used_at_ms.is_some() => TokenUse::AlreadyUsed,
        _ if token.expires_at_ms <= now_ms => TokenUse::Expired,
        _ => TokenUse::AlreadyUsed,
    })
}

/// # Errors
/// Database failures.
pub async fn insert(tx: &mut Tx<'_>, u: &NewUpload<'_>, now_ms: i64) -> Result<(), StoreError> {
    sqlx::query(INSERT)
        .bind(u.upload_id)
        .bind(u.customer_id)
        .bind(u.source)
        .bind(u.token_id)
        .bind(u.content_type)
        .bind(i64::try_from(u.size_bytes).unwrap_or(i64::MAX))
        .bind(u.sealed)
        .bind(u.ticket_id)
        .bind(now_ms)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// # Errors
/// Database failures.
pub async fn find(store: &Store, upload_id: &str) -> Result<Option<Upload>, StoreError> {
    Ok(sqlx::query_as(FIND).bind(upload_id).fetch_optional(store.pool()).await?)
}

/// Uploads waiting for review, oldest first.
///
/// # Errors
/// Database failures.
pub async fn pending(store: &Store) -> Result<Vec<Upload>, StoreError> {
    Ok(sqlx::query_as(PENDING).fetch_all(store.pool()).await?)
}

/// Marks the customer's pending uploads reviewed; returns how many.
///
/// # Errors
/// Database failures.
pub async fn review(
    tx: &mut Tx<'_>,
    customer_id: &str,
    status: &str,
    note: Option<&str>,
    now_ms: i64,
) -> Result<u64, StoreError> {
    let done = sqlx::query(REVIEW).bind(customer_id).bind(status).bind(note).bind(now_ms).execute(&mut **tx).await?;
    Ok(done.rows_affected())
}

/// Resolves the open review tickets of the customer's uploads.
///
/// # Errors
/// Database failures.
pub async fn close_tickets(tx: &mut Tx<'_>, customer_id: &str, now_ms: i64) -> Result<u64, StoreError> {
    let done = sqlx::query(CLOSE_TICKETS).bind(customer_id).bind(now_ms).execute(&mut **tx).await?;
    Ok(done.rows_affected())
}
