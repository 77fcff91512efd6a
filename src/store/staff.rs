//! Staff accounts, their console sessions and failed sign-ins. Passwords arrive here already
//! hashed and session tokens already hashed (`auth` does both): a read of these tables yields
//! neither a password nor a usable cookie.

use sqlx::FromRow;

use super::{corrupt, Store, StoreError};
use crate::domain::staff::Roles;

/// A staff member as stored.
#[derive(Debug, Clone)]
pub struct User {
    pub user_id: String,
    pub email: String,
    pub display_name: String,
    pub roles: Roles,
    pub password_hash: String,
    pub disabled: bool,
    /// Failed sign-ins in a row.
    pub failed_logins: i64,
    pub locked_until_ms: Option<i64>,
}

#[derive(FromRow)]
struct UserRow {
    user_id: String,
    email: String,
    display_name: String,
    roles: String,
    password_hash: String,
    disabled_at_ms: Option<i64>,
    failed_logins: i64,
    locked_until_ms: Option<i64>,
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;

    fn try_from(r: UserRow) -> Result<Self, StoreError> {
        let codes: Vec<String> = serde_json::from_str(&r.roles).map_err(|e| corrupt("staff roles", e))?;
        let roles = Roles::parse(codes.iter().map(String::as_str)).map_err(|code| corrupt("staff role", code))?;
        Ok(Self {
            user_id: r.user_id,
            email: r.email,
            display_name: r.display_name,
            roles,
            password_hash: r.password_hash,
            disabled: r.disabled_at_ms.is_some(),
            failed_logins: r.failed_logins,
            locked_until_ms: r.locked_until_ms,
        })
    }
}

/// A new account; `password_hash` is argon2id's PHC string.
pub struct NewUser<'a> {
    pub email: &'a str,
    pub display_name: &'a str,
    pub password_hash: &'a str,
    pub roles: &'a Roles,
}

/// A live session with its staff member.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: User,
    pub csrf_token: String,
    pub created_at_ms: i64,
    pub last_seen_at_ms: i64,
    pub expires_at_ms: i64,
}

const COLUMNS: &str =
    "user_id, email, display_name, roles, password_hash, disabled_at_ms, failed_logins, locked_until_ms";
const INSERT: &str = "insert into staff_user (user_id, email, display_name, password_hash, roles, created_at_ms,
        password_changed_at_ms) values ($1, $2, $3, $4, $5, $6, $6)";
const SET_ROLES: &str = "update staff_user set roles = $2 where user_id = $1";
const SET_DISABLED: &str = "update staff_user set disabled_at_ms = $2 where user_id = $1";
const SET_PASSWORD: &str = "update staff_user set password_hash = $2, password_changed_at_ms = $3, failed_logins = 0,
        locked_until_ms = null where user_id = $1";
const FAILED: &str = "update staff_user set failed_logins = failed_logins + 1, locked_until_ms = $2 where user_id = $1";
const SUCCEEDED: &str = "update staff_user set failed_logins = 0, locked_until_ms = null where user_id = $1";
const IP_FAILURE: &str = "insert into login_failure (ip, at_ms) values ($1, $2)";
const IP_FAILURES: &str = "select count(*) from login_failure where ip = $1 and at_ms >= $2";
const PRUNE_IP_FAILURES: &str = "delete from login_failure where at_ms < $1";
const INSERT_SESSION: &str = "insert into staff_session (token_hash, user_id, csrf_token, created_at_ms,
        last_seen_at_ms, expires_at_ms) values ($1, $2, $3, $4, $4, $5)";
const SESSION: &str = "select s.csrf_token, s.created_at_ms, s.last_seen_at_ms, s.expires_at_ms, u.user_id, u.email,
        u.display_name, u.roles, u.password_hash, u.disabled_at_ms, u.failed_logins, u.locked_until_ms
    from staff_session s join staff_user u on u.user_id = s.user_id
    where s.token_hash = $1 and s.revoked_at_ms is null";
