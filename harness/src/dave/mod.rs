//! Discord's DAVE (protocol version 1, daveprotocol.com): MLS (RFC 9420, cipher suite 2) keyed
//! by a voice gateway that is the group's external sender and decides who is "recognized", with
//! media under DAVE's per-sender frame transform. This level makes the harness that gateway,
//! honest and hostile, and asks the real clients (libdave through `dave.py`, davey, and ours).
//!
//! Built so far: [`wire`] (the gateway opcodes as bytes and JSON), [`code`] (the displayable
//! verification codes members compare out of band) and `harness/sidecars/libdave_sidecar.py`
//! (libdave through PyPI's dave.py, JSON lines over stdio, in `.venv-dave`). Next: the gateway,
//! the participant trait over the sidecar, davey and ours, the scenarios and checks (issue 16).

pub mod code;
pub mod wire;
