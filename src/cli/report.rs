//! `leafdesk report …`: outcomes and tickets per CRM tag.

use clap::Subcommand;

use super::connect;
use crate::settings::Settings;

#[derive(Subcommand)]
pub enum ReportCommand {
    /// Conversation outcomes and tickets per CRM tag (the taxonomy is flows/tags.yaml).
    Tags {
        /// How many days back.
        #[arg(long, default_value_t = 7)]
        days: i64,
    },
}

pub async fn run(cmd: ReportCommand, settings: &Settings) -> anyhow::Result<()> {
    let ReportCommand::Tags { days } = cmd;
    let store = connect(settings).await?;
    let since = store.now_ms() - days.max(0) * 86_400_000;
    let mut tx = store.begin_read().await?;
    println!("conversation outcomes in the last {days} days (tag, outcome, count):");
    for (tag, outcome, n) in crate::store::outcomes::count_by_tag(&mut tx, since).await? {
        println!("  {tag}\t{outcome}\t{n}");
    }
    println!("tickets opened in the last {days} days (tag, status, count):");
    for (tag, status, n) in crate::store::outcomes::tickets_by_tag(&mut tx, since).await? {
        println!("  {tag}\t{status}\t{n}");
    }
    drop(tx);
    store.close().await;
    Ok(())
}
