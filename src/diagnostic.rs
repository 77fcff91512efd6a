//! A problem in a file, at its line and column (`file:line:col: message`): what checking flows,
//! templates and pages reports, and what an editor jumps to.
//!
//! Owns the shape and the display; the checks that find problems live with what they check.

use std::fmt;
use std::path::PathBuf;

/// One problem found in a file, with its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub line: u64,
    pub column: u64,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}", self.file.display(), self.line, self.column, self.message)
    }
}
