//! What the SFU saw, as a file a person can open elsewhere, and the checks any SFU's record can
//! be put through without knowing the call's secrets.
//!
//! The record is pcapng (link type IPv4): every RTP packet as the SFU holds it after SRTP, and
//! every delivery-service message it carried, each in a synthetic IPv4/UDP datagram. Each
//! participant N has its own address 10.0.(1 + N / 256).(N % 256); the SFU is 10.0.0.1. RTP goes
//! to UDP port 5004, delivery-service messages to 7000, so Wireshark or tshark reads it
//! (`-d udp.port==5004,rtp`). A delivery-service message travels in datagrams of at most
//! [`DS_PIECE`] bytes, each a byte saying whether more follow (1) or not (0) and a piece, as
//! the data channels carry them ([`super::ds::fragments`]).
//!
//! Server-side checks (`e2ee live replay FILE` runs them on any such record): no frame's canary
//! marker occurs in it, and no frame opens under any key-sized window of anything the SFU was
//! given (every delivery-service message), tried as the SFrame base key of every KID it saw.

use super::media::{self, MediaKind};
use crate::clients::SframeClient;
use crate::keying::{KidLayout, MEDIA_KEY_LEN};
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::{Block, PcapNgReader, PcapNgWriter};
use pcap_file::DataLink;
use std::collections::{BTreeMap, HashSet};
use std::io::{Read, Write};
use std::time::Duration;

pub const RTP_PORT: u16 = 5004;
pub const DS_PORT: u16 = 7000;
/// The marker every frame's canary starts with (see [`media::canary`]).
pub const CANARY_MARKER: &[u8] = b"CANARY/";

/// Reading or writing a record.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("{0}")]
    Pcap(#[from] pcap_file::PcapError),
    #[error("packet {index}: {message}")]
    Packet { index: usize, message: String },
}

/// What a datagram carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Carried {
    /// An RTP packet (header and payload) as the SFU holds it after SRTP.
    Rtp(Vec<u8>),
    /// A delivery-service message.
    Ds(Vec<u8>),
}

/// One datagram the SFU received or sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    pub at: Duration,
    /// Participant number, from 1.
    pub participant: u16,
    /// Towards the SFU (else from it).
    pub inbound: bool,
    pub carried: Carried,
}

/// The SFU's record of a call.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Record {
    pub packets: Vec<Packet>,
}

const SFU_ADDR: [u8; 4] = [10, 0, 0, 1];

/// The largest delivery-service piece in one datagram (an IPv4 datagram holds at most 65,535
/// bytes with its headers).
pub const DS_PIECE: usize = 65_000;

fn participant_addr(n: u16) -> [u8; 4] {
    [10, 0, 1 + (n >> 8) as u8, n as u8]
}

fn participant_of(addr: &[u8]) -> u16 {
    (u16::from(addr[2].wrapping_sub(1)) << 8) | u16::from(addr[3])
}

/// IPv4 header checksum (RFC 791).
fn checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An IPv4/UDP datagram around `payload` (UDP checksum 0: allowed over IPv4, RFC 768).
fn datagram(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let udp_len = 8 + payload.len();
    let total = 20 + udp_len;
    let mut d = Vec::with_capacity(total);
    d.extend_from_slice(&[0x45, 0]);
    d.extend_from_slice(&(total as u16).to_be_bytes());
    d.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0]);
    d.extend_from_slice(&src);
    d.extend_from_slice(&dst);
    let sum = checksum(&d[..20]);
    d[10..12].copy_from_slice(&sum.to_be_bytes());
    d.extend_from_slice(&sport.to_be_bytes());
    d.extend_from_slice(&dport.to_be_bytes());
    d.extend_from_slice(&(udp_len as u16).to_be_bytes());
    d.extend_from_slice(&[0, 0]);
    d.extend_from_slice(payload);
    d
}

impl Record {
    pub fn write(&self, out: impl Write) -> Result<(), RecordError> {
        let mut w = PcapNgWriter::new(out)?;
        // pcap-file 2 writes timestamps in nanoseconds: the interface must say so (if_tsresol 9),
        // or readers take them for microseconds.
        w.write_pcapng_block(InterfaceDescriptionBlock {
            linktype: DataLink::IPV4,
            snaplen: 0xffff,
            options: vec![InterfaceDescriptionOption::IfTsResol(9)],
        })?;
        for p in &self.packets {
            let (port, bytes) = match &p.carried {
                Carried::Rtp(b) => (RTP_PORT, b),
                Carried::Ds(b) => (DS_PORT, b),
            };
            let them = participant_addr(p.participant);
            let pieces = match port {
                DS_PORT => super::ds::fragments(bytes, DS_PIECE),
                _ => vec![bytes.clone()],
            };
            for piece in pieces {
                let data = if p.inbound {
                    datagram(them, SFU_ADDR, port, port, &piece)
                } else {
                    datagram(SFU_ADDR, them, port, port, &piece)
                };
                w.write_pcapng_block(EnhancedPacketBlock {
                    interface_id: 0,
                    timestamp: p.at,
                    original_len: data.len() as u32,
                    data: data.into(),
                    options: vec![],
                })?;
            }
        }
        Ok(())
    }

