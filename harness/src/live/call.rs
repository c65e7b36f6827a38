//! A live call: the SFU and every participant in one process, each participant a real WebRTC
//! peer connection (webrtc-rs 0.21 async crate) to the SFU over loopback UDP, following the
//! call script's timeline. Participants never hang up early: one that leaves or is kicked stays
//! connected and listening, as a hostile SFU would keep feeding it.

use super::ds::DsMsg;
use super::media::{MediaKind, OPUS_PT, VP8_PT};
use super::participant::Participant;
use super::script::{CallScript, CommitterPolicy, EventKind};
use super::sfu::{self, SfuCmd, SfuReport, MAX_MESSAGE};
use crate::clients::{member_clients, MemberClient};
use bytes::BytesMut;
use rtc::peer_connection::configuration::setting_engine::SctpMaxMessageSize;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::rtp;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCConfigurationBuilder,
    RTCIceGatheringState, SettingEngineBuilder,
};

/// A seeded bug the live checks must flag (`--control NAME`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LiveControl {
    /// Every participant hands its media key of each epoch to the SFU.
    Escrow,
    /// Departures change nobody's key: the committer acknowledges a removal without a commit.
    NoRotate,
    /// A committer gives each joiner the previous epoch's key (inside MLS), as a history
    /// feature would: joiners can open media from before they joined.
    History,
    /// Senders never pick up a new epoch's key: once old keys expire, members cannot open them.
    StaleKey,
}

impl LiveControl {
    pub fn name(self) -> &'static str {
        match self {
            LiveControl::Escrow => "escrow",
            LiveControl::NoRotate => "no-rotate",
            LiveControl::History => "history",
            LiveControl::StaleKey => "stale-key",
        }
    }
}

/// What a participant saw happen, with the time since the call started.
#[derive(Clone, Debug)]
pub enum Event {
    Sent {
        who: String,
        kind: MediaKind,
        at: Duration,
        /// [`sfu::frame_id`] of its RTP payload.
        frame: u64,
    },
    Received {
        who: String,
        kind: MediaKind,
        at: Duration,
        frame: u64,
        opened: bool,
        /// Opened later, from the buffer of frames waiting for a key.
        retried: bool,
    },
    Epoch {
        who: String,
        epoch: u64,
        key: Vec<u8>,
        at: Duration,
    },
    Joined {
        who: String,
        at: Duration,
    },
    Error {
        who: String,
        what: String,
    },
}

/// What a call produced.
#[derive(Debug)]
pub struct CallOutcome {
    pub script: CallScript,
    pub events: Vec<Event>,
    pub sfu: SfuReport,
    pub control: Option<LiveControl>,
    /// When each script event fired.
    pub fired: Vec<(Duration, EventKind, String)>,
}

enum Ctl {
    Leave,
    Rotate,
    Mute(bool),
    Stop,
}

struct Handler {
    gathered: mpsc::UnboundedSender<()>,
    tracks: mpsc::UnboundedSender<Arc<dyn TrackRemote>>,
    channels: mpsc::UnboundedSender<Arc<dyn DataChannel>>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_gathering_state_change(&self, s: RTCIceGatheringState) {
        if s == RTCIceGatheringState::Complete {
            let _ = self.gathered.send(());
        }
    }
    async fn on_track(&self, t: Arc<dyn TrackRemote>) {
        let _ = self.tracks.send(t);
    }
    async fn on_data_channel(&self, dc: Arc<dyn DataChannel>) {
        let _ = self.channels.send(dc);
    }
}

