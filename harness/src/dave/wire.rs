//! The DAVE voice-gateway messages, as bytes and JSON: what our gateway sends and reads.
//!
//! Sources: discord/dave-protocol `protocol.md` ("Voice Gateway Opcodes", whitepaper 1.1.4,
//! commit 1b2b706a); the binary framing as discord.js voice and DPP implement it (the spec's
//! structs leave out the sequence number): gateway → client `u16 seq (BE) | u8 opcode |
//! payload`, client → gateway `u8 opcode | payload`. Ops 29 and 30 carry a `u16 transition_id
//! (BE)` before their MLS payload. Op 28 is a commit `MLSMessage` followed by an optional bare
//! `Welcome` (changelog 1.1.2), split here by decoding the first message.

use mls_rs::mls_rs_codec::MlsDecode;
use serde_json::{json, Value};

/// Op 27's operation type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProposalsOp {
    /// `MLSMessage proposal_messages<V>`: proposals to queue.
    Append = 0,
    /// `ProposalRef proposal_refs<V>`: queued proposals withdrawn.
    Revoke = 1,
}

/// What the gateway sends a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToClient {
    /// Op 4 (select protocol ack / session description): the DAVE version of the call.
    SessionDescription { dave_protocol_version: u16 },
    /// Op 11: users now connected (the recognized user ids).
    ClientsConnect(Vec<u64>),
    /// Op 13: a user left.
    ClientDisconnect(u64),
    /// Op 21.
    PrepareTransition {
        transition_id: u16,
        protocol_version: u16,
    },
    /// Op 22.
    ExecuteTransition(u16),
    /// Op 24: `epoch: 1` means "(re)create the group".
    PrepareEpoch { epoch: u64, protocol_version: u16 },
    /// Op 25: the gateway's MLS `ExternalSender` (RFC 9420 §12.1.8.1), TLS-encoded.
    ExternalSender(Vec<u8>),
    /// Op 27: `payload` is the vector body (concatenated MLSMessages or ProposalRefs).
    Proposals { op: ProposalsOp, payload: Vec<u8> },
    /// Op 29: the winning commit, as an MLSMessage.
    AnnounceCommit { transition_id: u16, commit: Vec<u8> },
    /// Op 30: a bare Welcome.
    Welcome {
        transition_id: u16,
        welcome: Vec<u8>,
    },
}

/// One gateway message on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Json(Value),
    Binary(Vec<u8>),
}

/// What a client sends the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FromClient {
    /// Op 23.
    ReadyForTransition(u16),
    /// Op 26: a KeyPackage (clients send it bare; the spec says MLSMessage: both are accepted,
    /// see [`key_package_body`]).
    KeyPackage(Vec<u8>),
    /// Op 28: the commit MLSMessage and the bare Welcome, if the commit adds anyone.
    CommitWelcome {
        commit: Vec<u8>,
        welcome: Option<Vec<u8>>,
    },
    /// Op 31: the commit or Welcome of this transition could not be processed.
    InvalidCommitWelcome(u16),
}

/// Why a client message could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("empty binary message")]
    Empty,
    #[error("opcode {0} is not a DAVE client message")]
    UnknownOpcode(u64),
    #[error("op {op}: {what}")]
    Malformed { op: u8, what: String },
}

fn malformed(op: u8, what: impl Into<String>) -> WireError {
    WireError::Malformed {
        op,
        what: what.into(),
    }
}

