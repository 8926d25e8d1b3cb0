//! Which behaviour an implementation shows where the contract deliberately differs
//! from Dokploy (CONTRACT.md §5): the contract's, or Dokploy v0.14's as measured on
//! the wire (the reference's §6). The mock can answer either way; the conformance
//! suite chooses its expectations by it.

use crate::procedures::{Access, Id, Procedure};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Profile {
    /// This project's contract (the default everywhere).
    #[default]
    Contract,
    /// What Dokploy v0.14 does on the wire, its bugs included.
    Dokploy014,
}

impl Profile {
    pub const ALL: [Profile; 2] = [Profile::Contract, Profile::Dokploy014];

    /// The name on command lines and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Contract => "contract",
            Profile::Dokploy014 => "dokploy-0.14",
        }
    }

    pub fn is_dokploy(self) -> bool {
        self == Profile::Dokploy014
    }

    /// Whether the procedure exists: Dokploy has none of the session procedures the
    /// contract adds (difference 26), and v0.14 no `auth.verifyToken` (v0.15.1 added
    /// it; measured: tRPC's 404).
    pub fn has(self, procedure: &Procedure) -> bool {
        self == Profile::Contract
            || !matches!(
                procedure.id,
                Id::ListSessions
                    | Id::EndSession
                    | Id::EndOtherSessions
                    | Id::EndMemberSessions
                    | Id::VerifyToken
            )
    }
}

impl Profile {
    /// Who may call `procedure`: Dokploy makes `confirmEmail` admin-only
    /// (difference 8).
    pub fn access(self, procedure: &Procedure) -> Access {
        match (self, procedure.id) {
            (Profile::Dokploy014, Id::ConfirmEmail) => Access::Admin,
            _ => procedure.access,
        }
    }

    /// The procedure called `name` over tRPC, if this profile has it.
    pub fn find(self, name: &str) -> Option<&'static Procedure> {
        crate::find(name).filter(|p| self.has(p))
    }

    /// The procedure a REST path (after `/api/`) names: exactly, or as Dokploy
    /// matches it, ignoring case and with `.` standing for any character
    /// (difference 11).
    pub fn find_rest(self, name: &str) -> Option<&'static Procedure> {
        match self {
            Profile::Contract => self.find(name),
            Profile::Dokploy014 => crate::PROCEDURES.iter().find(|p| {
                self.has(p)
                    && p.name.len() == name.len()
                    && p.name
                        .bytes()
                        .zip(name.bytes())
                        .all(|(want, got)| want == b'.' || want.eq_ignore_ascii_case(&got))
            }),
        }
    }
}

impl std::str::FromStr for Profile {
    type Err = String;

    fn from_str(name: &str) -> Result<Profile, String> {
        Profile::ALL
            .into_iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| format!("unknown profile {name:?}: contract or dokploy-0.14"))
    }
}

impl std::fmt::Display for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_only_dokploy_lacks_the_session_procedures() {
        for profile in Profile::ALL {
            assert_eq!(profile.name().parse(), Ok(profile));
        }
        assert!("dokploy".parse::<Profile>().is_err());
        let list = crate::find("auth.listSessions").unwrap();
        let login = crate::find("auth.login").unwrap();
        assert!(Profile::Contract.has(list) && Profile::Contract.has(login));
        assert!(!Profile::Dokploy014.has(list) && Profile::Dokploy014.has(login));
    }

    #[test]
    fn dokploy_matches_rest_paths_loosely_and_the_contract_exactly() {
        let one = crate::find("auth.one");
        assert_eq!(Profile::Contract.find_rest("auth.one"), one);
        assert_eq!(Profile::Contract.find_rest("AUTH.one"), None);
        assert_eq!(Profile::Contract.find_rest("authXone"), None);
        assert_eq!(Profile::Dokploy014.find_rest("AUTH.One"), one);
        assert_eq!(Profile::Dokploy014.find_rest("authXone"), one);
        assert_eq!(Profile::Dokploy014.find_rest("auth.on"), None);
        assert_eq!(Profile::Dokploy014.find_rest("auth.listSessions"), None);
        assert_eq!(Profile::Dokploy014.find("auth.listSessions"), None);
    }
}
