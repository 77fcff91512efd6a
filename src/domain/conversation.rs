//! A conversation's flow state: which flows are running (innermost last), where each waits, and
//! what the bot knows (slots). The flow engine reads and returns it; the store keeps it; the
//! pipeline carries it from one to the other.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::codes;

codes! {
    /// Who speaks for us in a conversation. The bot never speaks unless it is `Bot`.
    pub enum Ownership {
        Bot = "bot",
        /// Waiting in a CSR queue.
        Queued = "queued",
        /// A CSR has it.
        Agent = "agent",
        Resolved = "resolved",
    }
}

/// Slot values by name; events and actions may bring structured values.
pub type Slots = BTreeMap<String, serde_json::Value>;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Active flows, innermost (the one running) last; empty when the bot is idle.
    #[serde(default)]
    pub stack: Vec<Frame>,
    /// Misunderstood messages in a row, across flows.
    #[serde(default)]
    pub misses: u32,
    /// Failed answers to the current question.
    #[serde(default)]
    pub attempts: u32,
    /// How often each `flow/step` was entered since the conversation last went idle.
    #[serde(default)]
    pub visits: BTreeMap<String, u32>,
    /// Intents a clarifying question offered ("Do you mean: 1. … 2. …"), in its order; empty
    /// when none is open.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub offered: Vec<String>,
    /// The language of the customer's last messages when it is not the contact's, and how
    /// many in a row: a contact who keeps writing in another language gets answers in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other_language: Option<(String, u32)>,
    /// Stored in their own column, so that reports can read them.
    #[serde(skip)]
    pub slots: Slots,
}

impl State {
    pub fn flow_id(&self) -> Option<&str> {
        self.stack.last().map(|f| f.flow.as_str())
    }

    pub fn step_id(&self) -> Option<&str> {
        self.stack.last().map(|f| f.step.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Frame {
    pub flow: String,
    pub step: String,
    #[serde(default)]
    pub wait: Wait,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Wait {
    #[default]
    Running,
    /// At an ask step, for the customer's answer.
    Answer,
    /// At an action step, for its outcome.
    Action,
    /// At a call step, for the called flow to end.
    Callee,
}
