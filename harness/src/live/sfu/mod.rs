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
//!
//! - `transport`: the socket, ICE/DTLS peer connections, offers and answers, flushing and
//!   polling them;
//! - `slots`: forwarding slots, replay to newcomers;
//! - `sequencer`: membership changes ordered one at a time, their committers, the commits.

mod sequencer;
mod slots;
mod transport;

pub use transport::{media_engine, opus, track, vp8, MAX_MESSAGE};

use super::record::Record;
use super::script::{CommitterPolicy, EventKind};
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::RTCPeerConnection;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use rtc::rtp_transceiver::RTCRtpSenderId;
use rtc::sansio::Protocol;
use sequencer::Pending;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

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
    pub change: Change,
    /// When the SFU got the request (a join's key package, a leave, a kick, a rotation).
    pub requested: Duration,
}

/// A committed membership change: who joined, left, was kicked or rotated its key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// Join, leave, kick or rotate.
    pub kind: EventKind,
    pub who: String,
}

/// "join bob", "leave carol", "kick dave", "rotate bob".
impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind.name(), self.who)
    }
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
    changes: VecDeque<Pending>,
    /// The change being committed, and who was asked to commit it.
    in_flight: Option<(Pending, Vec<String>)>,
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

/// What identifies a frame in the SFU's report and the participants' logs: a 64-bit digest of
/// its RTP payload (SipHash with fixed keys; collisions are negligible at a call's few
/// hundred thousand frames).
pub fn frame_id(payload: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    payload.hash(&mut h);
    h.finish()
}

/// Binds the SFU on `addr` (loopback unless told otherwise) and runs it until `Finish`, with
/// `slots` forwarding slots of each kind per participant.
pub async fn start(
    addr: SocketAddr,
    policy: CommitterPolicy,
    slots: usize,
    start: Instant,
) -> std::io::Result<(mpsc::UnboundedSender<SfuCmd>, SocketAddr)> {
    let socket = Arc::new(transport::bind(addr)?);
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
                    if let Ok((n, from)) = r {
                        self.on_datagram(&buf[..n], from);
                    }
                }
                _ = tokio::time::sleep_until(next.into()) => self.on_timeouts(),
                c = commands.recv() => match c {
                    Some(SfuCmd::Connect { name, offers, reply }) => {
                        let id = self.connect(name, offers);
                        let _ = reply.send(id);
                    }
                    Some(SfuCmd::Answer { id, sdp }) => self.answer(id, *sdp),
                    Some(SfuCmd::Kick { name }) => self.kick(name),
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
