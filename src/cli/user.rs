//! `leafdesk user …`: staff accounts for the console (add, list, roles, disable, password).
//! A new password is read from standard input when it is not a terminal (scripts pipe it in),
//! and prompted for without echo otherwise.

use std::io::{BufRead as _, IsTerminal as _, Write as _};

use clap::Subcommand;

use super::connect;
use crate::auth::users::{self, Actor};
use crate::domain::staff::Roles;
use crate::settings::Settings;

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create an account (the password is read from standard input or prompted for).
    Add {
        #[arg(long)]
        email: String,
        /// csr, lead, verification, inventory, it, marketing or admin; repeat for several.
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// The name colleagues see (default: the email's name).
        #[arg(long, default_value = "")]
        name: String,
    },
    /// Every account with its roles and state.
    List,
    /// Replace an account's roles.
    SetRoles {
        #[arg(long)]
        email: String,
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
    },
    /// Stop an account signing in (its sessions end at once).
    Disable {
        #[arg(long)]
        email: String,
    },
    /// Let a disabled account sign in again.
    Enable {
        #[arg(long)]
        email: String,
    },
    /// Set a new password (read like `add`'s); every session of the account ends.
    ResetPassword {
        #[arg(long)]
        email: String,
    },
}

fn roles(codes: &[String]) -> anyhow::Result<Roles> {
    let split = codes.iter().flat_map(|c| c.split(','));
    Roles::parse(split).map_err(|code| {
        anyhow::anyhow!("{code:?} is not a role: use csr, lead, verification, inventory, it, marketing or admin")
    })
}

/// The new password: a line of standard input, or typed twice at a prompt without echo.
fn read_password() -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut line = String::new();
        stdin.lock().read_line(&mut line)?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_owned());
    }
    let ask = |prompt: &str| -> anyhow::Result<String> {
        eprint!("{prompt}");
        std::io::stderr().flush()?;
        // No echo while typing (POSIX stty on the terminal this command reads).
        let quiet = std::process::Command::new("stty").arg("-echo").status().is_ok_and(|s| s.success());
        let mut line = String::new();
        let read = std::io::stdin().lock().read_line(&mut line);
        if quiet {
            let _ = std::process::Command::new("stty").arg("echo").status();
            eprintln!();
        }
        read?;
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    };
    let first = ask("New password: ")?;
    anyhow::ensure!(first == ask("Again: ")?, "the two passwords differ; nothing changed");
    Ok(first)
}

pub async fn run(cmd: UserCommand, settings: &Settings) -> anyhow::Result<()> {
    let store = connect(settings).await?;
    let by = Actor { name: "cli", ip: "" };
    match cmd {
        UserCommand::Add { email, roles: codes, name } => {
            let roles = roles(&codes)?;
            let password = read_password()?;
            users::add(&store, &by, &email, &name, &roles, &password).await?;
            println!("added {} ({roles}); they sign in at /console/login", email.trim().to_lowercase());
        }
        UserCommand::List => {
            let all = crate::store::staff::list(&store).await?;
            if all.is_empty() {
                println!("no staff accounts yet: leafdesk user add --email … --role …");
            }
            for u in all {
                let state = if u.disabled { "disabled" } else { "active" };
                println!("{}\t{}\t{}\t{state}", u.email, u.display_name, u.roles);
            }
        }
        UserCommand::SetRoles { email, roles: codes } => {
            let roles = roles(&codes)?;
            users::set_roles(&store, &by, &email, &roles).await?;
            println!("{} now has {roles}", email.trim().to_lowercase());
        }
        UserCommand::Disable { email } => {
            users::set_disabled(&store, &by, &email, true).await?;
            println!("disabled {}; their sessions have ended", email.trim().to_lowercase());
        }
        UserCommand::Enable { email } => {
            users::set_disabled(&store, &by, &email, false).await?;
            println!("enabled {}", email.trim().to_lowercase());
        }
        UserCommand::ResetPassword { email } => {
            users::find(&store, &email).await?;
            let password = read_password()?;
            users::reset_password(&store, &by, &email, &password).await?;
            println!("new password set for {}; their sessions have ended", email.trim().to_lowercase());
        }
    }
    Ok(())
}
