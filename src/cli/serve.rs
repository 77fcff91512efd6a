//! `leafdesk serve` (with `--demo` data) and `leafdesk migrate`.

use super::connect;
use crate::settings::Settings;
use crate::{demo, startup};

/// Runs the server until SIGTERM or Ctrl-C.
///
/// # Errors
/// A bad setting, or anything that stops the server from starting.
pub async fn serve(mut settings: Settings, bind: Option<String>, with_demo: bool) -> anyhow::Result<()> {
    if let Some(bind) = bind {
        settings.bind = crate::settings::parse_bind("--bind", &bind)?;
    }
    settings.check_serving()?;
    if with_demo && settings.ach_payment_url.is_none() {
        settings.ach_payment_url = Some(demo::DEMO_ACH_URL.to_owned());
    }
    let number = settings.demo_number.clone();
    let app = startup::build(settings).await?;
    if with_demo {
        let state = app.state();
        let location = demo::seed(&state.store, &number).await?;
        let tickets = demo::seed_tickets(&state.store, &state.pipeline, &location).await?;
        demo::seed_history(&state.store, &location).await?;
        let password = demo::seed_staff(&state.store).await?;
        tracing::info!(location = %location.name, number = %number, tickets, "demo data ready");
        let emails: Vec<&str> = demo::DEMO_STAFF.iter().map(|(email, ..)| *email).collect();
        // Printed, not logged: it is for the person at the terminal, and only this start's.
        println!(
            "\nDemo console: {}/console/login\n  staff, one per role: {}\n  password for each (this start only): {password}\n",
            state.settings.public_base(),
            emails.join(", ")
        );
    }
    app.run(startup::shutdown_signal()).await
}

/// # Errors
/// When the database cannot be reached or migrated.
pub async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    connect(settings).await?;
    println!("database is up to date");
    Ok(())
}

/// `leafdesk outbox`: the newest outbound messages, phones masked.
///
/// # Errors
/// Database failures.
pub async fn outbox(settings: &Settings, limit: i64) -> anyhow::Result<()> {
    let store = connect(settings).await?;
    for r in crate::store::outbox::list(&store, limit).await? {
        let to = crate::domain::PhoneNumber::parse(&r.to_phone).map_or(r.to_phone.clone(), |p| p.masked());
        let reason = r.reason.unwrap_or_default();
        println!("{}\t{}\t{}\t{}\tattempts {}\t{}", r.outbox_id, r.status, r.purpose, to, r.attempts, reason);
    }
    Ok(())
}
