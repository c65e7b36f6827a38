//! The delivery service as the adversary: it carries every message between actors, keeps every
//! byte, and afterwards tries to recover from that transcript what end-to-end encryption keeps
//! from it: the canary planted in each application message and any key the members hold (each
//! epoch's media key, RFC 9605 §5.2's `MLS-Exporter("SFrame 1.0 Base Key", "", AEAD.Nk)`, and every
//! external PSK). It tries every key-sized window of every message as a key.

use std::collections::HashMap;

/// What a carried message is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    KeyPackage,
    Proposal,
    Commit,
    Welcome,
    GroupInfo,
    RatchetTree,
    Application,
    ExternalSender,
    /// Sent only under the escrow control: a key in clear.
    Escrow,
    /// A DAVE gateway's JSON opcode (op 4, 11, 13, 21-24, 31): no key material, kept anyway.
    Signal,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::KeyPackage => "key package",
            Kind::Proposal => "proposal",
            Kind::Commit => "commit",
            Kind::Welcome => "Welcome",
            Kind::GroupInfo => "GroupInfo",
            Kind::RatchetTree => "ratchet tree",
            Kind::Application => "application message",
            Kind::ExternalSender => "external sender",
            Kind::Escrow => "escrowed key",
            Kind::Signal => "signalling message",
        }
    }
}

/// One carried message.
#[derive(Clone, Debug)]
pub struct Record {
    /// The script step, None for the final round.
    pub step: Option<usize>,
    pub kind: Kind,
    pub from: String,
    pub bytes: Vec<u8>,
}

/// The transcript, what must not be in it, and what was found.
#[derive(Debug, Default)]
pub struct DeliveryService {
    pub records: Vec<Record>,
    canaries: Vec<Vec<u8>>,
    /// Secrets by value, with a description ("alice's media key of epoch 2").
    secrets: HashMap<Vec<u8>, String>,
    /// What it recovered, one line each; empty when it is blind.
    pub findings: Vec<String>,
}

impl DeliveryService {
    pub fn carry(&mut self, step: Option<usize>, kind: Kind, from: &str, bytes: Vec<u8>) {
        self.records.push(Record {
            step,
            kind,
            from: from.to_string(),
            bytes,
        });
    }

    pub fn add_canary(&mut self, canary: Vec<u8>) {
        self.canaries.push(canary);
    }

    pub fn add_secret(&mut self, secret: Vec<u8>, what: &str) {
        self.secrets
            .entry(secret)
            .or_insert_with(|| what.to_string());
    }

    pub fn bytes(&self) -> usize {
        self.records.iter().map(|r| r.bytes.len()).sum()
    }

    pub fn canaries(&self) -> usize {
        self.canaries.len()
    }

    pub fn secrets(&self) -> usize {
        self.secrets.len()
    }

    /// Searches the transcript: every canary as a substring, every key-sized window as a key.
    pub fn analyse(&mut self) {
        let mut findings = Vec::new();
        let lengths: Vec<usize> = {
            let mut l: Vec<usize> = self.secrets.keys().map(Vec::len).collect();
            l.sort_unstable();
            l.dedup();
            l
        };
        for r in &self.records {
            let at = match r.step {
                Some(s) => format!("the {} {} sent at step {s}", r.kind.name(), r.from),
                None => format!("the {} {} sent in the final round", r.kind.name(), r.from),
            };
            for c in &self.canaries {
                if let Some(off) = find(&r.bytes, c) {
                    findings.push(format!(
                        "canary {} in clear in {at} (offset {off})",
                        String::from_utf8_lossy(c)
                    ));
                }
            }
            for &n in &lengths {
                for (off, w) in r.bytes.windows(n).enumerate() {
                    if let Some(what) = self.secrets.get(w) {
                        findings.push(format!("{what} recovered from {at} (offset {off})"));
                    }
                }
            }
        }
        findings.dedup();
        self.findings = findings;
    }
}

/// The first offset of `needle` in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || needle.len() > hay.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_canary_and_a_key_anywhere_in_any_message() {
        let mut ds = DeliveryService::default();
        ds.add_canary(b"canary-1".to_vec());
        ds.add_secret(vec![7; 32], "a media key");
        ds.carry(Some(0), Kind::Commit, "alice", vec![1; 100]);
        ds.analyse();
        assert!(ds.findings.is_empty());
        let mut leaky = vec![0u8; 5];
        leaky.extend_from_slice(b"canary-1");
        leaky.extend_from_slice(&[7; 32]);
        ds.carry(Some(3), Kind::Application, "bob", leaky);
        ds.analyse();
        assert_eq!(
            ds.findings,
            vec![
                "canary canary-1 in clear in the application message bob sent at step 3 (offset 5)"
                    .to_string(),
                "a media key recovered from the application message bob sent at step 3 (offset 13)"
                    .to_string(),
            ]
        );
    }
}
