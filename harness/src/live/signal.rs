//! Signalling between an SFU and participants in other processes: newline-delimited JSON over
//! TCP on the SFU's address (the same port number as its UDP media socket).
//!
//! Participant → SFU: `{"connect": "alice"}`, then `{"answer": <SDP>}` for each offer.
//! SFU → participant: `{"id": 3}`, then `{"offer": <SDP>}` whenever it (re)negotiates.
//! The delivery service stays on each participant's data channel.

use super::sfu::SfuCmd;
use rtc::peer_connection::sdp::RTCSessionDescription;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Line {
    Connect(String),
    Answer(RTCSessionDescription),
    Id(usize),
    Offer(RTCSessionDescription),
}

fn encode(line: &Line) -> Vec<u8> {
    let mut b = serde_json::to_vec(line).unwrap_or_default();
    b.push(b'\n');
    b
}

/// Accepts participants on `listener` for the SFU behind `sfu`, until the listener fails.
pub async fn serve(listener: TcpListener, sfu: mpsc::UnboundedSender<SfuCmd>) {
    while let Ok((stream, peer)) = listener.accept().await {
        let sfu = sfu.clone();
        tokio::spawn(async move {
            if let Err(e) = session(stream, sfu).await {
                tracing::warn!(%peer, "signalling session ended: {e}");
            }
        });
    }
}

async fn session(stream: TcpStream, sfu: mpsc::UnboundedSender<SfuCmd>) -> anyhow::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let (offers_tx, mut offers) = mpsc::unbounded_channel::<RTCSessionDescription>();
    let (out_tx, mut out) = mpsc::unbounded_channel::<Vec<u8>>();
    tokio::spawn(async move {
        while let Some(b) = out.recv().await {
            if write.write_all(&b).await.is_err() {
                break;
            }
        }
    });
    {
        let out_tx = out_tx.clone();
        tokio::spawn(async move {
            while let Some(sdp) = offers.recv().await {
                let _ = out_tx.send(encode(&Line::Offer(sdp)));
            }
        });
    }
    let mut id = None;
    let mut offers_tx = Some(offers_tx);
    while let Some(text) = lines.next_line().await? {
        match serde_json::from_str::<Line>(&text)? {
            Line::Connect(name) => {
                let Some(offers) = offers_tx.take() else {
                    anyhow::bail!("connect twice");
                };
                let (reply, got) = oneshot::channel();
                sfu.send(SfuCmd::Connect {
                    name,
                    offers,
                    reply,
                })?;
                let n = got.await?;
                id = Some(n);
                let _ = out_tx.send(encode(&Line::Id(n)));
            }
            Line::Answer(sdp) => {
                let id = id.ok_or_else(|| anyhow::anyhow!("answer before connect"))?;
                sfu.send(SfuCmd::Answer {
                    id,
                    sdp: Box::new(sdp),
                })?;
            }
            _ => anyhow::bail!("unexpected line from a participant"),
        }
    }
    Ok(())
}

/// A stand-in for the SFU's command channel that talks to a remote SFU at `addr`: a participant
/// drives it exactly as it drives an SFU in its own process (connect and answers only).
pub async fn remote(addr: std::net::SocketAddr) -> anyhow::Result<mpsc::UnboundedSender<SfuCmd>> {
    let stream = TcpStream::connect(addr).await?;
    let (read, mut write) = stream.into_split();
    let (tx, mut rx) = mpsc::unbounded_channel::<SfuCmd>();
    let (pending_tx, mut pending) = mpsc::unbounded_channel::<(
        mpsc::UnboundedSender<RTCSessionDescription>,
        oneshot::Sender<usize>,
    )>();
    tokio::spawn(async move {
        while let Some(cmd) = rx.recv().await {
            let line = match cmd {
                SfuCmd::Connect {
                    name,
                    offers,
                    reply,
                } => {
                    let _ = pending_tx.send((offers, reply));
                    Line::Connect(name)
                }
                SfuCmd::Answer { sdp, .. } => Line::Answer(*sdp),
                // A participant never kicks or finishes a remote SFU.
                _ => continue,
            };
            if write.write_all(&encode(&line)).await.is_err() {
                break;
            }
        }
    });
    tokio::spawn(async move {
        let mut lines = BufReader::new(read).lines();
        let mut offers: Option<mpsc::UnboundedSender<RTCSessionDescription>> = None;
        // The first offer can overtake the id on the wire.
        let mut early = Vec::new();
        while let Ok(Some(text)) = lines.next_line().await {
            match serde_json::from_str::<Line>(&text) {
                Ok(Line::Id(n)) => {
                    if let Some((o, reply)) = pending.recv().await {
                        for sdp in early.drain(..) {
                            let _ = o.send(sdp);
                        }
                        offers = Some(o);
                        let _ = reply.send(n);
                    }
                }
                Ok(Line::Offer(sdp)) => match &offers {
                    Some(o) => {
                        let _ = o.send(sdp);
                    }
                    None => early.push(sdp),
                },
                _ => break,
            }
        }
    });
    Ok(tx)
}