impl ToClient {
    /// The message as sent, with sequence number `seq` on the binary ones.
    pub fn encode(&self, seq: u16) -> Frame {
        let json = |op: u8, d: Value| Frame::Json(json!({ "op": op, "d": d }));
        let binary = |op: u8, parts: &[&[u8]]| {
            let mut out = Vec::with_capacity(3 + parts.iter().map(|p| p.len()).sum::<usize>());
            out.extend_from_slice(&seq.to_be_bytes());
            out.push(op);
            for p in parts {
                out.extend_from_slice(p);
            }
            Frame::Binary(out)
        };
        match self {
            ToClient::SessionDescription {
                dave_protocol_version,
            } => json(4, json!({ "dave_protocol_version": dave_protocol_version })),
            // Snowflakes travel as strings (JSON numbers lose precision past 2^53).
            ToClient::ClientsConnect(ids) => json(
                11,
                json!({ "user_ids": ids.iter().map(u64::to_string).collect::<Vec<_>>() }),
            ),
            ToClient::ClientDisconnect(id) => json(13, json!({ "user_id": id.to_string() })),
            ToClient::PrepareTransition {
                transition_id,
                protocol_version,
            } => json(
                21,
                json!({ "transition_id": transition_id, "protocol_version": protocol_version }),
            ),
            ToClient::ExecuteTransition(id) => json(22, json!({ "transition_id": id })),
            ToClient::PrepareEpoch {
                epoch,
                protocol_version,
            } => json(
                24,
                json!({ "epoch": epoch, "protocol_version": protocol_version }),
            ),
            ToClient::ExternalSender(sender) => binary(25, &[sender]),
            ToClient::Proposals { op, payload } => {
                binary(27, &[&[*op as u8], &varint(payload.len()), payload])
            }
            ToClient::AnnounceCommit {
                transition_id,
                commit,
            } => binary(29, &[&transition_id.to_be_bytes(), commit]),
            ToClient::Welcome {
                transition_id,
                welcome,
            } => binary(30, &[&transition_id.to_be_bytes(), welcome]),
        }
    }
}

impl FromClient {
    /// Reads a binary client message (`u8 opcode | payload`).
    pub fn from_binary(bytes: &[u8]) -> Result<FromClient, WireError> {
        let (&op, payload) = bytes.split_first().ok_or(WireError::Empty)?;
        match op {
            26 if payload.is_empty() => Err(malformed(26, "no key package")),
            26 => Ok(FromClient::KeyPackage(payload.to_vec())),
            28 => {
                let mut rest = payload;
                mls_rs::MlsMessage::mls_decode(&mut rest)
                    .map_err(|e| malformed(28, format!("the commit is not an MLSMessage: {e}")))?;
                let commit = payload[..payload.len() - rest.len()].to_vec();
                let welcome = (!rest.is_empty()).then(|| rest.to_vec());
                Ok(FromClient::CommitWelcome { commit, welcome })
            }
            other => Err(WireError::UnknownOpcode(u64::from(other))),
        }
    }

    /// Reads a JSON client message (`{"op": N, "d": {...}}`).
    pub fn from_json(value: &Value) -> Result<FromClient, WireError> {
        let op = value["op"]
            .as_u64()
            .ok_or_else(|| malformed(0, "no numeric `op`"))?;
        let transition = |op: u8| {
            value["d"]["transition_id"]
                .as_u64()
                .and_then(|t| u16::try_from(t).ok())
                .ok_or_else(|| malformed(op, "`d.transition_id` is not a u16"))
        };
        match op {
            23 => Ok(FromClient::ReadyForTransition(transition(23)?)),
            31 => Ok(FromClient::InvalidCommitWelcome(transition(31)?)),
            other => Err(WireError::UnknownOpcode(other)),
        }
    }

    /// The message as a client sends it.
    pub fn encode(&self) -> Frame {
        match self {
            FromClient::ReadyForTransition(id) => {
                Frame::Json(json!({ "op": 23, "d": { "transition_id": id } }))
            }
            FromClient::InvalidCommitWelcome(id) => {
                Frame::Json(json!({ "op": 31, "d": { "transition_id": id } }))
            }
            FromClient::KeyPackage(kp) => Frame::Binary([&[26u8][..], kp].concat()),
            FromClient::CommitWelcome { commit, welcome } => Frame::Binary(
                [&[28u8][..], commit, welcome.as_deref().unwrap_or_default()].concat(),
            ),
        }
    }
}

/// A key package as op 26 carried it, bare: an `MLSMessage(KeyPackage)` loses its 4-byte
/// header. Both start with version 1; bytes 2..4 are wire_format 5 in an MLSMessage and the
/// cipher suite (2 in DAVE v1) in a bare KeyPackage.
pub fn key_package_body(bytes: &[u8]) -> &[u8] {
    match bytes.get(..4) {
        Some([0, 1, 0, 5]) => &bytes[4..],
        _ => bytes,
    }
}

/// A Welcome as op 28 and 30 carry it, bare: an `MLSMessage(Welcome)` (wire_format 3) loses
/// its 4-byte header.
pub fn welcome_body(bytes: &[u8]) -> &[u8] {
    match bytes.get(..4) {
        Some([0, 1, 0, 3]) => &bytes[4..],
        _ => bytes,
    }
}

