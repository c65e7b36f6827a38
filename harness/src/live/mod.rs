//! Deployment level: live calls over real WebRTC through a recording SFU, media under SFrame
//! keyed from MLS (issue 6, in progress). So far: the call script ([`script`]) the media frames
//! under SFrame ([`media`]), the SFU's record and the checks any record can take ([`record`]).

pub mod call;
pub mod checks;
pub mod ds;
pub mod media;
pub mod participant;
pub mod record;
pub mod script;
pub mod sfu;
