//! Implementation level, second part: the IETF interop scenario scripts, client × client.
//! So far: the script format ([`script`]) and the client-assignment matrix ([`matrix`]). The
//! runner, the recording delivery service and
//! `e2ee interop` come next (issue 5).

pub mod matrix;
pub mod script;
