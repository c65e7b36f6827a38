//! The selective forwarding unit: one UDP socket on loopback, one sans-I/O `rtc` peer
//! connection per participant (webrtc-rs 0.21's async crate binds a socket per connection;
//! driving the core ourselves lets every participant share the SFU's one port, told apart by
//! source address or, for a new source, the STUN username we pinned for it).
//!
//! It terminates DTLS-SRTP as real SFUs do, so it holds every RTP packet in clear: it records
//! each one (and every delivery-service message) into a [`Record`] and forwards it to every
//! other participant, including those removed from the group (the checks need a hostile SFU
//! that keeps feeding them). It is also the delivery service: it orders membership changes one
//! at a time (joins that queue up go in one commit), asking the committer (the longest-standing
//! member; under `any` every member, the first commit to arrive winning, as in DAVE) to commit
//! each, then fans the commit out.
//!
//! Forwarding uses slots, as large-meeting SFUs do: every connection is negotiated once with a
//! fixed number of audio and video streams from the SFU, and the SFU puts the first members
//! that send into them (a slot is freed when its sender leaves the group). A receiver learns
//! whose frame it holds from the SFrame KID, not from the stream. Renegotiating a stream per
//! sender instead costs each join O(N) offers of O(N) m-lines: 148 KB of SDP and 49 ms per
//! participant at 200 (measured with webrtc-rs 0.21.1 here).

use super::ds::DsMsg;
use super::media::{OPUS_PT, VP8_PT};
use super::record::{Carried, Packet, Record};
use super::script::CommitterPolicy;
use bytes::BytesMut;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::media_engine::MediaEngine;
use rtc::peer_connection::configuration::setting_engine::{
    SctpMaxMessageSize, SettingEngineBuilder,
};
use rtc::peer_connection::configuration::RTCConfigurationBuilder;
use rtc::peer_connection::event::{RTCDataChannelEvent, RTCPeerConnectionEvent, RTCTrackEvent};
use rtc::peer_connection::message::RTCMessage;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::transport::{
    CandidateConfig, CandidateHostConfig, RTCIceCandidate, RTCIceCandidateInit,
};
use rtc::peer_connection::{RTCPeerConnection, RTCPeerConnectionBuilder};
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters, RTCRtpEncodingParameters,
    RtpCodecKind,
};
use rtc::rtp_transceiver::{RTCRtpSenderId, RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use rtc::sansio::Protocol;
use rtc::shared::marshal::Marshal;
use rtc::shared::{TaggedBytesMut, TransportContext, TransportProtocol};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

/// The largest data-channel message both ends accept (webrtc-rs's hard cap).
pub const MAX_MESSAGE: usize = 256 * 1024;

pub fn opus() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: "audio/opus".into(),
        clock_rate: 48000,
        channels: 2,
        sdp_fmtp_line: "minptime=10;useinbandfec=1".into(),
        rtcp_feedback: vec![],
    }
}

pub fn vp8() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: "video/VP8".into(),
        clock_rate: 90000,
        channels: 0,
        sdp_fmtp_line: String::new(),
        rtcp_feedback: vec![],
    }
}

/// Opus and VP8 only, on the same payload types on every leg (so forwarding never rewrites
/// them).
pub fn media_engine() -> MediaEngine {
    let mut me = MediaEngine::default();
    let _ = me.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: opus(),
            payload_type: OPUS_PT,
        },
        RtpCodecKind::Audio,
    );
    let _ = me.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: vp8(),
            payload_type: VP8_PT,
        },
        RtpCodecKind::Video,
    );
    me
}

pub fn track(kind: RtpCodecKind, id: String, stream: String, ssrc: u32) -> MediaStreamTrack {
    MediaStreamTrack::new(
        stream,
        id.clone(),
        id,
        kind,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(ssrc),
                ..Default::default()
            },
            codec: if kind == RtpCodecKind::Audio {
                opus()
            } else {
                vp8()
            },
            ..Default::default()
        }],
    )
}

/// What the call tells the SFU.
#[derive(Debug)]
pub enum SfuCmd {
    /// A participant connects: the SFU offers to it on `offers`; replies with its id.
    Connect {
        name: String,
        offers: mpsc::UnboundedSender<RTCSessionDescription>,
        reply: oneshot::Sender<usize>,
    },
    Answer {
        id: usize,
        sdp: Box<RTCSessionDescription>,
    },
    /// Remove a participant from the group (server-initiated).
    Kick { name: String },
    /// Stop and hand over the record and what the delivery service saw happen.
    Finish { reply: oneshot::Sender<SfuReport> },
}