    pub fn read(input: impl Read) -> Result<Record, RecordError> {
        let mut r = PcapNgReader::new(input)?;
        let mut packets = Vec::new();
        let mut pieces: std::collections::HashMap<(u16, bool), super::ds::Reassembly> =
            Default::default();
        let mut index = 0;
        while let Some(block) = r.next_block() {
            let Block::EnhancedPacket(epb) = block? else {
                continue;
            };
            index += 1;
            let bad = |message: &str| RecordError::Packet {
                index,
                message: message.to_string(),
            };
            let d = &epb.data;
            let ihl = usize::from(d.first().ok_or_else(|| bad("empty"))? & 0x0f) * 4;
            if d.len() < ihl + 8 || d[0] >> 4 != 4 || d.get(9) != Some(&17) {
                return Err(bad("not an IPv4 UDP datagram"));
            }
            let (src, dst) = (&d[12..16], &d[16..20]);
            let dport = u16::from_be_bytes([d[ihl + 2], d[ihl + 3]]);
            let payload = d[ihl + 8..].to_vec();
            let inbound = dst == SFU_ADDR;
            let participant = participant_of(if inbound { src } else { dst });
            let carried = match dport {
                RTP_PORT => Carried::Rtp(payload),
                DS_PORT => match pieces
                    .entry((participant, inbound))
                    .or_default()
                    .push(&payload)
                {
                    Some(whole) => Carried::Ds(whole),
                    None => continue,
                },
                other => return Err(bad(&format!("UDP port {other} is neither RTP nor DS"))),
            };
            packets.push(Packet {
                at: epb.timestamp,
                participant,
                inbound,
                carried,
            });
        }
        Ok(Record { packets })
    }
}

/// An RTP packet's payload type and payload (RFC 3550 §5.1), None if it is not RTP.
pub fn rtp_payload(packet: &[u8]) -> Option<(u8, &[u8])> {
    let first = *packet.first()?;
    if first >> 6 != 2 {
        return None;
    }
    let csrc = usize::from(first & 0x0f);
    let mut at = 12 + 4 * csrc;
    if first & 0x10 != 0 {
        let words = u16::from_be_bytes([*packet.get(at + 2)?, *packet.get(at + 3)?]);
        at += 4 + 4 * usize::from(words);
    }
    let mut end = packet.len();
    if first & 0x20 != 0 {
        end = end.checked_sub(usize::from(*packet.last()?))?;
    }
    Some((packet.get(1)? & 0x7f, packet.get(at..end)?))
}

fn kind_of(pt: u8) -> Option<MediaKind> {
    match pt {
        media::OPUS_PT => Some(MediaKind::Audio),
        media::VP8_PT => Some(MediaKind::Video),
        _ => None,
    }
}

/// What the server-side checks found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerFindings {
    pub frames: usize,
    pub ds_messages: usize,
    /// Sender-epochs (KIDs, with the epoch unwrapped in time) seen.
    pub kids: usize,
    /// Epochs seen: the candidates are tried on one frame of each.
    pub epochs: usize,
    pub candidate_keys: usize,
    /// Canary markers in clear, one line each.
    pub canaries: Vec<String>,
    /// Frames that opened under something the SFU holds.
    pub decrypted: Vec<String>,
}

/// The full epoch of a KID's low epoch bits, next to the newest seen so far (as RTP sequence
/// numbers are unwrapped: frames of an old epoch may still arrive just after a new one).
fn unwrap_epoch(newest: &mut Option<i64>, low: u64) -> i64 {
    let span = 1i64 << KidLayout::LIVE.epoch_bits;
    let low = low as i64;
    let epoch = match *newest {
        None => low,
        Some(n) => {
            let delta = (low - n).rem_euclid(span);
            if delta < span / 2 {
                n + delta
            } else {
                n + delta - span
            }
        }
    };
    *newest = Some(newest.map_or(epoch, |n| n.max(epoch)));
    epoch
}