/// Runs `script` with the SFU on `sfu_addr` (port 0: any).
pub async fn run(
    script: CallScript,
    sfu_addr: SocketAddr,
    control: Option<LiveControl>,
    seed: u64,
) -> anyhow::Result<CallOutcome> {
    let start = Instant::now();
    let (sfu_tx, _) = sfu::start(sfu_addr, script.committer, script.slots, start).await?;
    let (log_tx, mut log_rx) = mpsc::unbounded_channel::<Event>();
    let clients: Arc<Vec<Box<dyn MemberClient>>> = Arc::new(member_clients());
    let mut ctl: BTreeMap<String, mpsc::UnboundedSender<Ctl>> = BTreeMap::new();
    let mut tasks = Vec::new();
    let mut fired = Vec::new();
    let mut first = true;
    for (n, e) in script.events.iter().enumerate() {
        tokio::time::sleep_until((start + Duration::from_millis(e.at_ms)).into()).await;
        fired.push((start.elapsed(), e.kind, e.participant.clone()));
        match e.kind {
            EventKind::Join => {
                let spec = script
                    .participants
                    .iter()
                    .find(|p| p.name == e.participant)
                    .cloned()
                    .ok_or_else(|| anyhow::anyhow!("no participant {}", e.participant))?;
                let (tx, rx) = mpsc::unbounded_channel();
                ctl.insert(spec.name.clone(), tx);
                let ctx = ParticipantCtx {
                    name: spec.name.clone(),
                    client: spec.client.clone(),
                    speaks: spec.speaks,
                    clients: clients.clone(),
                    sfu: sfu_tx.clone(),
                    log: log_tx.clone(),
                    start,
                    creator: std::mem::take(&mut first),
                    policy: script.committer,
                    control,
                    seed: seed ^ n as u64,
                    grace: Duration::from_millis(script.grace_ms),
                };
                tasks.push((spec.name.clone(), tokio::spawn(participant(ctx, rx))));
            }
            EventKind::Kick => {
                let _ = sfu_tx.send(SfuCmd::Kick {
                    name: e.participant.clone(),
                });
            }
            kind => {
                if let Some(tx) = ctl.get(&e.participant) {
                    let _ = tx.send(match kind {
                        EventKind::Leave => Ctl::Leave,
                        EventKind::Rotate => Ctl::Rotate,
                        EventKind::Mute => Ctl::Mute(true),
                        _ => Ctl::Mute(false),
                    });
                }
            }
        }
    }
    tokio::time::sleep_until((start + Duration::from_millis(script.end_ms())).into()).await;
    for tx in ctl.values() {
        let _ = tx.send(Ctl::Stop);
    }
    for (name, t) in tasks {
        // A participant stuck on a send is reported, not waited for forever.
        let abort = t.abort_handle();
        if tokio::time::timeout(Duration::from_secs(5), t)
            .await
            .is_err()
        {
            abort.abort();
            let _ = log_tx.send(Event::Error {
                who: name,
                what: "did not stop within 5 s of the call's end".into(),
            });
        }
    }
    let (reply, report) = oneshot::channel();
    let _ = sfu_tx.send(SfuCmd::Finish { reply });
    let sfu = report.await.unwrap_or_default();
    drop(log_tx);
    let mut events = Vec::new();
    while let Some(e) = log_rx.recv().await {
        events.push(e);
    }
    Ok(CallOutcome {
        script,
        events,
        sfu,
        control,
        fired,
    })
}

struct ParticipantCtx {
    name: String,
    client: String,
    /// Sends media (else listens only).
    speaks: bool,
    clients: Arc<Vec<Box<dyn MemberClient>>>,
    sfu: mpsc::UnboundedSender<SfuCmd>,
    log: mpsc::UnboundedSender<Event>,
    start: Instant,
    creator: bool,
    policy: CommitterPolicy,
    control: Option<LiveControl>,
    seed: u64,
    grace: Duration,
}

impl ParticipantCtx {
    fn at(&self) -> Duration {
        self.start.elapsed()
    }
    fn error(&self, what: String) {
        let _ = self.log.send(Event::Error {
            who: self.name.clone(),
            what,
        });
    }
}

/// One participant, until told to stop. Errors are logged and the call goes on.
async fn participant(ctx: ParticipantCtx, mut ctl: mpsc::UnboundedReceiver<Ctl>) {
    if let Err(e) = participant_inner(&ctx, &mut ctl).await {
        ctx.error(format!("{e:#}"));
    }
}

async fn participant_inner(
    ctx: &ParticipantCtx,
    ctl: &mut mpsc::UnboundedReceiver<Ctl>,
) -> anyhow::Result<()> {
    let me = new_member(ctx)?;
    let (link, mut inbound) = connect(ctx).await?;
    let mut s = Session::new(ctx, me, link);
    s.enter().await?;
    let mut audio_tick =
        tokio::time::interval(Duration::from_millis(MediaKind::Audio.interval_ms()));
    let mut video_tick =
        tokio::time::interval(Duration::from_millis(MediaKind::Video.interval_ms()));
    loop {
        s.retry_waiting();
        tokio::select! {
            c = ctl.recv() => match c {
                Some(Ctl::Stop) | None => break,
                Some(c) => s.on_ctl(c).await?,
            },
            Some(bytes) = inbound.ds.recv() => s.on_ds(&bytes).await?,
            Some((kind, payload)) = inbound.rtp.recv() => s.on_rtp(kind, payload),
            _ = audio_tick.tick() => s.tick(MediaKind::Audio).await,
            _ = video_tick.tick() => s.tick(MediaKind::Video).await,
        }
    }
    let _ = s.link.pc.close().await;
    Ok(())
}

