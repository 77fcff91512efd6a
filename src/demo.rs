//! Demo data: a dispensary, a few customers and orders, so every shipped flow can be tried at
//! once. Seeding is idempotent: run it as often as you like.

use crate::store::locations::{self, NewLocation};
use crate::store::{contacts, orders, Store, StoreError};

pub const DEMO_LOCATION: &str = "Demo Dispensary";

/// Demo customers: phone, locale, customer type, first name.
pub const DEMO_CONTACTS: &[(&str, &str, &str, Option<&str>)] = &[
    ("+15555550100", "en", "adult_use", Some("Alex")),
    ("+15555550101", "es", "medical", Some("Marisol")),
    ("+15555550102", "en", "adult_use", None),
];

/// Seeds the demo location on `number` with its customers and orders.
///
/// # Errors
/// Database failures.
pub async fn seed(store: &Store, number: &str) -> Result<locations::Location, StoreError> {
    let existing = locations::list(store).await?.into_iter().find(|l| l.phone_number.as_deref() == Some(number));
    let location = match existing {
        Some(l) => l,
        None => {
            let new = NewLocation {
                name: DEMO_LOCATION,
                state: "CA",
                timezone: "America/Los_Angeles",
                phone_number: Some(number),
                messaging_service_sid: None,
            };
            locations::insert(store, &new).await?
        }
    };
    for (phone, locale, kind, name) in DEMO_CONTACTS {
        contacts::upsert(store, phone, locale, kind, *name).await?;
    }
    let orders = [
        ("+15555550100", "LD-1001", "ready_for_pickup", 4_250, "pay_at_pickup"),
        ("+15555550101", "LD-1002", "payment_declined", 8_900, "card"),
        ("+15555550102", "LD-1003", "out_for_delivery", 6_100, "ach"),
    ];
    for (phone, number, status, cents, payment) in orders {
        let contact = contacts::find(store, phone).await?.expect("demo contact was just upserted");
        let order = orders::NewOrder {
            contact_id: &contact.contact_id,
            location_id: &location.location_id,
            order_number: number,
            status,
            total_cents: cents,
            payment_method: payment,
            pickup_at_ms: None,
        };
        orders::insert_if_absent(store, &order).await?;
    }
    Ok(location)
}