/// When each membership change was committed, as the SFU saw it.
#[derive(Clone, Debug)]
pub struct Committed {
    pub at: Duration,
    pub committer: String,
    /// "join bob", "leave carol", "kick dave", "rotate bob".
    pub change: String,
    /// When the SFU got the request (a join's key package, a leave, a kick, a rotation).
    pub requested: Duration,
}

#[derive(Debug, Default)]
pub struct SfuReport {
    pub record: Record,
    pub committed: Vec<Committed>,
    pub forwarded: u64,
    /// Old packets sent to newcomers.
    pub replayed: u64,
    pub forward_errors: u64,
    /// Commits that lost the race of their change (under `any`), or came unasked.
    pub discarded_commits: u64,
    /// RTP payloads (by [`frame_id`]) forwarded to nobody: their sender had no slot (all
    /// taken, or it was not a member).
    pub unforwarded: std::collections::HashSet<u64>,
}

/// A pending membership change.
#[derive(Clone, Debug)]
enum Change {
    /// Joiners: (name, key package, when requested).
    Add {
        joiners: Vec<(String, Vec<u8>, Duration)>,
    },
    Remove {
        name: String,
        why: &'static str,
        requested: Duration,
    },
    Update {
        name: String,
        proposal: Vec<u8>,
        requested: Duration,
    },
}

/// At most this many joins in one commit.
const MAX_BATCH: usize = 64;

struct Peer {
    name: String,
    pc: RTCPeerConnection,
    offers: mpsc::UnboundedSender<RTCSessionDescription>,
    in_kind: HashMap<String, RtpCodecKind>,
    /// Its forwarding slots per kind: (sender, SSRC), negotiated once.
    slots: HashMap<RtpCodecKind, Vec<(RTCRtpSenderId, u32)>>,
    awaiting_answer: bool,
    reneg_pending: bool,
    dc: Option<usize>,
    /// Delivery-service messages waiting for the data channel to open.
    outbox: Vec<Vec<u8>>,
    reassembly: super::ds::Reassembly,
    /// Has input or output waiting: on the dirty list.
    dirty: bool,
    /// Its next timer, as of its last flush.
    timeout: Option<Instant>,
}

struct Sfu {
    socket: Arc<UdpSocket>,
    local: SocketAddr,
    peers: Vec<Peer>,
    by_addr: HashMap<SocketAddr, usize>,
    by_ufrag: HashMap<String, usize>,
    start: Instant,
    report: SfuReport,
    policy: CommitterPolicy,
    /// Members in the order they joined.
    members: Vec<String>,
    changes: VecDeque<Change>,
    /// The change being committed, and who was asked to commit it.
    in_flight: Option<(Change, Vec<String>)>,
    /// Number of the latest change asked for (commits answer with it).
    change_number: u32,
    /// Each slot's last packets, replayed to whoever connects: a hostile SFU hands a joiner
    /// the media from before its join.
    recent: HashMap<(RtpCodecKind, usize), VecDeque<rtc::rtp::Packet>>,
    slot_count: usize,
    /// Who holds each slot, per kind.
    slot_holder: HashMap<RtpCodecKind, Vec<Option<usize>>>,
    /// Connections to flush: only those touched since the last flush, so a packet costs the
    /// connections it concerns, not all of them (at 200 participants that was the SFU's lag).
    dirty: Vec<usize>,
}

/// Packets per source and kind replayed to a newcomer (about a second of audio).
const REPLAYED: usize = 50;

/// STUN USERNAME (0x0006) of a binding request, if `b` is STUN (RFC 8489 §14.3).
fn stun_username(b: &[u8]) -> Option<String> {
    if b.len() < 20 || b[0] > 1 || b[4..8] != [0x21, 0x12, 0xa4, 0x42] {
        return None;
    }
    let mut i = 20;
    while i + 4 <= b.len() {
        let t = u16::from_be_bytes([b[i], b[i + 1]]);
        let l = usize::from(u16::from_be_bytes([b[i + 2], b[i + 3]]));
        let v = b.get(i + 4..i + 4 + l)?;
        if t == 0x0006 {
            return String::from_utf8(v.to_vec()).ok();
        }
        i += 4 + ((l + 3) & !3);
    }
    None
}

