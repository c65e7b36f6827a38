//! The delivery-service messages a live call carries over each participant's data channel to
//! the SFU. The SFU orders membership changes: it asks one member (the committer) to commit
//! each change, then fans the commit out and hands the Welcome to the joiner.
//!
//! Wire form: a tag byte, then each field as a u32 big-endian length and its bytes.

/// One delivery-service message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DsMsg {
    // Participant to SFU.
    /// The first member: the group exists.
    Created,
    /// Let me in: my key package.
    JoinRequest {
        key_package: Vec<u8>,
    },
    /// Remove me.
    LeaveRequest,
    /// Rotate my key: an Update proposal (for the committer to commit), or empty when I commit
    /// it myself.
    RotateRequest {
        proposal: Vec<u8>,
    },
    /// A commit of change number `change`, as asked; `welcome` for the joiners it adds.
    Commit {
        change: u32,
        commit: Vec<u8>,
        welcome: Vec<u8>,
    },
    /// The escrow control: a media key in clear.
    Escrow {
        key: Vec<u8>,
    },
    // SFU to participant.
    /// Commit this change: add the joiners' `key_packages` (the SFU batches joins that queue
    /// up, as one commit), remove `name`, or commit `proposal` (empty: a self-update of its own).
    /// Each carries the change's number, which the commit answers with: under `any` every
    /// member races to commit, and a late loser's commit must not pass for the next change's.
    PleaseAdd {
        change: u32,
        key_packages: Vec<Vec<u8>>,
    },
    PleaseRemove {
        change: u32,
        name: String,
    },
    PleaseUpdate {
        change: u32,
        proposal: Vec<u8>,
    },
    /// Another member's commit, with the proposal it covers (if any).
    Fanout {
        commit: Vec<u8>,
        proposal: Vec<u8>,
    },
    Welcome {
        welcome: Vec<u8>,
    },
    /// An MLS application message for every member (both ways: the SFU fans it out).
    Group {
        message: Vec<u8>,
    },
}

fn put(out: &mut Vec<u8>, field: &[u8]) {
    out.extend_from_slice(&(field.len() as u32).to_be_bytes());
    out.extend_from_slice(field);
}

fn number(input: &mut &[u8]) -> Option<u32> {
    let n = u32::from_be_bytes(input.get(..4)?.try_into().ok()?);
    *input = &input[4..];
    Some(n)
}

fn take(input: &mut &[u8]) -> Option<Vec<u8>> {
    let len = u32::from_be_bytes(input.get(..4)?.try_into().ok()?) as usize;
    let field = input.get(4..4 + len)?.to_vec();
    *input = &input[4 + len..];
    Some(field)
}

impl DsMsg {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            DsMsg::Created => out.push(b'c'),
            DsMsg::JoinRequest { key_package } => {
                out.push(b'j');
                put(&mut out, key_package);
            }
            DsMsg::LeaveRequest => out.push(b'l'),
            DsMsg::RotateRequest { proposal } => {
                out.push(b'r');
                put(&mut out, proposal);
            }
            DsMsg::Commit {
                change,
                commit,
                welcome,
            } => {
                out.push(b'C');
                out.extend_from_slice(&change.to_be_bytes());
                put(&mut out, commit);
                put(&mut out, welcome);
            }
            DsMsg::Escrow { key } => {
                out.push(b'e');
                put(&mut out, key);
            }
            DsMsg::PleaseAdd {
                change,
                key_packages,
            } => {
                out.push(b'A');
                out.extend_from_slice(&change.to_be_bytes());
                out.extend_from_slice(&(key_packages.len() as u32).to_be_bytes());
                for kp in key_packages {
                    put(&mut out, kp);
                }
            }
            DsMsg::PleaseRemove { change, name } => {
                out.push(b'R');
                out.extend_from_slice(&change.to_be_bytes());
                put(&mut out, name.as_bytes());
            }
            DsMsg::PleaseUpdate { change, proposal } => {
                out.push(b'U');
                out.extend_from_slice(&change.to_be_bytes());
                put(&mut out, proposal);
            }
            DsMsg::Fanout { commit, proposal } => {
                out.push(b'F');
                put(&mut out, commit);
                put(&mut out, proposal);
            }
            DsMsg::Welcome { welcome } => {
                out.push(b'W');
                put(&mut out, welcome);
            }
            DsMsg::Group { message } => {
                out.push(b'G');
                put(&mut out, message);
            }
        }
        out
    }

    /// None if the bytes are not a message.
    pub fn decode(bytes: &[u8]) -> Option<DsMsg> {
        let (tag, mut rest) = bytes.split_first()?;
        let rest = &mut rest;
        let msg = match tag {
            b'c' => DsMsg::Created,
            b'j' => DsMsg::JoinRequest {
                key_package: take(rest)?,
            },
            b'l' => DsMsg::LeaveRequest,
            b'r' => DsMsg::RotateRequest {
                proposal: take(rest)?,
            },
            b'C' => DsMsg::Commit {
                change: number(rest)?,
                commit: take(rest)?,
                welcome: take(rest)?,
            },
            b'e' => DsMsg::Escrow { key: take(rest)? },
            b'A' => {
                let change = number(rest)?;
                let n = number(rest)? as usize;
                // Each key package takes at least its length prefix: no huge allocation on lies.
                let mut key_packages = Vec::with_capacity(n.min(rest.len() / 4));
                for _ in 0..n {
                    key_packages.push(take(rest)?);
                }
                DsMsg::PleaseAdd {
                    change,
                    key_packages,
                }
            }
            b'R' => DsMsg::PleaseRemove {
                change: number(rest)?,
                name: String::from_utf8(take(rest)?).ok()?,
            },
            b'U' => DsMsg::PleaseUpdate {
                change: number(rest)?,
                proposal: take(rest)?,
            },
            b'F' => DsMsg::Fanout {
                commit: take(rest)?,
                proposal: take(rest)?,
            },
            b'W' => DsMsg::Welcome {
                welcome: take(rest)?,
            },
            b'G' => DsMsg::Group {
                message: take(rest)?,
            },
            _ => return None,
        };
        rest.is_empty().then_some(msg)
    }
}

