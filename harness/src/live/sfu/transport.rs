//! The SFU's transport: one UDP socket shared by every participant's sans-I/O peer connection
//! (ICE, DTLS-SRTP, SCTP), told apart by source address or, for a new source, the STUN username
//! pinned for it; offers and answers; flushing what each connection has to send, and polling
//! what it received.

use super::slots::Forward;
use super::{Peer, Sfu};
use crate::live::ds::{self, DsMsg};
use crate::live::media::{OPUS_PT, VP8_PT};
use crate::live::record::{Carried, Packet};
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
use rtc::peer_connection::RTCPeerConnectionBuilder;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters, RTCRtpEncodingParameters,
    RtpCodecKind,
};
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use rtc::sansio::Protocol;
use rtc::shared::{TaggedBytesMut, TransportContext, TransportProtocol};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

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

/// The SFU's receive and send buffers. Every connection's SCTP acknowledgements of a fanned-out
/// commit arrive at once (199 × a dozen at 200 participants), and the kernel charges each small
/// datagram about a kilobyte: Linux's default 208 KiB dropped them, and SCTP then waited a full
/// retransmission timeout (1 s) to resend. Capped by net.core.rmem_max / wmem_max.
const SOCKET_BUFFER: usize = 4 << 20;

pub(super) fn bind(addr: SocketAddr) -> std::io::Result<UdpSocket> {
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

impl Sfu {
    /// Offers `id` its connection (again, once it has answered the last offer).
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

    /// A new participant's peer connection, with its receiving transceivers, data channel
    /// and forwarding slots; offered at once. Its id, or `usize::MAX` if none could be made.
    pub(super) fn connect(
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

    pub(super) fn answer(&mut self, id: usize, sdp: RTCSessionDescription) {
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
    pub(super) fn send_ds(&mut self, id: usize, msg: &DsMsg) {
        self.touch(id);
        let bytes = msg.encode();
        let pieces = ds::fragments(&bytes, MAX_MESSAGE);
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

    /// Sends what every touched connection has to send and takes in what it received, until
    /// nothing is left: delivery-service messages are handled, then RTP forwarded.
    pub(super) async fn flush(&mut self) {
        loop {
            let batch = std::mem::take(&mut self.dirty);
            if batch.is_empty() {
                break;
            }
            let mut fwd: Vec<Forward> = Vec::new();
            let mut ds: Vec<(usize, Vec<u8>)> = Vec::new();
            for i in batch {
                self.flush_peer(i, &mut fwd, &mut ds).await;
            }
            for (from, bytes) in ds {
                self.on_ds(from, &bytes);
            }
            self.forward(fwd);
        }
    }

    /// One connection: its datagrams sent, its events handled, what it received collected
    /// (RTP to forward, whole delivery-service messages), its next timer noted.
    async fn flush_peer(
        &mut self,
        i: usize,
        fwd: &mut Vec<Forward>,
        ds: &mut Vec<(usize, Vec<u8>)>,
    ) {
        self.peers[i].dirty = false;
        while let Some(msg) = self.peers[i].pc.poll_write() {
            let _ = self
                .socket
                .send_to(&msg.message, msg.transport.peer_addr)
                .await;
        }
        while let Some(ev) = self.peers[i].pc.poll_event() {
            self.on_event(i, ev);
        }
        while let Some(m) = self.peers[i].pc.poll_read() {
            match m.message {
                RTCMessage::RtpPacket(track_id, pkt) => fwd.extend(self.on_rtp(i, &track_id, pkt)),
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

    /// A connection's event: a track's kind noted; its data channel open, so it gets the
    /// replay and what waited for the channel.
    fn on_event(&mut self, i: usize, ev: RTCPeerConnectionEvent) {
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

    /// A datagram on the socket, to the connection of its source (a new source by its STUN
    /// username).
    pub(super) fn on_datagram(&mut self, bytes: &[u8], from: SocketAddr) {
        let id = match self.by_addr.get(&from) {
            Some(&id) => Some(id),
            None => stun_username(bytes)
                .and_then(|u| u.split(':').next().map(str::to_owned))
                .and_then(|uf| self.by_ufrag.get(&uf).copied())
                .inspect(|&id| {
                    self.by_addr.insert(from, id);
                }),
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
                message: BytesMut::from(bytes),
            });
        }
    }

    /// Every connection whose timer is due handles it.
    pub(super) fn on_timeouts(&mut self) {
        let now = Instant::now();
        for id in 0..self.peers.len() {
            if self.peers[id].timeout.is_some_and(|t| t <= now) {
                self.touch(id);
                let _ = self.peers[id].pc.handle_timeout(now);
            }
        }
    }
}