/// The participant's MLS member, on its client, with the call's key retention and control.
fn new_member(ctx: &ParticipantCtx) -> anyhow::Result<Participant> {
    let client = ctx
        .clients
        .iter()
        .find(|c| c.name() == ctx.client)
        .ok_or_else(|| anyhow::anyhow!("no client {}", ctx.client))?;
    let mut me = Participant::new(&ctx.name, client.as_ref(), ctx.seed)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    me.set_retain(ctx.grace);
    me.set_stale_sender(ctx.control == Some(LiveControl::StaleKey));
    Ok(me)
}

/// The participant's end of the delivery service: its data channel to the SFU.
struct DsChannel(Arc<dyn DataChannel>);

impl DsChannel {
    /// Sends `msg`, in pieces the channel takes.
    async fn send(&self, msg: DsMsg) -> Result<(), webrtc::error::Error> {
        for piece in super::ds::fragments(&msg.encode(), MAX_MESSAGE) {
            self.0.send(BytesMut::from(&piece[..])).await?;
        }
        Ok(())
    }
}

/// A participant's connection to the SFU: what it sends on.
struct Link {
    pc: Arc<dyn PeerConnection>,
    audio: Arc<TrackLocalStaticRTP>,
    video: Arc<TrackLocalStaticRTP>,
    /// Its audio track's SSRC; video's is the next.
    ssrc_audio: u32,
    ds: DsChannel,
}

/// What the SFU sends a participant: received RTP payloads and whole delivery-service messages.
struct Inbound {
    rtp: mpsc::UnboundedReceiver<(MediaKind, Vec<u8>)>,
    ds: mpsc::UnboundedReceiver<Vec<u8>>,
}

/// Connects to the SFU: a peer connection answering its offers (the first now, every later one
/// as it comes), its tracks, and the SFU's data channel once open.
async fn connect(ctx: &ParticipantCtx) -> anyhow::Result<(Link, Inbound)> {
    let (gtx, mut gathered) = mpsc::unbounded_channel();
    let (ttx, tracks) = mpsc::unbounded_channel();
    let (dtx, mut channels) = mpsc::unbounded_channel();
    let se = SettingEngineBuilder::new()
        .with_sctp_max_message_size(SctpMaxMessageSize::Bounded(MAX_MESSAGE as u32))
        .build();
    let pc: Arc<dyn PeerConnection> = Arc::new(
        PeerConnectionBuilder::new()
            .with_configuration(RTCConfigurationBuilder::new().build())
            .with_media_engine(sfu::media_engine())
            .with_setting_engine(se)
            .with_handler(Arc::new(Handler {
                gathered: gtx,
                tracks: ttx,
                channels: dtx,
            }))
            .with_udp_addrs(vec!["127.0.0.1:0".to_string()])
            .build()
            .await?,
    );
    let (offers_tx, mut offers) = mpsc::unbounded_channel();
    let (reply, id) = oneshot::channel();
    ctx.sfu.send(SfuCmd::Connect {
        name: ctx.name.clone(),
        offers: offers_tx,
        reply,
    })?;
    let id = within(id, "the SFU's welcome").await??;
    if id == usize::MAX {
        anyhow::bail!("the SFU could not make a peer connection");
    }
    let ssrc_audio = 0x1000_0000 + id as u32 * 2;
    let own_track = |kind, prefix: &str, ssrc| {
        Arc::new(TrackLocalStaticRTP::new(sfu::track(
            kind,
            format!("{prefix}{id}"),
            format!("s{id}"),
            ssrc,
        )))
    };
    let audio = own_track(RtpCodecKind::Audio, "a", ssrc_audio);
    let video = own_track(RtpCodecKind::Video, "v", ssrc_audio + 1);
    let first = within(offers.recv(), "the SFU's offer")
        .await?
        .ok_or_else(|| anyhow::anyhow!("no offer"))?;
    pc.set_remote_description(first).await?;
    pc.add_track(audio.clone() as Arc<dyn TrackLocal>).await?;
    pc.add_track(video.clone() as Arc<dyn TrackLocal>).await?;
    let answer = pc.create_answer(None).await?;
    pc.set_local_description(answer).await?;
    within(gathered.recv(), "ICE gathering").await?;
    let sdp = pc
        .local_description()
        .await
        .ok_or_else(|| anyhow::anyhow!("no local description"))?;
    ctx.sfu.send(SfuCmd::Answer {
        id,
        sdp: Box::new(sdp),
    })?;
    tokio::spawn(answer_offers(pc.clone(), ctx.sfu.clone(), id, offers));
    let rtp = read_tracks(tracks);
    let dc = within(channels.recv(), "the SFU's data channel")
        .await?
        .ok_or_else(|| anyhow::anyhow!("no data channel"))?;
    let (ds, open) = read_channel(dc.clone());
    // The SFU's channel may already be open when it is announced.
    let _ = tokio::time::timeout(Duration::from_secs(5), open).await;
    let link = Link {
        pc,
        audio,
        video,
        ssrc_audio,
        ds: DsChannel(dc),
    };
    Ok((link, Inbound { rtp, ds }))
}

