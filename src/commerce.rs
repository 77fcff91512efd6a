//! Which commerce serves leafdesk, and the commerce reads handlers make. The port itself, and
//! the values it speaks, are `domain::commerce`; the built-in implementation is
//! `store::commerce::DbCommerce`. A [`Source`] opens the port for one unit of work: flow actions
//! on the turn's transaction, handlers on a pooled connection.
//!
//! Owns the choice of implementation and [`Reach`] (a customer with the contact and store that
//! reach them).

use sqlx::AnyConnection;

use crate::store::commerce::DbCommerce;
use crate::store::contacts::{self, Contact};
use crate::store::locations::{self, Location};
use crate::store::{Store, StoreError};

pub use crate::domain::commerce::{Commerce, Customer, LockReason, Order, OrderLine, Product, Promotion, Stock};

/// Opens the commerce port. A platform adapter implements it (and may ignore `conn`).
pub trait Source: Send + Sync {
    /// The port for one unit of work on `conn`; the built-in one reads and writes inside it.
    fn open<'c>(&'c self, conn: &'c mut AnyConnection) -> Box<dyn Commerce + 'c>;
}

/// leafdesk's own tables (what `--demo` fills and the customer sync keeps).
#[derive(Debug, Default, Clone, Copy)]
pub struct BuiltIn;

impl Source for BuiltIn {
    fn open<'c>(&'c self, conn: &'c mut AnyConnection) -> Box<dyn Commerce + 'c> {
        Box::new(DbCommerce::new(conn))
    }
}

/// The customer this contact is, asked outside a turn.
///
/// # Errors
/// Database or commerce failures.
pub async fn customer(source: &dyn Source, store: &Store, contact_id: &str) -> Result<Option<Customer>, StoreError> {
    let mut conn = store.pool().acquire().await?;
    let found = source.open(&mut conn).customer(contact_id).await?;
    Ok(found)
}

/// The customer this contact is, and their latest `orders` orders, asked outside a turn.
///
/// # Errors
/// Database or commerce failures.
pub async fn profile(
    source: &dyn Source,
    store: &Store,
    contact_id: &str,
    orders: i64,
) -> Result<(Option<Customer>, Vec<Order>), StoreError> {
    let mut conn = store.pool().acquire().await?;
    let mut port = source.open(&mut conn);
    let customer = port.customer(contact_id).await?;
    let recent = port.recent_orders(contact_id, orders).await?;
    Ok((customer, recent))
}

/// A customer with the contact that reaches them and their store.
pub struct Reach {
    pub customer: Customer,
    pub contact: Contact,
    pub location: Location,
}

/// The customer with the platform's id, their contact and their store; `None` when any is missing.
///
/// # Errors
/// Database or commerce failures.
pub async fn reach(source: &dyn Source, store: &Store, customer_id: &str) -> Result<Option<Reach>, StoreError> {
    let mut conn = store.pool().acquire().await?;
    let customer = source.open(&mut conn).customer_by_id(customer_id).await?;
    drop(conn);
    let Some(customer) = customer else { return Ok(None) };
    let contact = contacts::find_by_id(store, &customer.contact_id).await?;
    let location = locations::get(store, &customer.location_id).await?;
    Ok(contact.zip(location).map(|(contact, location)| Reach { customer, contact, location }))
}
