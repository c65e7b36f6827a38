//! The `e2ee` tool as a library: the binary only parses arguments and calls in here.
//!
//! Layers, bottom up; a module uses only those on its own line or above (tests aside):
//! - [`results`] (the record every level writes), [`formats`] (the vector files' shapes),
//!   [`columns`], [`progress`]: data and text, no protocol.
//! - [`clients`]: the third-party clients behind one set of traits; [`keying`]: the MLS → SFrame
//!   key binding over them.
//! - The levels: [`model_cmd`] (design: the Stateright models of `e2ee-model`), [`vectors`],
//!   [`interop`] (implementation), [`live`] (deployment).
//! - [`expect`] (the known findings a run is judged against), [`findings`] (failures grouped by
//!   root cause), [`report`]: read the levels' records.
//! - [`commands`]: one module per subcommand; `main.rs` parses and dispatches.

pub mod clients;
pub mod columns;
pub mod commands;
pub mod dave;
pub mod expect;
pub mod findings;
pub mod formats;
pub mod grpc;
pub mod interop;
pub mod keying;
pub mod live;
pub mod model_cmd;
pub mod progress;
pub mod report;
pub mod results;
pub mod vectors;