/// Answers every later offer of the SFU (a participant joined) as it comes.
async fn answer_offers(
    pc: Arc<dyn PeerConnection>,
    sfu: mpsc::UnboundedSender<SfuCmd>,
    id: usize,
    mut offers: mpsc::UnboundedReceiver<RTCSessionDescription>,
) {
    while let Some(offer) = offers.recv().await {
        if pc.set_remote_description(offer).await.is_err() {
            continue;
        }
        let Ok(answer) = pc.create_answer(None).await else {
            continue;
        };
        let _ = pc.set_local_description(answer).await;
        if let Some(sdp) = pc.local_description().await {
            let _ = sfu.send(SfuCmd::Answer {
                id,
                sdp: Box::new(sdp),
            });
        }
    }
}

/// Received RTP: one task per track hands payloads, by kind, to the participant's loop.
fn read_tracks(
    mut tracks: mpsc::UnboundedReceiver<Arc<dyn TrackRemote>>,
) -> mpsc::UnboundedReceiver<(MediaKind, Vec<u8>)> {
    let (rtp_tx, rtp_rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(t) = tracks.recv().await {
            let rtp_tx = rtp_tx.clone();
            tokio::spawn(async move {
                while let Some(ev) = t.poll().await {
                    if let TrackRemoteEvent::OnRtpPacket(p) = ev {
                        let kind = match p.header.payload_type {
                            OPUS_PT => MediaKind::Audio,
                            VP8_PT => MediaKind::Video,
                            _ => continue,
                        };
                        let _ = rtp_tx.send((kind, p.payload.to_vec()));
                    }
                }
            });
        }
    });
    rtp_rx
}

/// Reads the SFU's data channel: whole delivery-service messages, and a signal once it opens.
fn read_channel(
    dc: Arc<dyn DataChannel>,
) -> (mpsc::UnboundedReceiver<Vec<u8>>, oneshot::Receiver<()>) {
    let (ds_tx, ds_rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let (open_tx, open_rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let mut open = Some(open_tx);
        let mut reassembly = super::ds::Reassembly::default();
        while let Some(ev) = dc.poll().await {
            match ev {
                DataChannelEvent::OnOpen => {
                    if let Some(o) = open.take() {
                        let _ = o.send(());
                    }
                }
                DataChannelEvent::OnMessage(m) => {
                    if let Some(whole) = reassembly.push(&m.data) {
                        let _ = ds_tx.send(whole);
                    }
                }
                DataChannelEvent::OnClose => break,
                _ => {}
            }
        }
    });
    (ds_rx, open_rx)
}

/// A connected participant in the call: its member, its link, and what it is doing.
struct Session<'c> {
    ctx: &'c ParticipantCtx,
    me: Participant,
    link: Link,
    /// Still in the call (it has not asked to leave).
    active: bool,
    /// Its audio is muted.
    muted: bool,
    /// Frames waiting for a key, with when they came.
    waiting: VecDeque<(Instant, MediaKind, Vec<u8>)>,
    /// How many keys it had when it last retried them.
    keys_seen: usize,
    /// Its own commit awaiting the race's outcome (under `any`).
    pending: Option<Vec<u8>>,
    /// Its RTP sequence numbers and timestamps: audio, video.
    rtp_seq: [u16; 2],
    rtp_ts: [u32; 2],
}

