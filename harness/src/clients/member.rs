//! A client as a full group member: what the interop scenarios (and the live calls after them)
//! ask of an MLS implementation. One [`Member`] is one actor: one identity, its pending joins,
//! its PSKs and at most one current group. Everything that crosses between members is RFC 9420
//! wire bytes (MLSMessage-framed key packages, proposals, commits, Welcomes and GroupInfos; a
//! ratchet tree as TLS `optional<Node> ratchet_tree<V>`), so any two clients can meet.
//!
//! The operations follow the IETF interop runner's gRPC calls (mlswg/mls-implementations
//! `interop/proto/mls_client.proto`); a call the client's public API cannot make answers
//! [`ClientError::Unsupported`], which the runner reports as `unimplemented` for that client.

use super::ClientError;

/// An extension as raw type and data (`extension_data` is the extension's TLS encoding).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawExtension {
    pub extension_type: u16,
    pub extension_data: Vec<u8>,
}

/// A proposal to make, by value in a commit or as an external sender's proposal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProposalSpec {
    /// An MLSMessage(KeyPackage).
    Add { key_package: Vec<u8> },
    /// The member whose basic credential's identity this is.
    Remove { identity: Vec<u8> },
    /// An external PSK stored earlier under this id (fresh nonce).
    ExternalPsk { psk_id: Vec<u8> },
    /// The resumption PSK of this group at `epoch` (usage application, fresh nonce).
    ResumptionPsk { epoch: u64 },
    /// The complete new GroupContext extension list.
    GroupContextExtensions { extensions: Vec<RawExtension> },
    /// Re-initialise into a new group (version mls10).
    Reinit {
        group_id: Vec<u8>,
        cipher_suite: u16,
        extensions: Vec<RawExtension>,
    },
}

/// What a commit produces.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommitOutput {
    pub commit: Vec<u8>,
    pub welcome: Option<Vec<u8>>,
    /// The new tree, when asked for it out of band (`external_tree`).
    pub ratchet_tree: Option<Vec<u8>>,
}

/// A decrypted application message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plaintext {
    pub authenticated_data: Vec<u8>,
    pub plaintext: Vec<u8>,
}

/// One actor of a scenario, played by one client. Methods that need a group fail with
/// [`ClientError::Failed`] when the member has none.
pub trait Member: Send {
    /// The client playing this member (`openmls`, `mls-rs`).
    fn client(&self) -> &'static str;
    /// The MLS identity (basic credential).
    fn identity(&self) -> &[u8];