/// What identifies a frame in the SFU's report and the participants' logs: a 64-bit digest of
/// its RTP payload (SipHash with fixed keys; collisions are negligible at a call's few
/// hundred thousand frames).
pub fn frame_id(payload: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    payload.hash(&mut h);
    h.finish()
}

/// The SFU's receive and send buffers. Every connection's SCTP acknowledgements of a fanned-out
/// commit arrive at once (199 × a dozen at 200 participants), and the kernel charges each small
/// datagram about a kilobyte: Linux's default 208 KiB dropped them, and SCTP then waited a full
/// retransmission timeout (1 s) to resend. Capped by net.core.rmem_max / wmem_max.
const SOCKET_BUFFER: usize = 4 << 20;

fn bind(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol as IpProtocol, Socket, Type};
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::DGRAM,
        Some(IpProtocol::UDP),
    )?;
    // Best effort: a smaller buffer only makes large calls slower.
    let _ = socket.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = socket.set_send_buffer_size(SOCKET_BUFFER);
    socket.bind(&addr.into())?;
    socket.set_nonblocking(true)?;
    UdpSocket::from_std(socket.into())
}

/// Binds the SFU on `addr` (loopback unless told otherwise) and runs it until `Finish`, with
/// `slots` forwarding slots of each kind per participant.
pub async fn start(
    addr: SocketAddr,
    policy: CommitterPolicy,
    slots: usize,
    start: Instant,
) -> std::io::Result<(mpsc::UnboundedSender<SfuCmd>, SocketAddr)> {
    let socket = Arc::new(bind(addr)?);
    let local = socket.local_addr()?;
    let (tx, rx) = mpsc::unbounded_channel();
    let sfu = Sfu {
        socket,
        local,
        peers: Vec::new(),
        by_addr: HashMap::new(),
        by_ufrag: HashMap::new(),
        start,
        report: SfuReport::default(),
        policy,
        members: Vec::new(),
        changes: VecDeque::new(),
        in_flight: None,
        change_number: 0,
        recent: HashMap::new(),
        slot_count: slots,
        slot_holder: [RtpCodecKind::Audio, RtpCodecKind::Video]
            .into_iter()
            .map(|k| (k, vec![None; slots]))
            .collect(),
        dirty: Vec::new(),
    };
    tokio::spawn(sfu.run(rx));
    Ok((tx, local))
}

impl Sfu {
    fn touch(&mut self, id: usize) {
        if let Some(p) = self.peers.get_mut(id) {
            if !p.dirty {
                p.dirty = true;
                self.dirty.push(id);
            }
        }
    }

    fn id_of(&self, name: &str) -> Option<usize> {
        self.peers.iter().position(|p| p.name == name)
    }

    /// The forwarding slots of a new connection, `slot_count` of each kind.
    fn add_slots(
        pc: &mut RTCPeerConnection,
        dst: usize,
        count: usize,
    ) -> HashMap<RtpCodecKind, Vec<(RTCRtpSenderId, u32)>> {
        let mut slots = HashMap::new();
        for (k, kind) in [RtpCodecKind::Audio, RtpCodecKind::Video]
            .into_iter()
            .enumerate()
        {
            let mut of_kind = Vec::new();
            for slot in 0..count {
                let ssrc = 0x5000_0000 + (dst as u32) * 0x1_0000 + (slot as u32) * 0x10 + k as u32;
                let t = track(kind, format!("slot{slot}-{k}"), format!("slot{slot}"), ssrc);
                // Not add_track: it would take over this peer's own receiving transceiver.
                let init = RTCRtpTransceiverInit {
                    direction: RTCRtpTransceiverDirection::Sendonly,
                    ..Default::default()
                };
                if let Ok(t) = pc.add_transceiver_from_track(t, Some(init)) {
                    of_kind.push((RTCRtpSenderId::from(t), ssrc));
                }
            }
            slots.insert(kind, of_kind);
        }
        slots
    }

    /// The slot `src` sends `kind` in: the one it holds, else a free one if it is a member.
    fn slot_for(&mut self, src: usize, kind: RtpCodecKind) -> Option<usize> {
        let holders = self.slot_holder.get_mut(&kind)?;
        if let Some(slot) = holders.iter().position(|h| *h == Some(src)) {
            return Some(slot);
        }
        if !self.members.contains(&self.peers[src].name) {
            return None;
        }
        let slot = holders.iter().position(Option::is_none)?;
        holders[slot] = Some(src);
        Some(slot)
    }

