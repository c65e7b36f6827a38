//! Seeded bugs for `e2ee serve --fault`: a server that misbehaves the ways a third-party
//! interop server can (a wrong epoch authenticator, an RPC it does not implement, a call it
//! never answers, a crash in the middle of a run), so the harness's verdicts on such servers are
//! themselves tested.

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use tonic::Status;

/// The RPCs of `MLSClient` (harness/proto/mls_client.proto), in the proto's order.
pub const RPCS: [&str; 34] = [
    "Name",
    "SupportedCiphersuites",
    "CreateGroup",
    "CreateKeyPackage",
    "JoinGroup",
    "ExternalJoin",
    "GroupInfo",
    "StateAuth",
    "Export",
    "Protect",
    "Unprotect",
    "StorePSK",
    "AddProposal",
    "UpdateProposal",
    "RemoveProposal",
    "ExternalPSKProposal",
    "ResumptionPSKProposal",
    "GroupContextExtensionsProposal",
    "Commit",
    "HandleCommit",
    "HandlePendingCommit",
    "ReInitProposal",
    "ReInitCommit",
    "HandlePendingReInitCommit",
    "HandleReInitCommit",
    "ReInitWelcome",
    "HandleReInitWelcome",
    "CreateBranch",
    "HandleBranch",
    "NewMemberAddProposal",
    "CreateExternalSigner",
    "AddExternalSigner",
    "ExternalSignerProposal",
    "Free",
];

/// One way to misbehave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Every epoch authenticator the server reports has its first byte changed, differently
    /// for each state, so members disagree even when they share this server.
    WrongAuthenticator,
    /// The RPC answers UNIMPLEMENTED.
    Unimplemented(&'static str),
    /// The RPC is never answered.
    Hang(&'static str),
    /// The RPC's handler panics (as openmls's interop server does on its `todo!()` RPCs).
    Panic(&'static str),
    /// The process exits on its Nth call, mid-run.
    CrashAfter(u64),
}

impl FromStr for Fault {
    type Err = String;

    fn from_str(s: &str) -> Result<Fault, String> {
        let rpc = |name: &str| {
            RPCS.iter().copied().find(|r| *r == name).ok_or_else(|| {
                format!(
                    "`{name}` is not an MLSClient RPC (one of: {})",
                    RPCS.join(", ")
                )
            })
        };
        match s.split_once(':') {
            None if s == "wrong-authenticator" => Ok(Fault::WrongAuthenticator),
            Some(("unimplemented", name)) => rpc(name).map(Fault::Unimplemented),
            Some(("hang", name)) => rpc(name).map(Fault::Hang),
            Some(("panic", name)) => rpc(name).map(Fault::Panic),
            Some(("crash-after", n)) => n
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .map(Fault::CrashAfter)
                .ok_or_else(|| format!("crash-after:{n}: expected a number of calls > 0")),
            _ => Err(format!(
                "unknown fault `{s}` (wrong-authenticator, unimplemented:RPC, hang:RPC, \
                 panic:RPC, crash-after:N)"
            )),
        }
    }
}

/// The faults a server was started with, and its call count.
#[derive(Debug, Default)]
pub struct Faults {
    list: Vec<Fault>,
    calls: AtomicU64,
}

impl Faults {
    pub fn new(list: Vec<Fault>) -> Faults {
        Faults {
            list,
            calls: AtomicU64::new(0),
        }
    }

    /// Before `rpc` runs: refuse it, never answer, or exit, as seeded.
    pub async fn before(&self, rpc: &'static str) -> Result<(), Status> {
        let call = self.calls.fetch_add(1, Ordering::Relaxed) + 1;
        for fault in &self.list {
            match *fault {
                Fault::Unimplemented(r) if r == rpc => {
                    return Err(Status::unimplemented(format!(
                        "{rpc}: switched off (e2ee serve --fault unimplemented:{rpc})"
                    )))
                }
                Fault::Hang(r) if r == rpc => std::future::pending::<()>().await,
                Fault::Panic(r) if r == rpc => panic!("{rpc}: not yet implemented (--fault panic)"),
                Fault::CrashAfter(n) if call >= n => {
                    tracing::warn!("--fault crash-after:{n}: exiting at call {call} ({rpc})");
                    std::process::exit(3);
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The epoch authenticator state `id` reports: its own, unless seeded wrong.
    pub fn authenticator(&self, id: u32, mut authenticator: Vec<u8>) -> Vec<u8> {
        if self.list.contains(&Fault::WrongAuthenticator) {
            if let Some(first) = authenticator.first_mut() {
                // Never 0, and different for neighbouring states.
                *first ^= (id % 255) as u8 + 1;
            }
        }
        authenticator
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_parse_and_name_what_is_wrong() {
        assert_eq!("hang:Commit".parse(), Ok(Fault::Hang("Commit")));
        assert_eq!(
            "unimplemented:Export".parse(),
            Ok(Fault::Unimplemented("Export"))
        );
        assert_eq!("crash-after:7".parse(), Ok(Fault::CrashAfter(7)));
        assert_eq!("wrong-authenticator".parse(), Ok(Fault::WrongAuthenticator));
        let e = "hang:Comit".parse::<Fault>().unwrap_err();
        assert!(e.contains("`Comit` is not an MLSClient RPC"), "{e}");
        assert!("crash-after:0".parse::<Fault>().is_err());
        assert!("explode"
            .parse::<Fault>()
            .unwrap_err()
            .contains("unknown fault"));
    }

    #[test]
    fn a_wrong_authenticator_differs_per_state() {
        let f = Faults::new(vec![Fault::WrongAuthenticator]);
        let a = vec![7u8; 32];
        assert_ne!(f.authenticator(1, a.clone()), a);
        assert_ne!(f.authenticator(1, a.clone()), f.authenticator(2, a.clone()));
        assert_eq!(Faults::default().authenticator(1, a.clone()), a);
    }
}