/// Runs the server-side checks on a record.
pub fn server_checks(record: &Record, sframe: &(dyn SframeClient + Sync)) -> ServerFindings {
    let mut f = ServerFindings::default();
    // One frame per epoch is enough: every sender of an epoch keys its frames from the one base
    // key (RFC 9605 §5.2), so a candidate that opens one sender's frames opens them all. The
    // KID holds the epoch's low bits; in record order they are unwrapped to the full epoch.
    let mut by_epoch: BTreeMap<i64, (u64, MediaKind, &[u8])> = BTreeMap::new();
    let mut kids: HashSet<(i64, u64)> = HashSet::new();
    let mut newest: Option<i64> = None;
    let mut candidates: HashSet<&[u8]> = HashSet::new();
    for (i, p) in record.packets.iter().enumerate() {
        let (what, bytes) = match &p.carried {
            Carried::Rtp(b) => ("RTP packet", b),
            Carried::Ds(b) => ("delivery-service message", b),
        };
        if let Some(off) = bytes
            .windows(CANARY_MARKER.len())
            .position(|w| w == CANARY_MARKER)
        {
            let end = bytes[off..]
                .iter()
                .position(|b| !b.is_ascii_graphic())
                .map_or(bytes.len(), |e| off + e);
            f.canaries.push(format!(
                "{what} {i} (participant {}) holds {} in clear",
                p.participant,
                String::from_utf8_lossy(&bytes[off..end])
            ));
        }
        match &p.carried {
            Carried::Rtp(b) if p.inbound => {
                f.frames += 1;
                if let Some((kind, payload)) =
                    rtp_payload(b).and_then(|(pt, pl)| Some((kind_of(pt)?, pl)))
                {
                    if let Ok((kid, _)) = media::header(sframe, kind, payload) {
                        let epoch = unwrap_epoch(&mut newest, media::split_kid(kid).1);
                        kids.insert((epoch, kid));
                        // The shortest frame of the epoch: the cheapest to try keys on.
                        let rep = by_epoch.entry(epoch).or_insert((kid, kind, payload));
                        if payload.len() < rep.2.len() {
                            *rep = (kid, kind, payload);
                        }
                    }
                }
            }
            Carried::Ds(b) => {
                f.ds_messages += 1;
                candidates.extend(b.windows(MEDIA_KEY_LEN));
            }
            Carried::Rtp(_) => {}
        }
    }
    f.kids = kids.len();
    f.epochs = by_epoch.len();
    f.candidate_keys = candidates.len();
    // Every candidate against every epoch, on every core.
    let candidates: Vec<&[u8]> = candidates.into_iter().collect();
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = candidates.len().div_ceil(workers).max(1);
    let by_epoch = &by_epoch;
    std::thread::scope(|scope| {
        let handles: Vec<_> = candidates
            .chunks(chunk)
            .map(|keys| {
                scope.spawn(move || {
                    let mut found = Vec::new();
                    for key in keys {
                        for (kid, kind, payload) in by_epoch.values() {
                            if media::unprotect(sframe, *kind, payload, key).is_ok() {
                                let (leaf, epoch) = media::split_kid(*kid);
                                found.push(format!(
                                    "the frames of epoch {epoch} mod 2^{} (KID {kid}: {} of leaf {leaf}, and every other sender's) open under {} from a delivery-service message",
                                    KidLayout::LIVE.epoch_bits,
                                    kind.name(),
                                    hex::encode(key)
                                ));
                            }
                        }
                    }
                    found
                })
            })
            .collect();
        for h in handles {
            f.decrypted.extend(h.join().unwrap_or_default());
        }
    });
    f.decrypted.sort();
    f.decrypted.dedup();
    f
}