const TOUCH_SESSION: &str = "update staff_session set last_seen_at_ms = $2 where token_hash = $1";
const REVOKE_SESSION: &str =
    "update staff_session set revoked_at_ms = $2 where token_hash = $1 and revoked_at_ms is null";
const REVOKE_ALL: &str = "update staff_session set revoked_at_ms = $2 where user_id = $1 and revoked_at_ms is null";

#[derive(FromRow)]
struct SessionRow {
    csrf_token: String,
    created_at_ms: i64,
    last_seen_at_ms: i64,
    expires_at_ms: i64,
    #[sqlx(flatten)]
    user: UserRow,
}

/// Creates an account; returns its id, or `None` when the email is taken.
///
/// # Errors
/// Database failures.
pub async fn insert(store: &Store, u: &NewUser<'_>) -> Result<Option<String>, StoreError> {
    if find_by_email(store, u.email).await?.is_some() {
        return Ok(None);
    }
    let id = crate::new_id();
    let roles = serde_json::to_string(&u.roles.codes()).expect("role codes serialize");
    let inserted = sqlx::query(INSERT)
        .bind(&id)
        .bind(u.email.to_lowercase())
        .bind(u.display_name)
        .bind(u.password_hash)
        .bind(roles)
        .bind(store.now_ms())
        .execute(store.pool())
        .await;
    match inserted {
        Ok(_) => Ok(Some(id)),
        // Another command took the address between the read and the write.
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// # Errors
/// Database failures.
pub async fn find_by_email(store: &Store, email: &str) -> Result<Option<User>, StoreError> {
    let sql = format!("select {COLUMNS} from staff_user where email = $1");
    let row: Option<UserRow> =
        sqlx::query_as(&sql).bind(email.trim().to_lowercase()).fetch_optional(store.pool()).await?;
    row.map(User::try_from).transpose()
}

/// # Errors
/// Database failures.
pub async fn find(store: &Store, user_id: &str) -> Result<Option<User>, StoreError> {
    let sql = format!("select {COLUMNS} from staff_user where user_id = $1");
    let row: Option<UserRow> = sqlx::query_as(&sql).bind(user_id).fetch_optional(store.pool()).await?;
    row.map(User::try_from).transpose()
}

/// Every account, by email.
///
/// # Errors
/// Database failures.
pub async fn list(store: &Store) -> Result<Vec<User>, StoreError> {
    let sql = format!("select {COLUMNS} from staff_user order by email");
    let rows: Vec<UserRow> = sqlx::query_as(&sql).fetch_all(store.pool()).await?;
    rows.into_iter().map(User::try_from).collect()
}

/// # Errors
/// Database failures.
pub async fn set_roles(store: &Store, user_id: &str, roles: &Roles) -> Result<(), StoreError> {
    let roles = serde_json::to_string(&roles.codes()).expect("role codes serialize");
    sqlx::query(SET_ROLES).bind(user_id).bind(roles).execute(store.pool()).await?;
    Ok(())
}

/// Disables (or re-enables) an account; disabling also ends its sessions.
///
/// # Errors
/// Database failures.
pub async fn set_disabled(store: &Store, user_id: &str, disabled: bool) -> Result<(), StoreError> {
    let now = store.now_ms();
    let mut tx = store.begin().await?;
    sqlx::query(SET_DISABLED).bind(user_id).bind(disabled.then_some(now)).execute(&mut *tx).await?;
    if disabled {
        sqlx::query(REVOKE_ALL).bind(user_id).bind(now).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Sets a new password hash, clears the lockout and ends every session.
///
/// # Errors
/// Database failures.
pub async fn set_password(store: &Store, user_id: &str, password_hash: &str) -> Result<(), StoreError> {
    let now = store.now_ms();
    let mut tx = store.begin().await?;
    sqlx::query(SET_PASSWORD).bind(user_id).bind(password_hash).bind(now).execute(&mut *tx).await?;
    sqlx::query(REVOKE_ALL).bind(user_id).bind(now).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(())
}

/// Counts a failed sign-in against the account (with the lock the caller computed).
///
/// # Errors
/// Database failures.
pub async fn record_failure(store: &Store, user_id: &str, locked_until_ms: Option<i64>) -> Result<(), StoreError> {
    sqlx::query(FAILED).bind(user_id).bind(locked_until_ms).execute(store.pool()).await?;
    Ok(())
}

/// # Errors
/// Database failures.
pub async fn record_success(store: &Store, user_id: &str) -> Result<(), StoreError> {
    sqlx::query(SUCCEEDED).bind(user_id).execute(store.pool()).await?;
    Ok(())
}

/// Counts a failed sign-in from a network; rows older than `keep_since_ms` are pruned.
///
/// # Errors
/// Database failures.
pub async fn record_ip_failure(store: &Store, ip: &str, keep_since_ms: i64) -> Result<(), StoreError> {
    let mut tx = store.begin().await?;
    sqlx::query(PRUNE_IP_FAILURES).bind(keep_since_ms).execute(&mut *tx).await?;
    sqlx::query(IP_FAILURE).bind(ip).bind(store.now_ms()).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(())
}

/// Failed sign-ins from `ip` since `since_ms`.
///
/// # Errors
/// Database failures.
pub async fn ip_failures(store: &Store, ip: &str, since_ms: i64) -> Result<i64, StoreError> {
    let (n,): (i64,) = sqlx::query_as(IP_FAILURES).bind(ip).bind(since_ms).fetch_one(store.pool()).await?;
    Ok(n)
}

/// Stores a new session under its token's hash.
///
/// # Errors
/// Database failures.
pub async fn insert_session(
    store: &Store,
    token_hash: &str,
    user_id: &str,
    csrf_token: &str,
    expires_at_ms: i64,
) -> Result<(), StoreError> {
    sqlx::query(INSERT_SESSION)
        .bind(token_hash)
        .bind(user_id)
        .bind(csrf_token)
        .bind(store.now_ms())
        .bind(expires_at_ms)
        .execute(store.pool())
        .await?;
    Ok(())
}

/// The session with this token hash, unless revoked (expiry is the caller's to judge).
///
/// # Errors
/// Database failures.
pub async fn session(store: &Store, token_hash: &str) -> Result<Option<Session>, StoreError> {
    let row: Option<SessionRow> = sqlx::query_as(SESSION).bind(token_hash).fetch_optional(store.pool()).await?;
    row.map(|r| {
        Ok(Session {
            user: User::try_from(r.user)?,
            csrf_token: r.csrf_token,
            created_at_ms: r.created_at_ms,
            last_seen_at_ms: r.last_seen_at_ms,
            expires_at_ms: r.expires_at_ms,
        })
    })
    .transpose()
}

/// # Errors
/// Database failures.
/// An open console says its staff member is there (see `queue::staffing`); unlike a request,
/// it does not keep the session from idling out.
///
/// # Errors
/// Database failures.
pub async fn mark_present(store: &Store, token_hash: &str) -> Result<(), StoreError> {
    sqlx::query("update staff_session set present_at_ms = $2 where token_hash = $1")
        .bind(token_hash)
        .bind(store.now_ms())
        .execute(store.pool())
        .await?;
    Ok(())
}

/// # Errors
/// Database failures.
pub async fn touch_session(store: &Store, token_hash: &str) -> Result<(), StoreError> {
    sqlx::query(TOUCH_SESSION).bind(token_hash).bind(store.now_ms()).execute(store.pool()).await?;
    Ok(())
}

/// # Errors
/// Database failures.
pub async fn revoke_session(store: &Store, token_hash: &str) -> Result<(), StoreError> {
    sqlx::query(REVOKE_SESSION).bind(token_hash).bind(store.now_ms()).execute(store.pool()).await?;
    Ok(())
}

/// Ends every session of the account ("sign out everywhere").
///
/// # Errors
/// Database failures.
pub async fn revoke_all_sessions(store: &Store, user_id: &str) -> Result<u64, StoreError> {
    Ok(sqlx::query(REVOKE_ALL).bind(user_id).bind(store.now_ms()).execute(store.pool()).await?.rows_affected())
}
