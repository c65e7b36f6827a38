//! Forwarding slots, as large-meeting SFUs use: every connection is negotiated once with a
//! fixed number of audio and video streams from the SFU, and the first members that send are put
//! into them (a slot is freed when its sender leaves the group). Each slot keeps its last
//! packets, replayed to whoever connects: a hostile SFU hands a joiner the media from before its
//! join.

use super::{frame_id, Sfu};
use crate::live::record::{Carried, Packet};
use rtc::peer_connection::RTCPeerConnection;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use rtc::rtp_transceiver::{RTCRtpSenderId, RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use rtc::shared::marshal::Marshal;
use std::collections::HashMap;
use std::time::Instant;

/// Packets per source and kind replayed to a newcomer (about a second of audio).
const REPLAYED: usize = 50;

/// An RTP packet to forward: from `src`, in its slot `slot` of `kind`.
pub(super) struct Forward {
    src: usize,
    kind: RtpCodecKind,
    slot: usize,
    packet: rtc::rtp::Packet,
}

impl Sfu {
    /// The forwarding slots of a new connection, `slot_count` of each kind.
    pub(super) fn add_slots(
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
                let t = super::track(kind, format!("slot{slot}-{k}"), format!("slot{slot}"), ssrc);
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
    pub(super) fn free_slots(&mut self, src: usize) {
        for (kind, holders) in self.slot_holder.iter_mut() {
            for (slot, h) in holders.iter_mut().enumerate() {
                if *h == Some(src) {
                    *h = None;
                    self.recent.remove(&(*kind, slot));
                }
            }
        }
    }

    /// An RTP packet from `src` on its track `track_id`: recorded, kept for newcomers and
    /// returned to forward if its sender has a slot (else noted as forwarded to nobody).
    pub(super) fn on_rtp(
        &mut self,
        src: usize,
        track_id: &str,
        packet: rtc::rtp::Packet,
    ) -> Option<Forward> {
        if let Ok(raw) = packet.marshal() {
            self.report.record.packets.push(Packet {
                at: self.start.elapsed(),
                participant: src as u16 + 1,
                inbound: true,
                carried: Carried::Rtp(raw.to_vec()),
            });
        }
        let kind = self.peers[src].in_kind.get(track_id).copied();
        let Some((kind, slot)) = kind.and_then(|kind| Some((kind, self.slot_for(src, kind)?)))
        else {
            self.report.unforwarded.insert(frame_id(&packet.payload));
            return None;
        };
        let ring = self.recent.entry((kind, slot)).or_default();
        if ring.len() == REPLAYED {
            ring.pop_front();
        }
        ring.push_back(packet.clone());
        Some(Forward {
            src,
            kind,
            slot,
            packet,
        })
    }

    /// Sends each packet to every other connection, in its sender's slot.
    pub(super) fn forward(&mut self, fwd: Vec<Forward>) {
        let now = Instant::now();
        for f in fwd {
            for dst in 0..self.peers.len() {
                if dst == f.src {
                    continue;
                }
                if self.write_to_slot(dst, f.kind, f.slot, f.packet.clone(), now) == Some(true) {
                    self.report.forwarded += 1;
                }
            }
        }
    }

    /// Sends `dst` every slot's recent packets (its transport is up: its channel opened).
    pub(super) fn replay_to(&mut self, dst: usize) {
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
}
