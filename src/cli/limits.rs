//! `leafdesk limits check …`: a cart against a state's purchase limits, as JSON.

use std::process::ExitCode;

use clap::Subcommand;

#[derive(Subcommand)]
pub enum LimitsCommand {
    /// Check a cart against a state's limits; prints JSON (allowed, violations, explanation,
    /// rule_source, and the smallest changes that make the cart compliant).
    Check {
        /// Two-letter state code, e.g. CA.
        #[arg(long)]
        state: String,
        /// adult-use or medical
        #[arg(long, default_value = "adult-use")]
        customer: String,
        /// The customer lives in another state.
        #[arg(long)]
        non_resident: bool,
        /// category=amount, repeatable: flower=28g, concentrate=2g, edible=200mg (mg is THC).
        #[arg(long = "item")]
        items: Vec<String>,
    },
}

pub fn run(cmd: LimitsCommand) -> ExitCode {
    let LimitsCommand::Check { state, customer, non_resident, items } = cmd;
    check(&state, &customer, non_resident, &items)
}

fn check(state: &str, customer: &str, non_resident: bool, items: &[String]) -> ExitCode {
    use crate::compliance::limits::{self, CustomerType, Line, Request};
    let Some(customer) = CustomerType::parse(&customer.trim().to_ascii_lowercase().replace('-', "_")) else {
        eprintln!("--customer {customer:?}: use adult-use or medical");
        return ExitCode::from(2);
    };
    let cart: Result<Vec<Line>, String> = items.iter().map(|i| Line::parse_item(i)).collect();
    let cart = match cart {
        Ok(cart) => cart,
        Err(e) => {
            eprintln!("--item {e}");
            return ExitCode::from(2);
        }
    };
    let verdict = limits::check(&Request { state, customer, non_resident, cart: &cart, earlier_today: &[] });
    println!("{}", serde_json::to_string_pretty(&verdict).expect("a verdict serializes"));
    ExitCode::SUCCESS
}
