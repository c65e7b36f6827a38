//! Deployment level: live calls over real WebRTC through a recording SFU, media under SFrame
//! keyed from MLS (issue 6, in progress). So far: the call script ([`script`]) and the media
//! frames under SFrame ([`media`]).

pub mod media;
pub mod script;