    /// A departed member's slots go to whoever sends next.
    fn free_slots(&mut self, src: usize) {
        for (kind, holders) in self.slot_holder.iter_mut() {
            for (slot, h) in holders.iter_mut().enumerate() {
                if *h == Some(src) {
                    *h = None;
                    self.recent.remove(&(*kind, slot));
                }
            }
        }
    }

    fn offer(&mut self, id: usize) {
        self.touch(id);
        let local = self.local;
        let p = &mut self.peers[id];
        if p.awaiting_answer {
            p.reneg_pending = true;
            return;
        }
        let now = Instant::now();
        let Ok(offer) = p.pc.create_offer(None) else {
            return;
        };
        if p.pc.set_local_description(now, offer).is_err() {
            return;
        }
        let cand = CandidateHostConfig {
            base_config: CandidateConfig {
                network: "udp".into(),
                address: local.ip().to_string(),
                port: local.port(),
                component: 1,
                ..Default::default()
            },
            ..Default::default()
        }
        .new_candidate_host();
        if let Ok(json) = cand.and_then(|c| RTCIceCandidate::from(&c).to_json()) {
            let _ = p.pc.add_local_candidate(json);
        }
        let _ = p.pc.add_local_candidate(RTCIceCandidateInit::default());
        if let Some(desc) = p.pc.local_description() {
            p.awaiting_answer = true;
            let _ = p.offers.send(desc);
        }
    }

    fn connect(
        &mut self,
        name: String,
        offers: mpsc::UnboundedSender<RTCSessionDescription>,
    ) -> usize {
        let id = self.peers.len();
        let ufrag = format!("sfu{id:04}");
        let se = SettingEngineBuilder::new()
            .with_ice_credentials(
                ufrag.clone(),
                format!("sfu-ice-password-{id:04}-0123456789"),
            )
            .with_sctp_max_message_size(SctpMaxMessageSize::Bounded(MAX_MESSAGE as u32))
            .build();
        let built = RTCPeerConnectionBuilder::new()
            .with_configuration(RTCConfigurationBuilder::new().build())
            .with_media_engine(media_engine())
            .with_setting_engine(se)
            .build(Instant::now());
        let Ok(mut pc) = built else {
            tracing::error!("SFU: cannot make a peer connection for {name}");
            return usize::MAX;
        };
        for kind in [RtpCodecKind::Audio, RtpCodecKind::Video] {
            let init = RTCRtpTransceiverInit {
                direction: RTCRtpTransceiverDirection::Recvonly,
                ..Default::default()
            };
            let _ = pc.add_transceiver_from_kind(kind, Some(init));
        }
        let _ = pc.create_data_channel("mls", None);
        let slots = Self::add_slots(&mut pc, id, self.slot_count);
        self.peers.push(Peer {
            name,
            pc,
            offers,
            in_kind: HashMap::new(),
            slots,
            awaiting_answer: false,
            reneg_pending: false,
            dc: None,
            outbox: Vec::new(),
            reassembly: Default::default(),
            dirty: false,
            timeout: None,
        });
        self.by_ufrag.insert(ufrag, id);
        self.offer(id);
        id
    }

    fn answer(&mut self, id: usize, sdp: RTCSessionDescription) {
        self.touch(id);
        let Some(p) = self.peers.get_mut(id) else {
            return;
        };
        let _ = p.pc.set_remote_description(Instant::now(), sdp);
        p.awaiting_answer = false;
        if std::mem::take(&mut p.reneg_pending) {
            self.offer(id);
        }
    }

    /// Sends a delivery-service message to a peer (queued until its channel opens), recorded.
    fn send_ds(&mut self, id: usize, msg: &DsMsg) {
        self.touch(id);
        let bytes = msg.encode();
        let pieces = super::ds::fragments(&bytes, MAX_MESSAGE);
        self.report.record.packets.push(Packet {
            at: self.start.elapsed(),
            participant: id as u16 + 1,
            inbound: false,
            carried: Carried::Ds(bytes),
        });
        let p = &mut self.peers[id];
        match p.dc.and_then(|dc| p.pc.data_channel(dc)) {
            Some(mut dc) => {
                for piece in pieces {
                    let _ = dc.send(Instant::now(), BytesMut::from(&piece[..]));
                }
            }
            None => p.outbox.extend(pieces),
        }
    }

