//! `leafdesk integration …`: the platforms that sign events, customer syncs and chat links.

use anyhow::Context as _;
use clap::Subcommand;

use super::connect;
use crate::settings::Settings;

#[derive(Subcommand)]
pub enum IntegrationCommand {
    /// Create one and print its secret (shown once: store it in the platform's settings).
    Add {
        #[arg(long)]
        name: String,
    },
    /// Active integrations (names only; secrets are never shown again).
    List,
    /// Stop accepting an integration's events.
    Revoke {
        #[arg(long)]
        name: String,
    },
    /// Print a web chat link for a customer, signed with the integration's secret now (good
    /// for 12 hours): what the store's site does for a signed-in customer, for trying the chat.
    /// It starts with LEAFDESK_PUBLIC_URL (else this machine's LEAFDESK_BIND), as upload links do.
    ChatLink {
        #[arg(long)]
        name: String,
        #[arg(long)]
        customer: String,
    },
}

pub async fn run(cmd: IntegrationCommand, settings: &Settings) -> anyhow::Result<()> {
    use crate::signed::keys;
    use crate::store::integrations;
    let store = connect(settings).await?;
    let sealer = crate::startup::upload_links(settings)?.sealer;
    keys::seal_legacy(&store, &sealer).await?;
    match cmd {
        IntegrationCommand::Add { name } => {
            let secret = keys::create(&store, &sealer, name.trim()).await.with_context(|| {
                format!("creating integration {name:?} (is the name taken? see `integration list`)")
            })?;
            println!("integration {name} created. Its secret, shown only this once:\n{secret}");
            println!("Sign each request to POST /api/v1/events with it (see GET /api/v1/openapi.json).");
        }
        IntegrationCommand::List => {
            for i in integrations::active(&store).await? {
                println!("{}\t{}", i.integration_id, i.name);
            }
        }
        IntegrationCommand::Revoke { name } => {
            anyhow::ensure!(integrations::revoke(&store, &name).await?, "no active integration named {name:?}");
            println!("integration {name} revoked: its events are refused from now on");
        }
        IntegrationCommand::ChatLink { name, customer } => {
            let active = keys::open_all(&store, &sealer).await?;
            let integration = active
                .iter()
                .find(|i| i.name == name)
                .with_context(|| format!("no active integration named {name:?}"))?;
            let path = crate::channels::webchat::signed_path(&integration.secret, &customer, store.clock().now_secs());
            if settings.public_url.is_none() {
                eprintln!("LEAFDESK_PUBLIC_URL is not set: this link works on this machine only. Set it to the address customers reach the server at.");
            }
            println!("{}{path}", settings.public_base());
        }
    }
    store.close().await;
    Ok(())
}
