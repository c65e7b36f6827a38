//! Deployment level: live calls over real WebRTC through a recording SFU, media under SFrame
//! keyed from MLS (issue 6, in progress). So far: the call script ([`script`]).

pub mod script;
