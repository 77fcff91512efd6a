//! Demo data: a California dispensary with a small catalogue, stock that disagrees between the
//! website and the store, a web-only promotion, and customers whose orders show each situation
//! the shipped flows handle (declined card, cart over the limit, pickup, delivery). Seeding is
//! idempotent: run it as often as you like.

use crate::commerce::{Customer, Product, Promotion, Stock};
use crate::domain::commerce::{CustomerType, VerificationStatus};
use crate::store::commerce::{catalog, customers, orders};
use crate::store::locations::{self, NewLocation};
use crate::store::{contacts, Store, StoreError};

pub const DEMO_LOCATION: &str = "Demo Dispensary";
/// The payment app link the demo offers for bank (ACH) payments.
pub const DEMO_ACH_URL: &str = "https://pay.example.com/ach?order={order}";

/// Demo customers: platform id, phone, locale, customer type, first name.
pub const DEMO_CONTACTS: &[(&str, &str, &str, &str, Option<&str>)] = &[
    ("cus_alex", "+15555550100", "en", "adult_use", Some("Alex")),
    ("cus_marisol", "+15555550101", "es", "medical", Some("Marisol")),
    ("cus_riley", "+15555550102", "en", "adult_use", None),
    ("cus_sam", "+15555550103", "en", "adult_use", Some("Sam")),
    ("cus_jordan", "+15555550104", "en", "adult_use", Some("Jordan")),
    ("cus_casey", "+15555550105", "en", "medical", Some("Casey")),
];

/// Casey's recommendation ended this many days before the demo is seeded (so checkout locks at
/// the next midnight, store time); the other medical patients' run this many days after it.
const CASEY_ENDED_DAYS_AGO: i64 = 30;
const VALID_FOR_DAYS: i64 = 365;

/// The store's date `days` from the instant `now_ms`, as `YYYY-MM-DD` (demo dates follow the
/// clock, so the demo tells the same story on any day).
fn store_date(now_ms: i64, timezone: &str, days: i64) -> String {
    let tz = jiff::tz::TimeZone::get(timezone).unwrap_or(jiff::tz::TimeZone::UTC);
    let today =
        jiff::Timestamp::from_millisecond(now_ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH).to_zoned_datetime(tz).date();
    today.checked_add(jiff::Span::new().days(days)).unwrap_or(today).to_string()
}