impl<'c> Session<'c> {
    fn new(ctx: &'c ParticipantCtx, me: Participant, link: Link) -> Session<'c> {
        Session {
            ctx,
            me,
            link,
            active: true,
            muted: false,
            waiting: VecDeque::new(),
            keys_seen: 0,
            pending: None,
            rtp_seq: [0, 0],
            rtp_ts: [0, 0],
        }
    }

    /// Creates the group (the call's creator) or asks to join it.
    async fn enter(&mut self) -> anyhow::Result<()> {
        if self.ctx.creator {
            self.me
                .create_group(b"live-call")
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            self.on_epoch().await;
            self.log_joined();
            self.link.ds.send(DsMsg::Created).await?;
        } else {
            let kp = self.me.key_package().map_err(|e| anyhow::anyhow!("{e}"))?;
            self.link
                .ds
                .send(DsMsg::JoinRequest { key_package: kp })
                .await?;
        }
        Ok(())
    }

    fn log_joined(&self) {
        let _ = self.ctx.log.send(Event::Joined {
            who: self.ctx.name.clone(),
            at: self.ctx.at(),
        });
    }

    /// A new epoch: logged with its key (the checks' ground truth), and under the escrow
    /// control handed to the SFU.
    async fn on_epoch(&mut self) {
        if let Some((epoch, key)) = self.me.current_key() {
            if self.ctx.control == Some(LiveControl::Escrow) {
                let _ = self.link.ds.send(DsMsg::Escrow { key: key.clone() }).await;
            }
            let _ = self.ctx.log.send(Event::Epoch {
                who: self.ctx.name.clone(),
                epoch,
                key,
                at: self.ctx.at(),
            });
        }
    }

    /// New keys: retries the frames waiting for one (dropping those that waited too long).
    fn retry_waiting(&mut self) {
        if self.me.key_count() == self.keys_seen {
            return;
        }
        self.keys_seen = self.me.key_count();
        while self
            .waiting
            .front()
            .is_some_and(|(came, ..)| came.elapsed() > WAIT_FOR)
        {
            self.waiting.pop_front();
        }
        let (me, ctx) = (&self.me, self.ctx);
        self.waiting.retain(|(_, kind, payload)| {
            if me.receive(*kind, payload).is_err() {
                return true;
            }
            let _ = ctx.log.send(Event::Received {
                who: ctx.name.clone(),
                kind: *kind,
                at: ctx.at(),
                frame: sfu::frame_id(payload),
                opened: true,
                retried: true,
            });
            false
        });
    }

    /// The call's instruction (other than stop).
    async fn on_ctl(&mut self, c: Ctl) -> anyhow::Result<()> {
        match c {
            Ctl::Leave => {
                self.active = false;
                self.link.ds.send(DsMsg::LeaveRequest).await?;
            }
            Ctl::Rotate => {
                let proposal = match self.ctx.policy {
                    CommitterPolicy::Designated => self
                        .me
                        .propose_update()
                        .map_err(|e| anyhow::anyhow!("{e}"))?,
                    CommitterPolicy::Any => Vec::new(),
                };
                self.link.ds.send(DsMsg::RotateRequest { proposal }).await?;
            }
            Ctl::Mute(m) => self.muted = m,
            Ctl::Stop => {}
        }
        Ok(())
    }

    /// A delivery-service message from the SFU.
    async fn on_ds(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        match DsMsg::decode(bytes) {
            Some(DsMsg::PleaseAdd {
                change,
                key_packages,
            }) => self.commit(change, &key_packages, &[], &[], "an add").await,
            Some(DsMsg::PleaseRemove { change, name }) => {
                self.commit(change, &[], &[name], &[], "a removal").await
            }
            Some(DsMsg::PleaseUpdate { change, proposal }) => {
                let proposals = one_proposal(proposal);
                self.commit(change, &[], &[], &proposals, "an update").await
            }
            Some(DsMsg::Fanout { commit, proposal }) => {
                self.on_fanout(&commit, proposal).await;
                Ok(())
            }
            Some(DsMsg::Group { message }) => {
                self.on_group(&message);
                Ok(())
            }
            Some(DsMsg::Welcome { welcome }) => {
                match self.me.join(&welcome) {
                    Ok(()) => {
                        self.log_joined();
                        self.on_epoch().await;
                    }
                    Err(e) => self.ctx.error(format!("joining: {e}")),
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Asked to commit a change (`what`, for errors): commits it and sends the commit back.
    async fn commit(
        &mut self,
        change: u32,
        adds: &[Vec<u8>],
        removes: &[String],
        proposals: &[Vec<u8>],
        what: &str,
    ) -> anyhow::Result<()> {
        let ctx = self.ctx;
        if !removes.is_empty() && ctx.control == Some(LiveControl::NoRotate) {
            // The control: the departure is acknowledged, nobody's key changes.
            let ack = DsMsg::Commit {
                change,
                commit: Vec::new(),
                welcome: Vec::new(),
            };
            self.link.ds.send(ack).await?;
            return Ok(());
        }
        // Under `any` every member races to commit; a commit applies only when the SFU fans it
        // back out as the winner.
        let racing = ctx.policy == CommitterPolicy::Any;
        let made = if racing {
            self.me.commit_pending(adds, removes, proposals)
        } else {
            self.me.commit(adds, removes, proposals)
        };
        let (commit, welcome) = match made {
            Ok(made) => made,
            Err(e) => {
                ctx.error(format!("committing {what}: {e}"));
                return Ok(());
            }
        };
        if racing {
            self.pending = Some(commit.clone());
        } else {
            self.on_epoch().await;
        }
        let welcome = welcome.unwrap_or_default();
        self.link
            .ds
            .send(DsMsg::Commit {
                change,
                commit,
                welcome,
            })
            .await?;
        if !adds.is_empty() && !racing && ctx.control == Some(LiveControl::History) {
            self.share_history().await?;
        }
        Ok(())
    }

    /// The history control: hands the group (so the joiners) the previous epoch's key.
    async fn share_history(&mut self) -> anyhow::Result<()> {
        let Some((epoch, key)) = self.me.previous_key() else {
            return Ok(());
        };
        let mut data = epoch.to_be_bytes().to_vec();
        data.extend_from_slice(&key);
        match self.me.seal(&data) {
            Ok(message) => self.link.ds.send(DsMsg::Group { message }).await?,
            Err(e) => self.ctx.error(format!("sharing history: {e}")),
        }
        Ok(())
    }

    /// A commit fanned out by the SFU: its own winning one merged, a losing one dropped, any
    /// other applied.
    async fn on_fanout(&mut self, commit: &[u8], proposal: Vec<u8>) {
        if commit.is_empty() || !self.me.in_group() {
            return;
        }
        if let Some(mine) = self.pending.take() {
            if mine == commit {
                match self.me.merge_own() {
                    Ok(()) => self.on_epoch().await,
                    Err(e) => self.ctx.error(format!("merging its winning commit: {e}")),
                }
                return;
            }
            if let Err(e) = self.me.discard_own() {
                self.ctx.error(format!("dropping its losing commit: {e}"));
            }
        }
        if self
            .me
            .handle_commit(&one_proposal(proposal), commit)
            .is_ok()
        {
            self.on_epoch().await;
        }
    }

    /// A group message: only the history control sends these, an old epoch's key.
    fn on_group(&mut self, message: &[u8]) {
        if !self.me.in_group() {
            return;
        }
        if let Ok(data) = self.me.open(message) {
            if data.len() > 8 {
                let (epoch, key) = data.split_at(8);
                let epoch = u64::from_be_bytes(epoch.try_into().unwrap_or_default());
                self.me.install_key(epoch, key.to_vec());
            }
        }
    }

    /// A received frame: opened and logged, or left waiting a little for its key, as real
    /// clients buffer them.
    fn on_rtp(&mut self, kind: MediaKind, payload: Vec<u8>) {
        let opened = self.me.receive(kind, &payload).is_ok();
        let frame = sfu::frame_id(&payload);
        if !opened {
            while self.waiting.len() >= WAITING
                || self
                    .waiting
                    .front()
                    .is_some_and(|(came, ..)| came.elapsed() > WAIT_FOR)
            {
                self.waiting.pop_front();
            }
            self.waiting.push_back((Instant::now(), kind, payload));
        }
        let _ = self.ctx.log.send(Event::Received {
            who: self.ctx.name.clone(),
            kind,
            at: self.ctx.at(),
            frame,
            opened,
            retried: false,
        });
    }

    /// Time for a frame of `kind`: sent if it speaks, is in the group and has not left (nor
    /// muted, for audio).
    async fn tick(&mut self, kind: MediaKind) {
        let muted = kind == MediaKind::Audio && self.muted;
        if self.ctx.speaks && self.active && !muted && self.me.in_group() {
            self.send_frame(kind).await;
        }
    }

    /// Seals its next frame of `kind` and sends it on its track, logged once sent.
    async fn send_frame(&mut self, kind: MediaKind) {
        let Ok((_, payload)) = self.me.next_frame(kind) else {
            return;
        };
        let frame = sfu::frame_id(&payload);
        let (i, track) = match kind {
            MediaKind::Audio => (0, &self.link.audio),
            MediaKind::Video => (1, &self.link.video),
        };
        let packet = rtp::Packet {
            header: rtp::header::Header {
                version: 2,
                payload_type: kind.payload_type(),
                sequence_number: self.rtp_seq[i],
                timestamp: self.rtp_ts[i],
                ssrc: self.link.ssrc_audio + i as u32,
                marker: kind == MediaKind::Video,
                ..Default::default()
            },
            payload: payload.into(),
        };
        self.rtp_seq[i] = self.rtp_seq[i].wrapping_add(1);
        self.rtp_ts[i] = self.rtp_ts[i].wrapping_add(kind.ts_step());
        if track.write_rtp(packet).await.is_ok() {
            let _ = self.ctx.log.send(Event::Sent {
                who: self.ctx.name.clone(),
                kind,
                at: self.ctx.at(),
                frame,
            });
        }
    }
}

/// A proposal as the list a commit takes: none if empty.
fn one_proposal(proposal: Vec<u8>) -> Vec<Vec<u8>> {
    if proposal.is_empty() {
        Vec::new()
    } else {
        vec![proposal]
    }
}

/// How long a participant waits for each step of connecting before it gives up (reported).
const SETUP: Duration = Duration::from_secs(20);

/// `f`, or an error naming `what` it waited for once [`SETUP`] has passed.
async fn within<T>(f: impl std::future::Future<Output = T>, what: &str) -> anyhow::Result<T> {
    tokio::time::timeout(SETUP, f)
        .await
        .map_err(|_| anyhow::anyhow!("waited {} s for {what}", SETUP.as_secs()))
}

/// How long a frame waits for its key: a joiner's keys can come a second late (its Welcome
/// waiting out an SCTP retransmission timeout), and by then a count of frames alone (it was
/// 400, a third of a second of 15 senders) has dropped everything the SFU replayed to it.
const WAIT_FOR: Duration = Duration::from_secs(2);

/// At most this many frames wait (two seconds of 60 senders' audio and video).
const WAITING: usize = 10_000;

/// The SFU in a process of its own: UDP media and TCP signalling on the same address. Returns
/// the address it took and its command channel (send `Finish` to end it).
pub async fn start_sfu_process(
    listen: SocketAddr,
    policy: CommitterPolicy,
    slots: usize,
) -> anyhow::Result<(SocketAddr, mpsc::UnboundedSender<SfuCmd>)> {
    let (sfu, addr) = sfu::start(listen, policy, slots, Instant::now()).await?;
    let tcp = tokio::net::TcpListener::bind(addr).await?;
    tokio::spawn(super::signal::serve(tcp, sfu.clone()));
    Ok((addr, sfu))
}

/// One participant in a process of its own, against the SFU at `sfu_addr`, for `duration`; the
/// first one of a call creates the group. Returns what it saw.
pub async fn run_client(
    name: &str,
    client: &str,
    sfu_addr: SocketAddr,
    creator: bool,
    policy: CommitterPolicy,
    duration: Duration,
    seed: u64,
) -> anyhow::Result<Vec<Event>> {
    let sfu = super::signal::remote(sfu_addr).await?;
    let (log_tx, mut log_rx) = mpsc::unbounded_channel();
    let ctx = ParticipantCtx {
        name: name.to_string(),
        client: client.to_string(),
        speaks: true,
        clients: Arc::new(member_clients()),
        sfu,
        log: log_tx,
        start: Instant::now(),
        creator,
        policy,
        control: None,
        seed,
        grace: Duration::from_millis(300),
    };
    let (ctl_tx, ctl_rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(participant(ctx, ctl_rx));
    tokio::time::sleep(duration).await;
    let _ = ctl_tx.send(Ctl::Stop);
    let _ = task.await;
    let mut events = Vec::new();
    while let Ok(e) = log_rx.try_recv() {
        events.push(e);
    }
    Ok(events)
}
