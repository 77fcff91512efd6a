//! Staff sign-in and sessions: checking a password with lockout and backoff (per account and
//! per network), creating, reading and ending sessions, and the CSRF token each session
//! carries. Every sign-in, failure and sign-out is written to the audit log.
//!
//! Owns who is signed in. What a role may do is the console's; passwords' rules are [`password`].

pub mod password;
pub mod users;

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::domain::staff::Roles;
use crate::store::audit::{self, NewAudit};
use crate::store::staff::{self, User};
use crate::store::{Store, StoreError};

/// 5 failed sign-ins in a row lock the account, for a minute, doubling with each further
/// failure.
const LOCK_AFTER: i64 = 5;
/// 1 hour: the longest lock; a person who forgot their password asks an admin sooner.
const MAX_LOCK_MS: i64 = 3_600_000;
/// 20 failed sign-ins from one network in 15 minutes pause sign-in from it for those minutes:
/// more than a team mistyping, fewer than a password-guessing run needs.
const IP_MAX_FAILURES: i64 = 20;
const IP_WINDOW_MS: i64 = 15 * 60_000;
/// 2 hours without a request end a session (a console left open over lunch survives, one left
/// at the end of a shift does not).
pub const IDLE_MS: i64 = 2 * 3_600_000;
/// 12 hours: a session never outlives a long shift.
pub const ABSOLUTE_MS: i64 = 12 * 3_600_000;
/// Last-seen is written at most once a minute per session, not on every request.
const TOUCH_EVERY_MS: i64 = 60_000;

/// A signed-in staff member, as every console route sees them.
#[derive(Debug, Clone)]
pub struct Staff {
    pub user_id: String,
    pub email: String,
    pub display_name: String,
    pub roles: Roles,
    /// The session's CSRF token: every form carries it.
    pub csrf_token: String,
    /// The hash of the session's cookie token (to end this session).
    pub session: String,
}

/// A new session: the cookie's token (shown once) and who it is for.
pub struct Started {
    pub token: String,
    pub staff: Staff,
}

#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// Wrong email or password, or a disabled account: the same answer for each.
    #[error("wrong email or password")]
    Invalid,
    #[error("too many failed sign-ins for this account; try again in {minutes} minute(s)")]
    Locked { minutes: i64 },
    #[error("too many failed sign-ins from this network; try again in {minutes} minute(s)")]
    Network { minutes: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Signs `email` in with `password` from network `ip`.
///
/// # Errors
/// Why the sign-in was refused (see [`SignInError`]).
pub async fn sign_in(store: &Store, email: &str, password: &str, ip: &str) -> Result<Started, SignInError> {
    let now = store.now_ms();
    if staff::ip_failures(store, ip, now - IP_WINDOW_MS).await? >= IP_MAX_FAILURES {
        return Err(SignInError::Network { minutes: IP_WINDOW_MS / 60_000 });
    }
    let user = staff::find_by_email(store, email).await?;
    if let Some(until) = user.as_ref().and_then(|u| u.locked_until_ms).filter(|until| *until > now) {
        return Err(SignInError::Locked { minutes: ((until - now) + 59_999) / 60_000 });
    }
    let phc = user.as_ref().map_or_else(|| password::decoy().to_owned(), |u| u.password_hash.clone());
    let attempt = password.to_owned();
    let matches = tokio::task::spawn_blocking(move || password::verify(&attempt, &phc)).await.unwrap_or(false);
    let user = match user {
        Some(user) if matches && !user.disabled => user,
        found => {
            staff::record_ip_failure(store, ip, now - IP_WINDOW_MS).await?;
            if let Some(user) = &found {
                let failures = user.failed_logins + 1;
                let locked_until = (failures >= LOCK_AFTER).then(|| {
                    let doublings = u32::try_from(failures - LOCK_AFTER).unwrap_or(u32::MAX).min(6);
                    now + (60_000_i64 << doublings).min(MAX_LOCK_MS)
                });
                staff::record_failure(store, &user.user_id, locked_until).await?;
            }
            let detail = serde_json::json!({ "known_account": found.is_some() });
            let entry = NewAudit { actor: &email.to_lowercase(), action: "sign_in_failed", target: "", detail, ip };
            audit::append(store, &entry).await?;
            return Err(SignInError::Invalid);
        }
    };
    staff::record_success(store, &user.user_id).await?;
    let started = start_session(store, &user).await?;
    let entry = NewAudit { actor: &user.email, action: "sign_in", target: "", detail: serde_json::json!({}), ip };
    audit::append(store, &entry).await?;
    Ok(started)
}

/// A fresh session for `user` (a sign-in always gets a new token: no fixation).
async fn start_session(store: &Store, user: &User) -> Result<Started, StoreError> {
    let token = random_token();
    let csrf = random_token();
    let token_hash = hash_token(&token);
    staff::insert_session(store, &token_hash, &user.user_id, &csrf, store.now_ms() + ABSOLUTE_MS).await?;
    let staff = Staff {
        user_id: user.user_id.clone(),
        email: user.email.clone(),
        display_name: user.display_name.clone(),
        roles: user.roles.clone(),
        csrf_token: csrf,
        session: token_hash,
    };
    Ok(Started { token, staff })
}

/// Who holds the cookie `token`: `None` when unknown, ended, idle too long, past its absolute
/// expiry, or the account is disabled.
///
/// # Errors
/// Database failures.
pub async fn authenticate(store: &Store, token: &str) -> Result<Option<Staff>, StoreError> {
    let token_hash = hash_token(token);
    let Some(session) = staff::session(store, &token_hash).await? else { return Ok(None) };
    let now = store.now_ms();
    if session.user.disabled || now >= session.expires_at_ms || now - session.last_seen_at_ms >= IDLE_MS {
        return Ok(None);
    }
    if now - session.last_seen_at_ms >= TOUCH_EVERY_MS {
        staff::touch_session(store, &token_hash).await?;
    }
    let user = session.user;
    Ok(Some(Staff {
        user_id: user.user_id,
        email: user.email,
        display_name: user.display_name,
        roles: user.roles,
        csrf_token: session.csrf_token,
        session: token_hash,
    }))
}

/// Ends this session, or with `everywhere` every session of the account.
///
/// # Errors
/// Database failures.
pub async fn sign_out(store: &Store, who: &Staff, everywhere: bool, ip: &str) -> Result<(), StoreError> {
    if everywhere {
        staff::revoke_all_sessions(store, &who.user_id).await?;
    } else {
        staff::revoke_session(store, &who.session).await?;
    }
    let action = if everywhere { "sign_out_everywhere" } else { "sign_out" };
    let entry = NewAudit { actor: &who.email, action, target: "", detail: serde_json::json!({}), ip };
    audit::append(store, &entry).await
}

/// Whether a submitted CSRF token is the session's (compared in constant time).
pub fn csrf_ok(who: &Staff, submitted: Option<&str>) -> bool {
    let Some(submitted) = submitted else { return false };
    let (a, b) = (who.csrf_token.as_bytes(), submitted.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// 32 random bytes, URL-safe base64.
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source works");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}
