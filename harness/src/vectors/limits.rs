//! Vector formats a client's public API cannot express, and why: each is a not-applicable
//! verdict on every case of the format, with this reason. Found by reading each crate's source
//! (openmls 0.9.2, mls-rs 0.57.0): the types and functions named are `pub(crate)` or private.
//!
//! Re-deriving these values by hand over a client's HKDF or AEAD would test our code, not the
//! client, so the harness does not.

use super::formats::Format;

/// Why `client` cannot run cases of `format`, or None if it can.
pub(super) fn not_expressible(client: &str, format: Format) -> Option<&'static str> {
    Some(match (client, format) {
        ("openmls", Format::TreeMath) => {
            "openmls's tree math is private (mod binary_tree; treemath::{root,left,right,parent,sibling} are pub(crate))"
        }
        ("openmls", Format::KeySchedule) => {
            "openmls's KeySchedule and epoch secrets are pub(crate) (schedule/mod.rs): no public way to run the schedule from given secrets"
        }
        ("openmls", Format::PskSecret) => "openmls's PskSecret is pub(crate) (schedule/psk.rs)",
        ("openmls", Format::TranscriptHashes) => {
            "openmls's AuthenticatedContent and transcript-hash functions are pub(crate)"
        }
        ("openmls", Format::SecretTree) => "openmls's SecretTree is in the private module `tree`",
        ("openmls", Format::MessageProtection) => {
            "openmls has no public way to build a group from given epoch secrets, and message unprotection is pub(crate)"
        }
        ("openmls", Format::TreeOperations) => {
            "openmls applies proposals to a tree only inside a group (PublicGroupDiff is pub(crate))"
        }
        ("openmls", Format::TreeValidation) => {
            "openmls's tree hashes, resolutions and parent-hash checks are pub(crate) (only leaf signatures are public, via RatchetTreeIn::into_verified)"
        }
        ("openmls", Format::TreeKem) => {
            "openmls's UpdatePathIn, treekem and TreeSyncDiff are pub(crate)"
        }
        ("mls-rs", Format::TreeMath) => "mls-rs's tree math (tree_kem::math) is private",
        ("mls-rs", Format::KeySchedule) => {
            "mls-rs's KeySchedule and kdf_expand_with_label are pub(crate): no public way to run the schedule from given secrets"
        }
        ("mls-rs", Format::PskSecret) => "mls-rs's psk::secret is pub(crate)",
        ("mls-rs", Format::TranscriptHashes) => {
            "mls-rs's ConfirmedTranscriptHash, InterimTranscriptHash and AuthenticatedContent are pub(crate)"
        }
        ("mls-rs", Format::SecretTree) => {
            "mls-rs's SecretTree is private; its key access works only on a live group, not from a given encryption_secret"
        }
        ("mls-rs", Format::MessageProtection) => {
            "mls-rs has no public way to build a group from given epoch secrets; message processing exists only inside a Group"
        }
        ("mls-rs", Format::TreeOperations) => {
            "mls-rs applies proposals to a tree and hashes it only inside a group"
        }
        ("mls-rs", Format::TreeValidation) => {
            "mls-rs's TreeValidator, tree hashes and resolutions are private; it validates a tree only when joining from a Welcome or GroupInfo"
        }
        ("mls-rs", Format::TreeKem) => {
            "mls-rs's TreeKemPublic/TreeKemPrivate and UpdatePath decapsulation are private"
        }
        _ => return None,
    })
}