    /// Starts the next membership change if none is in flight.
    fn next_change(&mut self) {
        if self.in_flight.is_some() {
            return;
        }
        let Some(mut change) = self.changes.pop_front() else {
            return;
        };
        // Joins waiting behind this one go in the same commit.
        if let Change::Add { joiners } = &mut change {
            while joiners.len() < MAX_BATCH {
                match self.changes.front() {
                    Some(Change::Add { .. }) => {
                        if let Some(Change::Add { joiners: more }) = self.changes.pop_front() {
                            joiners.extend(more);
                        }
                    }
                    _ => break,
                }
            }
        }
        let candidates: Vec<String> = self
            .members
            .iter()
            .filter(|m| !matches!(&change, Change::Remove { name, .. } if name == *m))
            .cloned()
            .collect();
        let asked: Vec<String> = match (&change, self.policy) {
            // A rotation under `any` is committed by the rotating member itself.
            (Change::Update { name, proposal, .. }, CommitterPolicy::Any)
                if proposal.is_empty() =>
            {
                vec![name.clone()]
            }
            // Nobody to commit yet (joins before the group exists): wait for the group.
            _ if candidates.is_empty() => {
                self.changes.push_front(change);
                return;
            }
            (_, CommitterPolicy::Designated) => vec![candidates[0].clone()],
            // DAVE: every member commits; the first commit to reach the SFU wins.
            (_, CommitterPolicy::Any) => candidates,
        };
        self.change_number += 1;
        let change_number = self.change_number;
        let msg = match &change {
            Change::Add { joiners } => DsMsg::PleaseAdd {
                change: change_number,
                key_packages: joiners.iter().map(|(_, kp, _)| kp.clone()).collect(),
            },
            Change::Remove { name, .. } => DsMsg::PleaseRemove {
                change: change_number,
                name: name.clone(),
            },
            Change::Update { proposal, .. } => DsMsg::PleaseUpdate {
                change: change_number,
                proposal: proposal.clone(),
            },
        };
        for who in &asked {
            if let Some(id) = self.id_of(who) {
                self.send_ds(id, &msg);
            }
        }
        self.in_flight = Some((change, asked));
    }

    fn on_ds(&mut self, from: usize, bytes: &[u8]) {
        let at = self.start.elapsed();
        self.report.record.packets.push(Packet {
            at,
            participant: from as u16 + 1,
            inbound: true,
            carried: Carried::Ds(bytes.to_vec()),
        });
        let name = self.peers[from].name.clone();
        match DsMsg::decode(bytes) {
            Some(DsMsg::Created) if self.members.is_empty() => self.members.push(name),
            Some(DsMsg::JoinRequest { key_package }) => self.changes.push_back(Change::Add {
                joiners: vec![(name, key_package, at)],
            }),
            Some(DsMsg::LeaveRequest) => self.changes.push_back(Change::Remove {
                name,
                why: "leave",
                requested: at,
            }),
            Some(DsMsg::RotateRequest { proposal }) => self.changes.push_back(Change::Update {
                name,
                proposal,
                requested: at,
            }),
            Some(DsMsg::Commit {
                change: number,
                commit,
                welcome,
            }) => {
                // The first commit of the change in flight from someone asked wins; the rest
                // (losers of the race, or late ones) are recorded and dropped.
                let Some((change, asked)) = self.in_flight.take() else {
                    self.report.discarded_commits += 1;
                    return;
                };
                if number != self.change_number || !asked.contains(&name) {
                    self.report.discarded_commits += 1;
                    self.in_flight = Some((change, asked));
                    return;
                }
                // Under `any` the winner learns it won from the fan-out, as the losers learn
                // they lost; a designated committer merged already.
                let winner_too = self.policy == CommitterPolicy::Any;
                let proposal = match &change {
                    Change::Update { proposal, .. } => proposal.clone(),
                    _ => Vec::new(),
                };
                // Every other connected participant gets the commit, members or not.
                for id in 0..self.peers.len() {
                    if id != from || winner_too {
                        let msg = DsMsg::Fanout {
                            commit: commit.clone(),
                            proposal: proposal.clone(),
                        };
                        self.send_ds(id, &msg);
                    }
                }
                let at = self.start.elapsed();
                let mut done = Vec::new();
                match &change {
                    Change::Add { joiners } => {
                        for (joiner, _, requested) in joiners {
                            if let Some(id) = self.id_of(joiner) {
                                let msg = DsMsg::Welcome {
                                    welcome: welcome.clone(),
                                };
                                self.send_ds(id, &msg);
                            }
                            self.members.push(joiner.clone());
                            done.push((format!("join {joiner}"), *requested));
                        }
                    }
                    Change::Remove {
                        name: gone,
                        why,
                        requested,
                    } => {
                        self.members.retain(|m| m != gone);
                        if let Some(id) = self.id_of(gone) {
                            self.free_slots(id);
                        }
                        done.push((format!("{why} {gone}"), *requested));
                    }
                    Change::Update {
                        name: who,
                        requested,
                        ..
                    } => done.push((format!("rotate {who}"), *requested)),
                }
                for (change, requested) in done {
                    self.report.committed.push(Committed {
                        at,
                        committer: name.clone(),
                        change,
                        requested,
                    });
                }
            }
            Some(DsMsg::Group { message }) => {
                for id in 0..self.peers.len() {
                    if id != from {
                        let msg = DsMsg::Group {
                            message: message.clone(),
                        };
                        self.send_ds(id, &msg);
                    }
                }
            }
            // Escrow and anything else: recorded, nothing to do.
            _ => {}
        }
        self.next_change();
    }

