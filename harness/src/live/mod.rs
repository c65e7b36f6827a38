//! Deployment level: live calls over real WebRTC through a recording SFU, media under SFrame
//! keyed from MLS.
//!
//! - [`script`]: the call script (TOML timeline of joins, leaves, kicks, rotations, mutes);
//! - [`media`]: synthetic Opus and VP8 frames with canaries, under SFrame (RFC 9605 §5.2 keys);
//! - [`participant`]: one participant's MLS member and keys, without I/O;
//! - [`ds`]: the delivery-service messages on each participant's data channel;
//! - [`sfu`]: the SFU (one loopback socket, DTLS-SRTP terminated, records and forwards, orders
//!   commits);
//! - [`call`]: the SFU and the participants in one process, following the script;
//! - [`record`]: the SFU's record as pcapng and the checks any record can take;
//! - [`checks`]: the four verdicts of a call, and its rotation latencies.

pub mod call;
pub mod checks;
pub mod ds;
pub mod media;
pub mod participant;
pub mod record;
pub mod script;
pub mod sfu;
pub mod signal;