/// SKU, name, category, net weight mg, THC mg, price in cents.
type DemoProduct = (&'static str, &'static str, &'static str, Option<i64>, Option<i64>, i64);
const PRODUCTS: &[DemoProduct] = &[
    ("FL-BD-35", "Blue Dream 3.5 g", "flower", Some(3_500), None, 4_000),
    ("FL-OG-28", "OG Kush 28 g", "flower", Some(28_000), None, 18_000),
    ("PR-SAT-5", "Sativa Pre-roll 5-pack", "pre_roll", Some(3_500), None, 3_500),
    ("CN-WAX-5", "Live Resin Wax 5 g", "concentrate", Some(5_000), None, 6_000),
    ("VC-HYB-1", "Hybrid Vape Cartridge 1 g", "vape_cartridge", Some(1_000), None, 4_500),
    ("ED-GUM-100", "Watermelon Gummies 100 mg", "edible", Some(50_000), Some(100), 2_000),
    ("TN-30", "Calm Tincture 30 ml", "tincture", Some(30_000), Some(300), 5_500),
];

/// SKU, units the website shows, units the store counts: OG Kush is shown out of stock online
/// although the store has it; the vape is the reverse.
const STOCK: &[(&str, i64, i64)] = &[
    ("FL-BD-35", 12, 12),
    ("FL-OG-28", 0, 7),
    ("PR-SAT-5", 20, 20),
    ("CN-WAX-5", 6, 6),
    ("VC-HYB-1", 4, 0),
    ("ED-GUM-100", 0, 0),
    ("TN-30", 3, 3),
];

/// Phone, order number, status, payment, fulfillment, lines (SKU, quantity).
type DemoOrder = (&'static str, &'static str, &'static str, &'static str, &'static str, &'static [(&'static str, i64)]);
const ORDERS: &[DemoOrder] = &[
    ("+15555550100", "LD-1001", "ready_for_pickup", "pay_at_pickup", "pickup", &[("FL-BD-35", 1)]),
    ("+15555550101", "LD-1002", "payment_declined", "card", "pickup", &[("FL-BD-35", 2), ("ED-GUM-100", 1)]),
    ("+15555550102", "LD-1003", "out_for_delivery", "ach", "delivery", &[("PR-SAT-5", 1), ("TN-30", 1)]),
    ("+15555550103", "LD-1004", "payment_declined", "card", "pickup", &[("FL-OG-28", 1)]),
    ("+15555550104", "LD-1005", "awaiting_payment", "card", "pickup", &[("CN-WAX-5", 2), ("FL-BD-35", 1)]),
    ("+15555550105", "LD-1006", "awaiting_pickup", "pay_at_pickup", "pickup", &[("TN-30", 1)]),
];

/// What the demo store tells customers about itself (`location update --detail` sets these).
fn demo_details() -> serde_json::Value {
    serde_json::json!({
        "address": "1 Test St, Sacramento, CA 95814",
        "directions": "We're on the corner of Test St and 2nd, two blocks from the Capitol.",
        "parking": "free lot behind the store.",
        "payment_methods": "cash, debit card with PIN, or a bank payment (ACH) in our payment app",
        "id_rules": "We accept driver's licenses and state IDs from any US state, passports and military IDs.",
        "delivery_areas": "Sacramento, West Sacramento and Davis",
        "delivery_note": "Orders of $50 or more; your ID is checked at the door.",
        "privacy_url": "/demo/site#privacy",
        "terms_url": "/demo/site#terms",
        "directions_es": "Estamos en la esquina de Test St y 2nd, a dos cuadras del Capitolio.",
        "parking_es": "estacionamiento gratis detrás de la tienda.",
        "payment_methods_es": "efectivo, tarjeta de débito con PIN, o un pago bancario (ACH) en nuestra app de pago",
        "id_rules_es": "Aceptamos licencias de conducir e identificaciones estatales de cualquier estado de EE. UU., pasaportes e identificaciones militares.",
        "delivery_areas_es": "Sacramento, West Sacramento y Davis",
        "delivery_note_es": "Pedidos de $50 o más; revisamos su identificación en la puerta."
    })
}

/// Seeds the demo location on `number` with its catalogue, customers and orders.
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
            let location = locations::insert(store, &new).await?;
            locations::set_details(store, &location.location_id, &demo_details()).await?;
            location
        }
    };
    let mut conn = store.pool().acquire().await?;
    let mut product_ids = std::collections::HashMap::new();
    for (sku, name, category, weight, thc, price) in PRODUCTS {
        let product = Product {
            product_id: crate::new_id(),
            sku: (*sku).into(),
            name: (*name).into(),
            category: (*category).into(),
            net_weight_mg: *weight,
            thc_mg: *thc,
            price_cents: *price,
        };
        let id = catalog::upsert_product(&mut conn, &product, store.now_ms()).await?;
        product_ids.insert(*sku, (id, *price));
    }
    for (sku, online, in_store) in STOCK {
        let stock = Stock { online: *online, store: *in_store };
        catalog::set_stock(&mut conn, &location.location_id, &product_ids[sku].0, stock, store.now_ms()).await?;
    }
    let now = store.now_ms();
    let deal = Promotion {
        description: "Online-only deal: 20% off Blue Dream".into(),
        price_cents: 3_200,
        web_only: true,
        ends_at_ms: now + 7 * 86_400_000,
    };
    let promo_id = format!("demo-{}", location.location_id);
    catalog::upsert_promotion(
        &mut conn,
        &promo_id,
        &product_ids["FL-BD-35"].0,
        &location.location_id,
        &deal,
        now - 86_400_000,
    )
    .await?;
    for (customer_id, phone, locale, kind, name) in DEMO_CONTACTS {
        let profile = contacts::Profile {
            phone,
            locale: Some(locale),
            customer_type: CustomerType::parse(kind),
            first_name: *name,
            state: Some(&location.state),
            timezone: Some(&location.timezone),
        };
        let contact_id = contacts::upsert(&mut conn, &profile, store.now_ms()).await?;
        let customer = Customer {
            customer_id: (*customer_id).into(),
            contact_id,
            location_id: location.location_id.clone(),
            customer_type: CustomerType::parse(kind).unwrap_or(CustomerType::AdultUse),
            date_of_birth: Some("1990-04-20".into()),
            recommendation_expires_on: match *customer_id {
                "cus_casey" => Some(store_date(now, &location.timezone, -CASEY_ENDED_DAYS_AGO)),
                _ => (*kind == "medical").then(|| store_date(now, &location.timezone, VALID_FOR_DAYS)),
            },
            verification_status: VerificationStatus::Verified,
            preferred_channel: "sms".into(),
            non_resident: false,
            locked_reason: None,
        };
        customers::upsert(&mut conn, &customer, store.now_ms()).await?;
    }
    for (phone, number, status, payment, fulfillment, lines) in ORDERS {
        let contact = contacts::find(store, phone).await?.expect("demo contact was just upserted");
        let total: i64 = lines.iter().map(|(sku, q)| product_ids[sku].1 * q).sum();
        let order = orders::NewOrder {
            contact_id: &contact.contact_id,
            location_id: &location.location_id,
            order_number: number,
            status,
            total_cents: total,
            payment_method: payment,
            pickup_at_ms: None,
            fulfillment,
        };
        let order_id = orders::insert_if_absent(store, &order).await?;
        for (i, (sku, quantity)) in lines.iter().enumerate() {
            let (product_id, price) = &product_ids[sku];
            let line_no = i64::try_from(i + 1).expect("a few lines");
            orders::insert_line_if_absent(&mut conn, &order_id, line_no, product_id, *quantity, *price).await?;
        }
    }
    Ok(location)
}

/// Demo staff, one per role: they sign in at `/console/login` with the password `serve --demo`
/// prints at start.
pub const DEMO_STAFF: &[(&str, &str, crate::domain::staff::Role)] = {
    use crate::domain::staff::Role;
    &[
        ("csr@demo.test", "Cam (CSR)", Role::Csr),
        ("lead@demo.test", "Lee (lead)", Role::Lead),
        ("verification@demo.test", "Val (verification)", Role::Verification),
        ("inventory@demo.test", "Ivy (inventory)", Role::Inventory),
        ("it@demo.test", "Ira (IT)", Role::It),
        ("marketing@demo.test", "Mo (marketing)", Role::Marketing),
        ("admin@demo.test", "Ada (admin)", Role::Admin),
    ]
};

/// Creates the demo staff, or gives them a fresh password: the one this start prints (a
/// password is stored hashed, so it cannot be shown again later).
///
/// # Errors
/// Database failures.
pub async fn seed_staff(store: &Store) -> Result<String, crate::auth::users::UserError> {
    use crate::auth::users::{self, Actor};
    let password = loop {
        let mut bytes = [0u8; 12];
        getrandom::fill(&mut bytes).expect("the operating system's random source works");
        let candidate = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes);
        if DEMO_STAFF.iter().all(|(email, ..)| crate::auth::password::check(&candidate, email).is_ok()) {
            break candidate;
        }
    };
    let by = Actor { name: "demo", ip: "" };
    for (email, name, role) in DEMO_STAFF {
        let roles = crate::domain::staff::Roles::new([*role]);
        match users::add(store, &by, email, name, &roles, &password).await {
            Ok(_) => {}
            Err(users::UserError::Taken) => users::reset_password(store, &by, email, &password).await?,
            Err(e) => return Err(e),
        }
    }
    Ok(password)
}

