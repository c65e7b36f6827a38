//! The `e2ee` tool as a library: the binary only parses arguments and calls in here.
//!
//! [`results`] is the record every level writes; [`model_cmd`] is the design level (the
//! Stateright models of `e2ee-model`); [`findings`] groups failures by root cause and
//! [`expect`] holds the known findings a run is judged against.

pub mod clients;
pub mod commands;
pub mod expect;
pub mod findings;
pub mod interop;
pub mod keying;
pub mod live;
pub mod model_cmd;
pub mod progress;
pub mod report;
pub mod results;
pub mod vectors;