/// RFC 9420 §2.1.2 variable-size vector length (1, 2 or 4 bytes).
pub fn varint(len: usize) -> Vec<u8> {
    match len {
        0..=63 => vec![len as u8],
        64..=16383 => (0x4000u16 | len as u16).to_be_bytes().to_vec(),
        _ => (0x8000_0000u32 | len as u32).to_be_bytes().to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::member_clients;

    #[test]
    fn binary_gateway_messages_carry_seq_opcode_and_transition() {
        let Frame::Binary(b) = (ToClient::AnnounceCommit {
            transition_id: 0x0102,
            commit: vec![9, 9],
        })
        .encode(7) else {
            panic!("op 29 is binary")
        };
        assert_eq!(b, [0, 7, 29, 1, 2, 9, 9]);
        let Frame::Binary(b) = (ToClient::Proposals {
            op: ProposalsOp::Revoke,
            payload: vec![0xaa; 64],
        })
        .encode(1) else {
            panic!("op 27 is binary")
        };
        // 64 bytes need the 2-byte length form.
        assert_eq!(&b[..6], [0, 1, 27, 1, 0x40, 64]);
        assert_eq!(b.len(), 6 + 64);
    }

    #[test]
    fn json_gateway_messages_send_snowflakes_as_strings() {
        let Frame::Json(v) = ToClient::ClientsConnect(vec![1090123456789012345]).encode(0) else {
            panic!("op 11 is JSON")
        };
        assert_eq!(
            v,
            json!({"op": 11, "d": {"user_ids": ["1090123456789012345"]}})
        );
    }

    /// A real commit adding a member, with its Welcome: op 28 splits where the commit ends.
    #[test]
    fn commit_and_welcome_split_where_the_commit_ends() {
        let client = &member_clients()[1];
        let mut alice = client.member(b"alice").unwrap();
        let mut bob = client.member(b"bob").unwrap();
        alice.create_group(b"channel", 2, false).unwrap();
        let kp = bob.create_key_package(2).unwrap();
        let out = alice
            .commit(
                &[],
                &[crate::clients::ProposalSpec::Add { key_package: kp }],
                false,
                false,
            )
            .unwrap();
        let welcome = welcome_body(out.welcome.as_deref().unwrap()).to_vec();
        let sent = FromClient::CommitWelcome {
            commit: out.commit.clone(),
            welcome: Some(welcome.clone()),
        };
        let Frame::Binary(bytes) = sent.encode() else {
            panic!("op 28 is binary")
        };
        assert_eq!(FromClient::from_binary(&bytes), Ok(sent));
        let alone = FromClient::CommitWelcome {
            commit: out.commit,
            welcome: None,
        };
        let Frame::Binary(bytes) = alone.encode() else {
            panic!("op 28 is binary")
        };
        assert_eq!(FromClient::from_binary(&bytes), Ok(alone));
        // Garbage is an error naming the opcode, not a panic.
        let e = FromClient::from_binary(&[28, 0, 1, 0]).unwrap_err();
        assert!(matches!(e, WireError::Malformed { op: 28, .. }), "{e}");
        assert_eq!(FromClient::from_binary(&[]), Err(WireError::Empty));
        assert_eq!(
            FromClient::from_binary(&[99]),
            Err(WireError::UnknownOpcode(99))
        );
    }

    #[test]
    fn json_client_messages_round_trip_and_bad_ones_are_named() {
        for m in [
            FromClient::ReadyForTransition(10),
            FromClient::InvalidCommitWelcome(32),
        ] {
            let Frame::Json(v) = m.encode() else {
                panic!("JSON")
            };
            assert_eq!(FromClient::from_json(&v), Ok(m));
        }
        let e = FromClient::from_json(&json!({"op": 23, "d": {"transition_id": 70000}}));
        assert!(matches!(e, Err(WireError::Malformed { op: 23, .. })));
    }

    #[test]
    fn key_packages_are_read_bare_or_wrapped() {
        let bare = [0, 1, 0, 2, 7, 7];
        assert_eq!(key_package_body(&bare), bare);
        assert_eq!(key_package_body(&[0, 1, 0, 5, 0, 1, 0, 2]), [0, 1, 0, 2]);
    }
}