/// The server-side checks of a record as one results entry for the call `call`, with what they
/// found: a fail per canary in clear and per frame that opened; not-applicable when the record
/// holds nothing the SFU carried (no question to ask of it).
pub fn server_check(
    call: String,
    record: &Record,
    sframe: &(dyn SframeClient + Sync),
) -> (crate::results::Check, ServerFindings) {
    use crate::results::{Check, Question, Scope};
    let found = server_checks(record, sframe);
    let failures: Vec<String> = found
        .canaries
        .iter()
        .chain(&found.decrypted)
        .cloned()
        .collect();
    let scope = Scope::Live {
        call,
        participant: None,
        control: None,
    };
    let check = Check::from_failures(
        scope,
        Question::ServerBlind,
        "the SFU opens nothing it carried",
        &failures,
        "no canary marker in clear; no frame opens under any key-sized window of the \
         delivery-service messages",
    );
    let check = if found.frames + found.ds_messages == 0 && failures.is_empty() {
        check.not_applicable("the record holds no frame and no delivery-service message")
    } else {
        check
    };
    (check, found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::sframe::Sframe;
    use rand::SeedableRng;

    /// An RTP packet: version 2, marker clear, the given PT, sequence, timestamp and SSRC.
    fn rtp(pt: u8, seq: u16, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x80, pt];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&(u32::from(seq) * 960).to_be_bytes());
        p.extend_from_slice(&0x1234_5678u32.to_be_bytes());
        p.extend_from_slice(payload);
        p
    }

    fn call(leak_key: bool, leak_canary: bool) -> Record {
        let sframe = Sframe::new();
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        let key = [42u8; MEDIA_KEY_LEN];
        let kid = media::sender_kid(1, 3).unwrap();
        let mut packets = vec![Packet {
            at: Duration::from_millis(1),
            participant: 1,
            inbound: true,
            carried: Carried::Ds(b"a commit, say".to_vec()),
        }];
        for seq in 0..3u16 {
            for kind in [MediaKind::Audio, MediaKind::Video] {
                let frame = media::synth(kind, "alice", u64::from(seq), &mut rng);
                let payload = media::protect(&sframe, &frame, &key, kid, u64::from(seq)).unwrap();
                packets.push(Packet {
                    at: Duration::from_millis(20 * u64::from(seq)),
                    participant: 1,
                    inbound: true,
                    carried: Carried::Rtp(rtp(kind.payload_type(), seq, &payload)),
                });
            }
        }
        if leak_key {
            let mut msg = b"escrow:".to_vec();
            msg.extend_from_slice(&key);
            packets.push(Packet {
                at: Duration::from_millis(70),
                participant: 1,
                inbound: true,
                carried: Carried::Ds(msg),
            });
        }
        if leak_canary {
            packets.push(Packet {
                at: Duration::from_millis(80),
                participant: 2,
                inbound: false,
                carried: Carried::Ds(media::canary("alice", MediaKind::Audio, 0, 7)),
            });
        }
        Record { packets }
    }

    #[test]
    fn a_record_survives_pcapng_and_its_rtp_parses() {
        let record = call(true, true);
        let mut file = Vec::new();
        record.write(&mut file).unwrap();
        assert_eq!(Record::read(&file[..]).unwrap(), record);
        let Carried::Rtp(p) = &record.packets[1].carried else {
            panic!("RTP second")
        };
        assert_eq!(rtp_payload(p).unwrap().0, media::OPUS_PT);
        assert!(Record::read(&b"not pcapng"[..]).is_err());
    }

    #[test]
    fn epochs_unwrap_past_the_kid_bits() {
        let mut newest = None;
        let seen: Vec<i64> = [0, 1, 255, 1, 2, 200, 255, 0, 1, 255, 2]
            .into_iter()
            .map(|low| unwrap_epoch(&mut newest, low))
            .collect();
        // 200 after 2 is 58 back: a late frame of an old epoch, not 198 ahead.
        assert_eq!(seen, [0, 1, -1, 1, 2, -56, -1, 0, 1, -1, 2]);
        let mut newest = Some(250);
        let seen: Vec<i64> = [251, 255, 0, 3, 254, 4]
            .into_iter()
            .map(|low| unwrap_epoch(&mut newest, low))
            .collect();
        assert_eq!(seen, [251, 255, 256, 259, 254, 260]);
    }

    #[test]
    fn large_messages_and_many_participants_survive_pcapng() {
        let mut record = call(false, false);
        // A Welcome bigger than a datagram, to participant 300, interleaved with another's.
        let big: Vec<u8> = (0..3 * DS_PIECE + 17).map(|i| (i % 251) as u8).collect();
        for (participant, inbound) in [(300, false), (2, true), (300, true)] {
            record.packets.push(Packet {
                at: Duration::from_millis(90),
                participant,
                inbound,
                carried: Carried::Ds(big.clone()),
            });
        }
        let mut file = Vec::new();
        record.write(&mut file).unwrap();
        assert_eq!(Record::read(&file[..]).unwrap(), record);
    }

    #[test]
    fn the_server_checks_find_a_leaked_key_and_a_canary_and_nothing_else() {
        let sframe = Sframe::new();
        let clean = server_checks(&call(false, false), &sframe);
        assert_eq!((clean.frames, clean.kids, clean.ds_messages), (6, 1, 1));
        assert!(clean.canaries.is_empty() && clean.decrypted.is_empty());
        let leaky = server_checks(&call(true, true), &sframe);
        assert_eq!(leaky.decrypted.len(), 1, "{:?}", leaky.decrypted);
        assert_eq!(
            leaky.canaries,
            vec!["delivery-service message 8 (participant 2) holds CANARY/alice/audio/0/0000000000000007 in clear"]
        );
    }

    #[test]
    fn the_record_check_fails_on_a_leak_and_is_not_applicable_on_nothing() {
        use crate::results::Verdict;
        let sframe = Sframe::new();
        let verdict = |r: &Record| server_check("c".into(), r, &sframe).0.verdict;
        assert_eq!(verdict(&Record::default()), Verdict::NotApplicable);
        assert_eq!(verdict(&call(false, false)), Verdict::Pass);
        assert_eq!(verdict(&call(true, true)), Verdict::Fail);
    }
}
