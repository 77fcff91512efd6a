//! Managing staff accounts (the `user` command and the admin page): adding, roles, disabling,
//! password resets. Each change is checked here and written to the audit log with who made it.

use super::password::{self, Weak};
use crate::domain::staff::Roles;
use crate::store::audit::{self, NewAudit};
use crate::store::staff::{self, NewUser, User};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("{0:?} is not an email address")]
    BadEmail(String),
    #[error("an account with this email exists already")]
    Taken,
    #[error("give at least one role: csr, lead, verification, inventory, it, marketing or admin")]
    NoRoles,
    #[error("no account with email {0:?}")]
    NotFound(String),
    #[error("the last admin cannot lose the admin role or be disabled")]
    LastAdmin,
    #[error(transparent)]
    Weak(#[from] Weak),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Who makes a change, for the audit log.
pub struct Actor<'a> {
    /// The staff member's email, or `cli`.
    pub name: &'a str,
    pub ip: &'a str,
}

fn checked_email(email: &str) -> Result<String, UserError> {
    let email = email.trim().to_lowercase();
    let ok = email.split_once('@').is_some_and(|(name, domain)| {
        !name.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
    }) && !email.chars().any(char::is_whitespace)
        && email.len() <= 254;
    if ok {
        Ok(email)
    } else {
        Err(UserError::BadEmail(email))
    }
}

async fn record(
    store: &Store,
    by: &Actor<'_>,
    action: &str,
    target: &str,
    detail: serde_json::Value,
) -> Result<(), StoreError> {
    audit::append(store, &NewAudit { actor: by.name, action, target, detail, ip: by.ip }).await
}

/// Adds an account; returns its id.
///
/// # Errors
/// A bad email, no roles, a weak password, an email taken.
pub async fn add(
    store: &Store,
    by: &Actor<'_>,
    email: &str,
    display_name: &str,
    roles: &Roles,
    new_password: &str,
) -> Result<String, UserError> {
    let email = checked_email(email)?;
    if roles.is_empty() {
        return Err(UserError::NoRoles);
    }
    password::check(new_password, &email)?;
    let hash = hash_off_thread(new_password).await;
    let name =
        if display_name.trim().is_empty() { email.split('@').next().unwrap_or(&email) } else { display_name.trim() };
    let new = NewUser { email: &email, display_name: name, password_hash: &hash, roles };
    let id = staff::insert(store, &new).await?.ok_or(UserError::Taken)?;
    record(store, by, "user_added", &email, serde_json::json!({ "roles": roles.codes() })).await?;
    Ok(id)
}

/// The account with this email.
///
/// # Errors
/// `NotFound`.
pub async fn find(store: &Store, email: &str) -> Result<User, UserError> {
    staff::find_by_email(store, email).await?.ok_or_else(|| UserError::NotFound(email.trim().to_lowercase()))
}

/// Replaces an account's roles.
///
/// # Errors
/// No roles, an unknown account, or taking admin from the last admin.
pub async fn set_roles(store: &Store, by: &Actor<'_>, email: &str, roles: &Roles) -> Result<(), UserError> {
    if roles.is_empty() {
        return Err(UserError::NoRoles);
    }
    let user = find(store, email).await?;
    if user.roles.has(crate::domain::staff::Role::Admin) && !roles.has(crate::domain::staff::Role::Admin) {
        ensure_other_admin(store, &user).await?;
    }
    staff::set_roles(store, &user.user_id, roles).await?;
    let detail = serde_json::json!({ "from": user.roles.codes(), "to": roles.codes() });
    record(store, by, "roles_changed", &user.email, detail).await?;
    Ok(())
}

/// Disables an account (ending its sessions), or enables it again.
///
/// # Errors
/// An unknown account, or disabling the last admin.
pub async fn set_disabled(store: &Store, by: &Actor<'_>, email: &str, disabled: bool) -> Result<(), UserError> {
    let user = find(store, email).await?;
    if disabled && user.roles.has(crate::domain::staff::Role::Admin) {
        ensure_other_admin(store, &user).await?;
    }
    staff::set_disabled(store, &user.user_id, disabled).await?;
    let action = if disabled { "user_disabled" } else { "user_enabled" };
    record(store, by, action, &user.email, serde_json::json!({})).await?;
    Ok(())
}

/// Sets a new password (ending every session of the account and clearing its lockout).
///
/// # Errors
/// An unknown account or a weak password.
pub async fn reset_password(store: &Store, by: &Actor<'_>, email: &str, new_password: &str) -> Result<(), UserError> {
    let user = find(store, email).await?;
    password::check(new_password, &user.email)?;
    let hash = hash_off_thread(new_password).await;
    staff::set_password(store, &user.user_id, &hash).await?;
    record(store, by, "password_reset", &user.email, serde_json::json!({})).await?;
    Ok(())
}

async fn ensure_other_admin(store: &Store, user: &User) -> Result<(), UserError> {
    let admins = staff::list(store)
        .await?
        .into_iter()
        .filter(|u| !u.disabled && u.user_id != user.user_id && u.roles.has(crate::domain::staff::Role::Admin))
        .count();
    if admins == 0 {
        Err(UserError::LastAdmin)
    } else {
        Ok(())
    }
}

/// Hashing takes tens of milliseconds of CPU: off the async workers.
async fn hash_off_thread(new_password: &str) -> String {
    let owned = new_password.to_owned();
    tokio::task::spawn_blocking(move || password::hash(&owned)).await.expect("hashing does not panic")
}