/// A few customers who need a person, so the console has work on first start: a hand-off to
/// `general`, one to `payments`, a price report to `inventory` and a stock report to `it`. Each
/// is a real conversation through the bot. Only when there are no tickets yet.
///
/// # Errors
/// When a turn cannot be committed.
pub async fn seed_tickets(
    store: &Store,
    pipeline: &crate::pipeline::Pipeline,
    location: &locations::Location,
) -> Result<usize, crate::pipeline::PipelineError> {
    let (any,): (i64,) =
        sqlx::query_as("select count(*) from ticket").fetch_one(store.pool()).await.map_err(StoreError::from)?;
    if any > 0 {
        return Ok(0);
    }
    // Numbers of their own (not the demo customers'), so the demo's other stories start clean.
    let dialogs: &[(&str, &[&str])] = &[
        ("+15555550120", &["I want to talk to a person"]),
        ("+15555550121", &["my card got declined"]),
        ("+15555550122", &["the price in store is higher than the website", "OG Kush", "it was $195 on the shelf"]),
        ("+15555550123", &["the website says OG Kush is out of stock but the store has it", "og kush"]),
    ];
    let to = location.phone_number.clone().unwrap_or_default();
    let mut n = 0;
    for (phone, texts) in dialogs {
        for text in *texts {
            n += 1;
            let inbound = crate::domain::Inbound {
                channel: crate::domain::Channel::Sms,
                provider_id: format!("demo-console-{n}"),
                from: crate::domain::PhoneNumber::parse(phone).expect("demo numbers are E.164"),
                to: to.clone(),
                messaging_service_sid: None,
                body: (*text).to_owned(),
                media: Vec::new(),
                opt_out_type: None,
            };
            pipeline.handle(inbound, location.clone()).await?;
        }
    }
    let (made,): (i64,) =
        sqlx::query_as("select count(*) from ticket").fetch_one(store.pool()).await.map_err(StoreError::from)?;
    Ok(usize::try_from(made).unwrap_or(0))
}