    // Joining.
    /// Creates a group alone at epoch 0. `encrypt_handshake`: its proposals and commits go as
    /// PrivateMessage (else PublicMessage); the member accepts either from others.
    fn create_group(
        &mut self,
        group_id: &[u8],
        cipher_suite: u16,
        encrypt_handshake: bool,
    ) -> Result<(), ClientError>;
    /// A fresh MLSMessage(KeyPackage); its private keys stay with the member (a pending join).
    fn create_key_package(&mut self, cipher_suite: u16) -> Result<Vec<u8>, ClientError>;
    /// Joins from a Welcome made for one of its key packages; the tree comes from the Welcome's
    /// ratchet_tree extension unless given.
    fn join(
        &mut self,
        welcome: &[u8],
        ratchet_tree: Option<&[u8]>,
        encrypt_handshake: bool,
    ) -> Result<(), ClientError>;
    /// Joins by external commit from a GroupInfo (with external_pub), optionally removing its
    /// own prior leaf and injecting external PSKs `(id, secret)`. Returns the commit (a
    /// PublicMessage); the member is in the new epoch already.
    fn external_join(
        &mut self,
        group_info: &[u8],
        ratchet_tree: Option<&[u8]>,
        encrypt_handshake: bool,
        remove_prior: bool,
        psks: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<Vec<u8>, ClientError>;
    /// Stores an external PSK for the current group and for any group it joins later.
    fn store_psk(&mut self, psk_id: &[u8], secret: &[u8]) -> Result<(), ClientError>;

    // Group state.
    /// A signed GroupInfo with external_pub; with `external_tree` the tree is returned apart
    /// instead of in the ratchet_tree extension.
    fn group_info(&self, external_tree: bool) -> Result<(Vec<u8>, Option<Vec<u8>>), ClientError>;
    fn epoch_authenticator(&self) -> Result<Vec<u8>, ClientError>;
    fn export_secret(
        &self,
        label: &[u8],
        context: &[u8],
        len: usize,
    ) -> Result<Vec<u8>, ClientError>;
    /// The current epoch, None without a group.
    fn epoch(&self) -> Option<u64>;
    /// Still a member of its current group (not removed by a commit it processed).
    fn active(&self) -> bool {
        self.epoch().is_some()
    }
    /// Its leaf index in the current group (the sender index of RFC 9605 §5.2's KID).
    fn own_leaf(&self) -> Option<u32>;
    /// The cipher suite of the current group.
    fn cipher_suite(&self) -> Option<u16>;
    /// The current group's id (a server finds a member's state by it); None when unknown.
    fn group_id(&self) -> Option<Vec<u8>> {
        None
    }
    /// Identities in the current group, by leaf order.
    fn roster(&self) -> Result<Vec<Vec<u8>>, ClientError>;

    // Proposals, by reference: the returned MLSMessage also stays in the member's own store.
    fn propose(&mut self, proposal: &ProposalSpec) -> Result<Vec<u8>, ClientError>;
    fn propose_update(&mut self) -> Result<Vec<u8>, ClientError>;

    // Commits.
    /// Commits the given proposals (others' proposal messages, which it processes first) plus
    /// everything it proposed itself, plus `by_value`. The commit stays pending until
    /// [`Member::merge_pending_commit`].
    fn commit(
        &mut self,
        by_reference: &[Vec<u8>],
        by_value: &[ProposalSpec],
        force_path: bool,
        external_tree: bool,
    ) -> Result<CommitOutput, ClientError>;
    fn merge_pending_commit(&mut self) -> Result<(), ClientError>;
    /// Drops its pending commit (another member's commit of the same epoch won, as in DAVE).
    fn clear_pending_commit(&mut self) -> Result<(), ClientError> {
        Err(self.unsupported("clearing a pending commit"))
    }
    /// Processes others' proposals, then the commit that covers them.
    fn handle_commit(&mut self, proposals: &[Vec<u8>], commit: &[u8]) -> Result<(), ClientError>;

    // Application data (always PrivateMessage).
    fn protect(
        &mut self,
        authenticated_data: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, ClientError>;
    fn unprotect(&mut self, ciphertext: &[u8]) -> Result<Plaintext, ClientError>;

    // Re-initialisation (RFC 9420 §11.2) and branching (§11.3).
    /// Commits a ReInit proposal by reference; pending until merged.
    fn reinit_commit(&mut self, _proposal: &[u8]) -> Result<Vec<u8>, ClientError> {
        Err(self.unsupported("ReInit"))
    }
    /// Merges its pending ReInit commit: returns the old group's final epoch authenticator and
    /// a key package for the new group.
    fn merge_pending_reinit_commit(&mut self) -> Result<(Vec<u8>, Vec<u8>), ClientError> {
        Err(self.unsupported("ReInit"))
    }
    /// Processes a ReInit proposal and the commit of it; returns as
    /// [`Member::merge_pending_reinit_commit`].
    fn handle_reinit_commit(
        &mut self,
        _proposal: &[u8],
        _commit: &[u8],
    ) -> Result<(Vec<u8>, Vec<u8>), ClientError> {
        Err(self.unsupported("ReInit"))
    }
    /// Creates the re-initialised group with the others' key packages.
    fn reinit_welcome(
        &mut self,
        _key_packages: &[Vec<u8>],
        _force_path: bool,
        _external_tree: bool,
    ) -> Result<CommitOutput, ClientError> {
        Err(self.unsupported("ReInit"))
    }
    fn handle_reinit_welcome(
        &mut self,
        _welcome: &[u8],
        _ratchet_tree: Option<&[u8]>,
    ) -> Result<(), ClientError> {
        Err(self.unsupported("ReInit"))
    }
    /// Creates a branch of the current group with the given key packages (which keep the
    /// members' identities); the member moves to the branch.
    fn create_branch(
        &mut self,
        _group_id: &[u8],
        _extensions: &[RawExtension],
        _key_packages: &[Vec<u8>],
        _force_path: bool,
        _external_tree: bool,
    ) -> Result<CommitOutput, ClientError> {
        Err(self.unsupported("branch"))
    }
    /// Joins a branch of its current group with its pending key package.
    fn handle_branch(
        &mut self,
        _welcome: &[u8],
        _ratchet_tree: Option<&[u8]>,
    ) -> Result<(), ClientError> {
        Err(self.unsupported("branch"))
    }

    // Parties outside the group.
    /// As a would-be member: an Add of a fresh key package of its own, from a GroupInfo
    /// (sender new_member_proposal); the key package becomes its pending join.
    fn new_member_add_proposal(&mut self, _group_info: &[u8]) -> Result<Vec<u8>, ClientError> {
        Err(self.unsupported("new-member Add proposal"))
    }
    /// Becomes an external sender: returns its TLS-encoded `ExternalSender`.
    fn create_external_signer(&mut self, _cipher_suite: u16) -> Result<Vec<u8>, ClientError> {
        Err(self.unsupported("external sender"))
    }
    /// As a member: proposes a GroupContextExtensions that appends `external_sender` to the
    /// group's external_senders.
    fn add_external_signer(&mut self, _external_sender: &[u8]) -> Result<Vec<u8>, ClientError> {
        Err(self.unsupported("external sender"))
    }
    /// As an external sender: a proposal for the group of `group_info` (tree given apart).
    fn external_signer_proposal(
        &mut self,
        _group_info: &[u8],
        _ratchet_tree: &[u8],
        _proposal: &ProposalSpec,
    ) -> Result<Vec<u8>, ClientError> {
        Err(self.unsupported("external sender"))
    }

    /// Releases what the client holds for this member (the interop interface's Free, called at
    /// the end of every run); nothing by default.
    fn free(&mut self) -> Result<(), ClientError> {
        Ok(())
    }

    /// The error for a feature this client's public API lacks.
    fn unsupported(&self, feature: &str) -> ClientError {
        ClientError::Unsupported {
            client: self.client(),
            reason: feature.to_string(),
        }
    }
}