/// The largest message reassembled (a Welcome to a few thousand members is well under).
pub const MAX_REASSEMBLED: usize = 16 << 20;

/// Splits an encoded message into data-channel messages of at most `max` bytes (webrtc-rs caps
/// a message at 256 KiB; a Welcome to a large group can be more): a byte saying whether more
/// follow (1) or not (0), then the piece.
pub fn fragments(bytes: &[u8], max: usize) -> Vec<Vec<u8>> {
    let piece = max.saturating_sub(1).max(1);
    let mut out: Vec<Vec<u8>> = bytes
        .chunks(piece)
        .map(|c| {
            let mut f = Vec::with_capacity(c.len() + 1);
            f.push(1);
            f.extend_from_slice(c);
            f
        })
        .collect();
    match out.last_mut() {
        Some(last) => last[0] = 0,
        None => out.push(vec![0]),
    }
    out
}

/// Puts fragments back together, one connection's worth.
#[derive(Debug, Default)]
pub struct Reassembly {
    partial: Vec<u8>,
    /// The message being reassembled went over the limit: drop the rest of it.
    overflow: bool,
}

impl Reassembly {
    /// The whole message, once its last fragment arrives.
    pub fn push(&mut self, fragment: &[u8]) -> Option<Vec<u8>> {
        let (&more, piece) = fragment.split_first()?;
        if more > 1 {
            return None;
        }
        if !self.overflow {
            self.partial.extend_from_slice(piece);
            if self.partial.len() > MAX_REASSEMBLED {
                self.overflow = true;
                self.partial = Vec::new();
            }
        }
        if more == 1 {
            return None;
        }
        let whole = std::mem::take(&mut self.partial);
        (!std::mem::take(&mut self.overflow)).then_some(whole)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_round_trips_and_garbage_is_refused() {
        let all = [
            DsMsg::Created,
            DsMsg::JoinRequest {
                key_package: vec![1, 2],
            },
            DsMsg::LeaveRequest,
            DsMsg::RotateRequest { proposal: vec![] },
            DsMsg::Commit {
                change: 7,
                commit: vec![3],
                welcome: vec![4, 5],
            },
            DsMsg::Escrow { key: vec![6; 16] },
            DsMsg::PleaseAdd {
                change: 1,
                key_packages: vec![vec![7], vec![], vec![8, 9]],
            },
            DsMsg::PleaseRemove {
                change: 2,
                name: "dave".into(),
            },
            DsMsg::PleaseUpdate {
                change: 3,
                proposal: vec![8],
            },
            DsMsg::Fanout {
                commit: vec![9],
                proposal: vec![],
            },
            DsMsg::Welcome { welcome: vec![10] },
            DsMsg::Group { message: vec![11] },
        ];
        for m in all {
            assert_eq!(DsMsg::decode(&m.encode()), Some(m));
        }
        assert_eq!(DsMsg::decode(b""), None);
        assert_eq!(DsMsg::decode(b"j\0\0\0\x09ab"), None);
        assert_eq!(DsMsg::decode(b"c-trailing"), None);
        assert_eq!(DsMsg::decode(b"A\0\0\0\x01\xff\xff\xff\xff"), None);
    }

    #[test]
    fn fragments_reassemble_whatever_the_size() {
        for len in [0usize, 1, 9, 10, 11, 100] {
            let msg: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let parts = fragments(&msg, 10);
            assert!(parts.iter().all(|p| p.len() <= 10));
            assert_eq!(parts.len(), len.div_ceil(9).max(1));
            let mut r = Reassembly::default();
            let whole: Vec<Vec<u8>> = parts.iter().filter_map(|p| r.push(p)).collect();
            assert_eq!(whole, vec![msg]);
        }
        // Garbage: an empty fragment, an unknown flag, an oversized message.
        let mut r = Reassembly::default();
        assert_eq!(r.push(b""), None);
        assert_eq!(r.push(b"\x07abc"), None);
        assert_eq!(r.push(b"\x00ok"), Some(b"ok".to_vec()));
        let big = vec![1u8; MAX_REASSEMBLED + 1];
        for p in fragments(&big, 1 << 20) {
            assert_eq!(r.push(&p), None);
        }
        assert_eq!(r.push(b"\x00after"), Some(b"after".to_vec()));
    }
}
