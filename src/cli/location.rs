//! `leafdesk location …`: the stores that answer customers, and the number or Messaging Service
//! each is reached at (checked here, where they enter).

use anyhow::Context as _;
use clap::Subcommand;

use super::connect;
use crate::domain::{MessagingServiceSid, PhoneNumber};
use crate::settings::Settings;
use crate::store::locations;

#[derive(Subcommand)]
pub enum LocationCommand {
    /// Add a location answering on a Twilio number (or Messaging Service).
    Add {
        #[arg(long)]
        name: String,
        /// Two-letter US state code, e.g. CA.
        #[arg(long)]
        state: String,
        /// IANA timezone, e.g. America/Los_Angeles.
        #[arg(long)]
        timezone: String,
        /// The number customers text, in E.164 form (+15005550006).
        #[arg(long)]
        number: Option<String>,
        /// A Twilio Messaging Service SID (MG…) instead of, or beside, a number.
        #[arg(long)]
        messaging_service_sid: Option<String>,
    },
    /// List locations.
    List,
    /// Change where a location is reached (the number, the Messaging Service) and what the bot
    /// tells customers about it (`--detail address="1 Test St, Sacramento"`).
    Update {
        /// The location's id (`location list`).
        #[arg(long)]
        id: String,
        /// The number customers text, in E.164 form.
        #[arg(long)]
        number: Option<String>,
        /// A Twilio Messaging Service SID (MG…).
        #[arg(long)]
        messaging_service_sid: Option<String>,
        /// KEY=VALUE, repeatable; keys: address, directions, parking, payment_methods,
        /// id_rules, delivery_areas, delivery_note, each also as KEY_es for Spanish (an empty
        /// VALUE removes one).
        #[arg(long = "detail", value_name = "KEY=VALUE")]
        details: Vec<String>,
    },
}

/// What `--detail` may set: the questions the bot answers from them (flows/store_info.yaml).
/// `privacy_url` and `terms_url` are the links the opt-in form shows beside its disclosure
/// (carriers require both on every sign-up page).
const DETAIL_KEYS: &[&str] = &[
    "address",
    "directions",
    "parking",
    "payment_methods",
    "id_rules",
    "delivery_areas",
    "delivery_note",
    "privacy_url",
    "terms_url",
];

pub async fn run(cmd: LocationCommand, settings: &Settings) -> anyhow::Result<()> {
    let store = connect(settings).await?;
    match cmd {
        LocationCommand::Add { name, state, timezone, number, messaging_service_sid } => {
            anyhow::ensure!(
                number.is_some() || messaging_service_sid.is_some(),
                "give --number or --messaging-service-sid: customers need a way to reach the location"
            );
            let number = number.map(|n| PhoneNumber::parse(&n)).transpose()?;
            let service = messaging_service_sid.map(|s| MessagingServiceSid::parse(&s)).transpose()?;
            let state = state.trim().to_ascii_uppercase();
            anyhow::ensure!(
                state.len() == 2 && state.chars().all(|c| c.is_ascii_alphabetic()),
                "--state must be a two-letter US state code such as CA"
            );
            anyhow::ensure!(timezone.contains('/'), "--timezone must be an IANA name such as America/Los_Angeles");
            let new = locations::NewLocation {
                name: &name,
                state: &state,
                timezone: &timezone,
                phone_number: number.as_ref().map(AsRef::as_ref),
                messaging_service_sid: service.as_ref().map(AsRef::as_ref),
            };
            let location = locations::insert(&store, &new)
                .await
                .context("that number or Messaging Service may already belong to a location")?;
            println!("added location {} ({})", location.name, location.location_id);
        }
        LocationCommand::List => {
            for l in locations::list(&store).await? {
                let endpoint = l.phone_number.or(l.messaging_service_sid).unwrap_or_default();
                println!("{}\t{}\t{}\t{}\t{}", l.location_id, l.name, l.state, l.timezone, endpoint);
            }
        }
        LocationCommand::Update { id, number, messaging_service_sid, details } => {
            if !details.is_empty() {
                update_details(&store, &id, &details).await?;
            }
            if number.is_none() && messaging_service_sid.is_none() {
                anyhow::ensure!(
                    !details.is_empty(),
                    "give --number, --messaging-service-sid or --detail KEY=VALUE: what to change"
                );
                return Ok(());
            }
            let number = number.map(|n| PhoneNumber::parse(&n)).transpose()?;
            let service = messaging_service_sid.map(|s| MessagingServiceSid::parse(&s)).transpose()?;
            let number = number.as_ref().map(AsRef::as_ref);
            let updated = locations::set_endpoints(&store, &id, number, service.as_ref().map(AsRef::as_ref))
                .await
                .context("that number or Messaging Service may already belong to another location")?;
            anyhow::ensure!(updated, "no location {id:?}; `leafdesk location list` shows the ids");
            println!("updated location {id}");
        }
    }
    Ok(())
}

async fn update_details(store: &crate::store::Store, id: &str, details: &[String]) -> anyhow::Result<()> {
    let mut conn = store.pool().acquire().await?;
    let mut current = locations::details(&mut conn, id).await?;
    drop(conn);
    for raw in details {
        let Some((key, value)) = raw.split_once('=') else {
            anyhow::bail!("--detail {raw:?}: write KEY=VALUE, e.g. --detail address=\"1 Test St, Sacramento\"");
        };
        let key = key.trim();
        // A key, or a key in another language: `payment_methods_es`.
        let base = key.rsplit_once('_').filter(|(_, l)| crate::templates::LOCALES.contains(l)).map_or(key, |(b, _)| b);
        anyhow::ensure!(
            DETAIL_KEYS.contains(&base),
            "--detail {key:?}: the keys are {} (add _es for the Spanish wording)",
            DETAIL_KEYS.join(", ")
        );
        if base.ends_with("_url") && !value.trim().is_empty() {
            let value = value.trim();
            anyhow::ensure!(
                (value.starts_with("https://") || value.starts_with("http://") || value.starts_with('/'))
                    && !value.contains(char::is_whitespace),
                "--detail {key}: {value:?} is not a link; write the page's address, https://…"
            );
        }
        if value.trim().is_empty() {
            current.as_object_mut().map(|o| o.remove(key));
        } else {
            current[key] = serde_json::Value::String(value.trim().to_owned());
        }
    }
    let updated = locations::set_details(store, id, &current).await?;
    anyhow::ensure!(updated, "no location {id:?}; `leafdesk location list` shows the ids");
    println!("updated the details of location {id}");
    Ok(())
}