/// Days of past activity [`seed_history`] writes.
const HISTORY_DAYS: i64 = 21;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

/// A few weeks of history, so every console page and report shows something real on first
/// start: conversations with their messages, flow outcomes, misunderstood messages and
/// tickets (answered and resolved at realistic times), a consent history (opt-ins from the web
/// form, the chat and an import; revocations by keyword, by phrase and by the carrier; a double
/// opt-in still waiting for its YES) and a finished campaign with its deliveries. Once only
/// (a receipt marks it); every time relative to now.
///
/// # Errors
/// Database failures.
pub async fn seed_history(store: &Store, location: &locations::Location) -> Result<bool, StoreError> {
    use crate::store::consent::{record_at, NewConsent, When};
    let now = store.now_ms();
    let mut tx = store.begin().await?;
    if !crate::store::receipts::record(&mut tx, "demo:history", "demo", &serde_json::json!({}), now).await? {
        return Ok(false);
    }
    let loc = location.location_id.as_str();
    let queues = [
        ("general", "asked for a person", "[]"),
        ("payments", "card declined twice", "[\"payments\"]"),
        ("compliance", "over the purchase limit", "[\"limits\"]"),
        ("general", "wrong item in the order", "[\"orders\"]"),
    ];
    let flows = ["payment_declined", "purchase_limit", "store_info", "order_status", "medical_reverification"];
    let mut n = 0_i64;
    for day in 1..=HISTORY_DAYS {
        let base = now - day * DAY;
        let conversations = 10 + (day * 7) % 9;
        for c in 0..conversations {
            n += 1;
            let at = base + 9 * HOUR + c * 37 * 60_000;
            let (contact, conv) = (format!("demo-h-k{n}"), format!("demo-h-c{n}"));
            sqlx::query("insert into contact (contact_id, phone, created_at_ms) values ($1, $2, $3)")
                .bind(&contact)
                .bind(format!("+1555557{n:04}"))
                .bind(at)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "insert into conversation (conversation_id, contact_id, location_id, channel, last_activity_at_ms,
                    created_at_ms) values ($1, $2, $3, 'sms', $4, $4)",
            )
            .bind(&conv)
            .bind(&contact)
            .bind(loc)
            .bind(at)
            .execute(&mut *tx)
            .await?;
            for m in 0..4_i64 {
                let direction = if m % 2 == 0 { "inbound" } else { "outbound" };
                sqlx::query(
                    "insert into message (message_id, conversation_id, direction, channel, body, status, created_at_ms,
                        updated_at_ms) values ($1, $2, $3, 'sms', $4, $5, $6, $6)",
                )
                .bind(format!("demo-h-m{n}-{m}"))
                .bind(&conv)
                .bind(direction)
                .bind(if direction == "inbound" { "(demo history)" } else { "(demo reply)" })
                .bind(if direction == "inbound" { "received" } else { "delivered" })
                .bind(at + m * 60_000)
                .execute(&mut *tx)
                .await?;
            }
            if n % 6 == 0 {
                sqlx::query(
                    "insert into misread (misread_id, conversation_id, body, normalized, locale, decision, guesses,
                        created_at_ms, reviewed_at_ms) values ($1, $2, 'do u guys have the thing', 'do u guys have the thing',
                        'en', 'fallback', '[]', $3, $3)",
                )
                .bind(format!("demo-h-x{n}"))
                .bind(&conv)
                .bind(at)
                .execute(&mut *tx)
                .await?;
            }
            if n % 4 == 0 {
                let (queue, reason, tags) = queues[usize::try_from(n / 4).unwrap_or(0) % queues.len()];
                let reply = at + (4 + (n * 13) % 70) * 60_000;
                let resolved = reply + (20 + (n * 17) % 200) * 60_000;
                sqlx::query(
                    "insert into ticket (ticket_id, conversation_id, queue, priority, tags, reason, summary, status,
                        created_at_ms, first_reply_at_ms, resolved_at_ms, resolved_by, disposition)
                    values ($1, $2, $3, 3, $4, $5, $5, 'resolved', $6, $7, $8, 'csr@demo.test', 'resolved')",
                )
                .bind(format!("demo-h-t{n}"))
                .bind(&conv)
                .bind(queue)
                .bind(tags)
                .bind(reason)
                .bind(at)
                .bind(reply)
                .bind(resolved)
                .execute(&mut *tx)
                .await?;
            }
        }
        for (f, flow) in flows.iter().enumerate() {
            let f = i64::try_from(f).unwrap_or(0);
            for (outcome, runs) in [("resolved", 2 + (day + f) % 5), ("handed_off", (day * (f + 1)) % 3)] {
                if runs == 0 {
                    continue;
                }
                sqlx::query(
                    "insert into flow_outcome (outcome_id, flow_id, outcome, tags, runs, ended_at_ms, location_id)
                    values ($1, $2, $3, '[]', $4, $5, $6)",
                )
                .bind(format!("demo-h-o{day}-{flow}-{outcome}"))
                .bind(*flow)
                .bind(outcome)
                .bind(runs)
                .bind(base + 12 * HOUR)
                .bind(loc)
                .execute(&mut *tx)
                .await?;
            }
        }
    }
    // Consent: sign-ups from the form (both steps' evidence), the chat and an import; then
    // revocations three ways.
    let mut opted_in = Vec::new();
    for i in 0..40_i64 {
        let phone = format!("+1555558{i:04}");
        let at = now - (HISTORY_DAYS * DAY) + i * 12 * HOUR;
        let (source, evidence) = match i % 4 {
            0 | 1 => {
                let request = format!("demo-h-r{i}");
                sqlx::query(
                    "insert into consent_request (request_id, phone, purpose, location_id, disclosure_version,
                        disclosure_text, ip, user_agent, created_at_ms, confirmed_at_ms, source)
                    values ($1, $2, 'marketing', $3, 'marketing-2026-11', $4, '203.0.113.24',
                        'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X)', $5, $6, 'web_form')",
                )
                .bind(&request)
                .bind(&phone)
                .bind(loc)
                .bind(format!(
                    "By checking this box you agree to receive recurring marketing texts from {} (demo).",
                    location.name
                ))
                .bind(at - 90_000)
                .bind(at)
                .execute(&mut *tx)
                .await?;
                (
                    "web_form",
                    serde_json::json!({ "request": { "request_id": request, "ip": "203.0.113.24",
                    "disclosure_version": "marketing-2026-11" }, "confirmation": { "text": "YES" } }),
                )
            }
            2 => (
                "web_chat",
                serde_json::json!({ "chat": "demo widget", "disclosure_version": "marketing-chat-2026-12" }),
            ),
            _ => (
                "import",
                serde_json::json!({ "file": "spring-signups.csv", "line": i + 2,
                "evidence": "paper sign-up sheet at the counter", "imported_by": "marketing@demo.test" }),
            ),
        };
        let c = NewConsent { phone: &phone, purpose: "marketing", action: "opt_in", source, evidence };
        record_at(&mut tx, &c, &When { at_ms: at, import_key: None }, now).await?;
        opted_in.push(phone);
    }
    for (i, (text, source, rule)) in [
        ("STOP", "sms_keyword", "the whole message is the opt-out keyword \"stop\""),
        ("STOP", "sms_keyword", "the whole message is the opt-out keyword \"stop\""),
        ("please stop texting me", "sms_keyword", "the message asks us to stop messaging"),
        ("take me off your list", "sms_keyword", "the message asks to be taken off the list"),
    ]
    .iter()
    .enumerate()
    {
        let at = now - (5 - i64::try_from(i).unwrap_or(0)) * DAY;
        let evidence = serde_json::json!({ "text": text, "rule": rule, "channel": "sms" });
        for purpose in ["transactional", "marketing"] {
            let c =
                NewConsent { phone: &opted_in[i * 3], purpose, action: "opt_out", source, evidence: evidence.clone() };
            record_at(&mut tx, &c, &When { at_ms: at, import_key: None }, now).await?;
        }
    }
    let carrier = NewConsent {
        phone: &opted_in[13],
        purpose: "transactional",
        action: "opt_out",
        source: "carrier_21610",
        evidence: serde_json::json!({ "error_code": "21610" }),
    };
    record_at(&mut tx, &carrier, &When { at_ms: now - 2 * DAY, import_key: None }, now).await?;
    sqlx::query(
        "insert into consent_request (request_id, phone, purpose, location_id, disclosure_version, disclosure_text, ip,
            user_agent, created_at_ms, source) values ('demo-h-pending', '+15555589999', 'marketing', $1,
            'marketing-2026-11', 'By checking this box you agree to receive recurring marketing texts (demo).',
            '198.51.100.7', 'Mozilla/5.0 (Android 15)', $2, 'web_form')",
    )
    .bind(loc)
    .bind(now - 2 * HOUR)
    .execute(&mut *tx)
    .await?;
    // A campaign sent ten days ago to the numbers opted in then: delivered, one undelivered.
    let started = now - 10 * DAY + 2 * HOUR;
    sqlx::query(
        "insert into campaign (campaign_id, name, location_id, segment, bodies, status, created_by, created_at_ms,
            approved_by, approved_at_ms, started_at_ms, finished_at_ms, planned)
        values ('demo-campaign', 'Weekend deals (demo)', $1, '{}', $2, 'finished', 'marketing@demo.test', $3,
            'lead@demo.test', $4, $4, $5, $6)",
    )
    .bind(loc)
    .bind(serde_json::json!({ "en": "Hi {{first_name}}, 15% off everything this weekend at {{store}}." }).to_string())
    .bind(started - DAY)
    .bind(started)
    .bind(started + HOUR)
    .bind(i64::try_from(opted_in.iter().take(20).count()).unwrap_or(0))
    .execute(&mut *tx)
    .await?;
    for (i, phone) in opted_in.iter().take(20).enumerate() {
        let outbox_id = format!("demo-h-ob{i}");
        let delivery = if i == 7 { "undelivered" } else { "delivered" };
        sqlx::query(
            "insert into outbox (outbox_id, location_id, to_phone, purpose, body, status, next_attempt_at_ms, created_at_ms,
                sent_at_ms, provider_id, campaign_id, delivery, delivery_rank)
            values ($1, $2, $3, 'marketing', $4, 'sent', $5, $5, $5, $6, 'demo-campaign', $7, $8)",
        )
        .bind(&outbox_id)
        .bind(loc)
        .bind(phone)
        .bind(format!("Hi there, 15% off everything this weekend at {}. Reply STOP to opt out.", location.name))
        .bind(started + i64::try_from(i).unwrap_or(0) * 1000)
        .bind(format!("SMdemo{i:026}"))
        .bind(delivery)
        .bind(if i == 7 { 3 } else { 5 })
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "insert into campaign_recipient (campaign_id, phone, state, outbox_id) values ('demo-campaign', $1, 'queued', $2)",
        )
        .bind(phone)
        .bind(&outbox_id)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(true)
}
