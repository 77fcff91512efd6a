//! `leafdesk verification …`: review medical documents (list, show decrypted, approve, reject).

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Subcommand;

use super::{connect, load_assets};
use crate::settings::Settings;

#[derive(Subcommand)]
pub enum VerificationCommand {
    /// Documents waiting for review, oldest first.
    List,
    /// Decrypt a document to a file for review (owner-only permissions; delete it after).
    Show {
        upload_id: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// Accept the customer's new document: unlock checkout, resume held orders, text them.
    Approve {
        #[arg(long)]
        customer: String,
        /// The new recommendation's last day, YYYY-MM-DD.
        #[arg(long)]
        expires: Option<String>,
        #[arg(long, default_value = "cli")]
        staff: String,
    },
    /// Refuse the document: text the customer why, with a fresh upload link.
    Reject {
        #[arg(long)]
        customer: String,
        /// Shown to the customer: plain and kind ("the photo is too blurry to read").
        #[arg(long)]
        reason: String,
        #[arg(long, default_value = "cli")]
        staff: String,
    },
}

pub async fn run(cmd: VerificationCommand, settings: &Settings) -> anyhow::Result<()> {
    use crate::store::uploads;
    use crate::verification::{review, Decision};
    let store = connect(settings).await?;
    let links = crate::startup::upload_links(settings)?;
    match cmd {
        VerificationCommand::List => {
            for u in uploads::pending(&store).await? {
                let at = jiff::Timestamp::from_millisecond(u.created_at_ms).map(|t| t.to_string()).unwrap_or_default();
                println!(
                    "{}\t{}\t{}\t{} bytes\tby {}\t{at}",
                    u.upload_id, u.customer_id, u.content_type, u.size_bytes, u.source
                );
            }
        }
        VerificationCommand::Show { upload_id, out } => {
            let upload = uploads::find(&store, &upload_id).await?.with_context(|| format!("no upload {upload_id}"))?;
            let plain = links.sealer.open(&upload.upload_id, &upload.sealed)?;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            std::io::Write::write_all(
                &mut options.open(&out).with_context(|| format!("creating {}", out.display()))?,
                &plain,
            )?;
            println!(
                "{} ({}, customer {}) written to {}",
                upload.upload_id,
                upload.content_type,
                upload.customer_id,
                out.display()
            );
        }
        VerificationCommand::Approve { customer, expires, staff } => {
            let assets = load_assets(settings)?;
            let text = review(
                &store,
                &assets,
                &links,
                &customer,
                Decision::Approve { expires_on: expires.as_deref() },
                &staff,
            )
            .await?;
            println!("approved; queued for the customer: {text}");
        }
        VerificationCommand::Reject { customer, reason, staff } => {
            let assets = load_assets(settings)?;
            let text = review(&store, &assets, &links, &customer, Decision::Reject { reason: &reason }, &staff).await?;
            println!("rejected; queued for the customer: {text}");
        }
    }
    store.close().await;
    Ok(())
}