    /// Sends `dst` every slot's recent packets (its transport is up: its channel opened).
    fn replay_to(&mut self, dst: usize) {
        let now = Instant::now();
        let recent: Vec<((RtpCodecKind, usize), Vec<rtc::rtp::Packet>)> = self
            .recent
            .iter()
            .filter(|((kind, slot), _)| self.slot_holder[kind][*slot] != Some(dst))
            .map(|(k, v)| (*k, v.iter().cloned().collect()))
            .collect();
        for ((kind, slot), packets) in recent {
            for p in packets {
                if self.write_to_slot(dst, kind, slot, p, now) == Some(true) {
                    self.report.replayed += 1;
                }
            }
        }
    }

    /// Sends `packet` to `dst` in its forwarding slot `slot` of `kind`, as that slot's SSRC.
    /// None if `dst` has no such slot; Some(false) if the write failed (counted).
    fn write_to_slot(
        &mut self,
        dst: usize,
        kind: RtpCodecKind,
        slot: usize,
        mut packet: rtc::rtp::Packet,
        now: Instant,
    ) -> Option<bool> {
        let &(sid, ssrc) = self.peers[dst].slots.get(&kind)?.get(slot)?;
        self.touch(dst);
        packet.header.ssrc = ssrc;
        let sent = self.peers[dst]
            .pc
            .rtp_sender(sid)
            .map(|mut s| s.write_rtp(now, packet))
            .is_some_and(|r| r.is_ok());
        if !sent {
            self.report.forward_errors += 1;
        }
        Some(sent)
    }

