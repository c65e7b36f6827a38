//! Implementation level, second part: the IETF interop scenario scripts, client × client.
//! So far: the script format ([`script`]). The runner, the recording delivery service and
//! `e2ee interop` come next (issue 5).

pub mod script;
