//! Staff as every layer sees them: the roles that decide what a person may do in the console.
//!
//! Owns the set of roles; which route needs which role is the console's.

use super::codes;

codes! {
    /// What a staff member may do. A person holds one or more.
    pub enum Role {
        /// Works customer hand-offs (general, payments, compliance queues).
        Csr = "csr",
        /// A CSR who also sees every queue and every ticket, and transfers work.
        Lead = "lead",
        /// Reviews medical documents (may see them).
        Verification = "verification",
        /// Works inventory reports.
        Inventory = "inventory",
        /// Works IT reports (platform errors).
        It = "it",
        /// Manages consent lists; no access to medical data or tickets.
        Marketing = "marketing",
        /// Manages staff and reads the audit log; may do anything.
        Admin = "admin",
    }
}

/// A staff member's roles, as a set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Roles(Vec<Role>);

impl Roles {
    pub fn new(roles: impl IntoIterator<Item = Role>) -> Self {
        let mut list: Vec<Role> = roles.into_iter().collect();
        list.sort_by_key(|r| r.as_str());
        list.dedup();
        Self(list)
    }

    /// Parses codes; the first unknown one is the error.
    ///
    /// # Errors
    /// The code that is not a role.
    pub fn parse<'a>(codes: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let roles: Result<Vec<Role>, String> =
            codes.into_iter().map(|c| Role::parse(c.trim()).ok_or_else(|| c.trim().to_owned())).collect();
        roles.map(Self::new)
    }

    pub fn has(&self, role: Role) -> bool {
        self.0.contains(&role)
    }

    /// Holds any of `roles`, or is an admin (who may do anything).
    pub fn any(&self, roles: &[Role]) -> bool {
        self.has(Role::Admin) || roles.iter().any(|r| self.has(*r))
    }

    pub fn iter(&self) -> impl Iterator<Item = Role> + '_ {
        self.0.iter().copied()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn codes(&self) -> Vec<&'static str> {
        self.0.iter().map(|r| r.as_str()).collect()
    }
}

impl std::fmt::Display for Roles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.codes().join(", "))
    }
}