    async fn flush(&mut self) {
        loop {
            let mut fwd: Vec<(usize, RtpCodecKind, usize, rtc::rtp::Packet)> = Vec::new();
            let mut ds: Vec<(usize, Vec<u8>)> = Vec::new();
            let batch = std::mem::take(&mut self.dirty);
            if batch.is_empty() {
                break;
            }
            for i in batch {
                self.peers[i].dirty = false;
                while let Some(msg) = self.peers[i].pc.poll_write() {
                    let _ = self
                        .socket
                        .send_to(&msg.message, msg.transport.peer_addr)
                        .await;
                }
                while let Some(ev) = self.peers[i].pc.poll_event() {
                    match ev {
                        RTCPeerConnectionEvent::OnTrack(RTCTrackEvent::OnOpen(init)) => {
                            let kind = self.peers[i]
                                .pc
                                .rtp_receiver(init.receiver_id)
                                .map(|r| r.track().kind());
                            if let Some(kind) = kind {
                                self.peers[i].in_kind.insert(init.track_id.clone(), kind);
                            }
                        }
                        RTCPeerConnectionEvent::OnDataChannel(RTCDataChannelEvent::OnOpen(dc)) => {
                            self.peers[i].dc = Some(dc);
                            self.replay_to(i);
                            let queued = std::mem::take(&mut self.peers[i].outbox);
                            if let Some(mut ch) = self.peers[i].pc.data_channel(dc) {
                                for m in queued {
                                    let _ = ch.send(Instant::now(), BytesMut::from(&m[..]));
                                }
                            }
                        }
                        _ => {}
                    }
                }
                while let Some(m) = self.peers[i].pc.poll_read() {
                    match m.message {
                        RTCMessage::RtpPacket(track_id, pkt) => {
                            if let Ok(raw) = pkt.marshal() {
                                self.report.record.packets.push(Packet {
                                    at: self.start.elapsed(),
                                    participant: i as u16 + 1,
                                    inbound: true,
                                    carried: Carried::Rtp(raw.to_vec()),
                                });
                            }
                            let kind = self.peers[i].in_kind.get(&track_id).copied();
                            match kind.and_then(|kind| Some((kind, self.slot_for(i, kind)?))) {
                                Some((kind, slot)) => {
                                    let ring = self.recent.entry((kind, slot)).or_default();
                                    if ring.len() == REPLAYED {
                                        ring.pop_front();
                                    }
                                    ring.push_back(pkt.clone());
                                    fwd.push((i, kind, slot, pkt));
                                }
                                None => {
                                    self.report.unforwarded.insert(frame_id(&pkt.payload));
                                }
                            }
                        }
                        RTCMessage::DataChannelMessage(_, msg) => {
                            if let Some(whole) = self.peers[i].reassembly.push(&msg.data) {
                                ds.push((i, whole));
                            }
                        }
                        _ => {}
                    }
                }
                self.peers[i].timeout = self.peers[i].pc.poll_timeout();
            }
            for (from, bytes) in ds {
                self.on_ds(from, &bytes);
            }
            let now = Instant::now();
            for (src, kind, slot, pkt) in fwd {
                for dst in 0..self.peers.len() {
                    if dst == src {
                        continue;
                    }
                    if self.write_to_slot(dst, kind, slot, pkt.clone(), now) == Some(true) {
                        self.report.forwarded += 1;
                    }
                }
            }
        }
    }

    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<SfuCmd>) {
        let mut buf = vec![0u8; 2048];
        loop {
            self.flush().await;
            let next = self
                .peers
                .iter()
                .filter_map(|p| p.timeout)
                .min()
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                r = self.socket.recv_from(&mut buf) => {
                    let Ok((n, from)) = r else { continue };
                    let id = match self.by_addr.get(&from) {
                        Some(&id) => Some(id),
                        None => stun_username(&buf[..n])
                            .and_then(|u| u.split(':').next().map(str::to_owned))
                            .and_then(|uf| self.by_ufrag.get(&uf).copied())
                            .inspect(|&id| { self.by_addr.insert(from, id); }),
                    };
                    if let Some(id) = id {
                        self.touch(id);
                        let _ = self.peers[id].pc.handle_read(TaggedBytesMut {
                            now: Instant::now(),
                            transport: TransportContext {
                                local_addr: self.local,
                                peer_addr: from,
                                transport_protocol: TransportProtocol::UDP,
                                ecn: None,
                            },
                            message: BytesMut::from(&buf[..n]),
                        });
                    }
                }
                _ = tokio::time::sleep_until(next.into()) => {
                    let now = Instant::now();
                    for id in 0..self.peers.len() {
                        if self.peers[id].timeout.is_some_and(|t| t <= now) {
                            self.touch(id);
                            let _ = self.peers[id].pc.handle_timeout(now);
                        }
                    }
                }
                c = commands.recv() => match c {
                    Some(SfuCmd::Connect { name, offers, reply }) => {
                        let id = self.connect(name, offers);
                        let _ = reply.send(id);
                    }
                    Some(SfuCmd::Answer { id, sdp }) => self.answer(id, *sdp),
                    Some(SfuCmd::Kick { name }) => {
                        let requested = self.start.elapsed();
                        self.changes.push_back(Change::Remove { name, why: "kick", requested });
                        self.next_change();
                    }
                    Some(SfuCmd::Finish { reply }) => {
                        for p in self.peers.iter_mut() {
                            let _ = p.pc.close();
                        }
                        let _ = reply.send(std::mem::take(&mut self.report));
                        return;
                    }
                    None => return,
                },
            }
        }
    }
}
