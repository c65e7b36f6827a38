//! `e2ee serve`: our compiled-in clients behind the `MLSClient` gRPC interface, so the IETF Go
//! test runner, other labs' harnesses and our own `grpc:` client can drive them.
//!
//! One id space for states, transactions, reinits and signers: each id names one [`Member`],
//! which keeps its own pending joins and groups, so an id stays the same across epochs (as in
//! mls-rs's server; the runner uses whatever id an answer carries). Errors map to statuses the
//! way the interface's users read them: a feature the client lacks is UNIMPLEMENTED, anything
//! else ABORTED with the client's reason.

use super::fault::Faults;
use super::proto::{self as pb, mls_client_server::MlsClient};
use crate::clients::{ClientError, Member, MemberClient, ProposalSpec, RawExtension};
use std::collections::HashMap;
use std::sync::Mutex;
use tonic::{Request, Response, Status};

/// The service over one compiled-in client.
pub struct Service {
    client: Box<dyn MemberClient>,
    members: Mutex<Members>,
    faults: Faults,
}

#[derive(Default)]
struct Members {
    next: u32,
    by_id: HashMap<u32, Box<dyn Member>>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let states = self.members.lock().map(|m| m.by_id.len()).unwrap_or(0);
        f.debug_struct("Service")
            .field("client", &self.client.name())
            .field("states", &states)
            .finish()
    }
}

type Answer<T> = Result<Response<T>, Status>;

fn status(rpc: &str, e: ClientError) -> Status {
    match e {
        ClientError::Unsupported { .. } => Status::unimplemented(format!("{rpc}: {e}")),
        ClientError::Suite { .. } => Status::invalid_argument(format!("{rpc}: {e}")),
        ClientError::Failed(_) => Status::aborted(format!("{rpc}: {e}")),
        ClientError::Gone { .. } => Status::unavailable(format!("{rpc}: {e}")),
    }
}

fn suite(value: u32) -> Result<u16, Status> {
    u16::try_from(value).map_err(|_| Status::invalid_argument(format!("cipher suite {value}")))
}

fn tree(bytes: &[u8]) -> Option<&[u8]> {
    (!bytes.is_empty()).then_some(bytes)
}

fn extensions(list: Vec<pb::Extension>) -> Result<Vec<RawExtension>, Status> {
    list.into_iter()
        .map(|e| {
            Ok(RawExtension {
                extension_type: u16::try_from(e.extension_type).map_err(|_| {
                    Status::invalid_argument(format!("extension type {}", e.extension_type))
                })?,
                extension_data: e.extension_data,
            })
        })
        .collect()
}

/// A by-value proposal, as main.go's `ProposalDescriptionToProto` writes it.
fn proposal(d: pb::ProposalDescription) -> Result<ProposalSpec, Status> {
    Ok(match d.proposal_type.as_slice() {
        b"add" => ProposalSpec::Add {
            key_package: d.key_package,
        },
        b"remove" => ProposalSpec::Remove {
            identity: d.removed_id,
        },
        b"externalPSK" => ProposalSpec::ExternalPsk { psk_id: d.psk_id },
        b"resumptionPSK" => ProposalSpec::ResumptionPsk { epoch: d.epoch_id },
        b"groupContextExtensions" => ProposalSpec::GroupContextExtensions {
            extensions: extensions(d.extensions)?,
        },
        b"reinit" => ProposalSpec::Reinit {
            group_id: d.group_id,
            cipher_suite: suite(d.cipher_suite)?,
            extensions: extensions(d.extensions)?,
        },
        other => {
            return Err(Status::invalid_argument(format!(
                "unknown proposal_type {:?}",
                String::from_utf8_lossy(other)
            )))
        }
    })
}

fn proposal_response(p: Vec<u8>) -> Answer<pb::ProposalResponse> {
    Ok(Response::new(pb::ProposalResponse { proposal: p }))
}

impl Service {
    /// Serves `client`, misbehaving as `faults` says (none for a faithful server).
    pub fn new(client: Box<dyn MemberClient>, faults: Faults) -> Service {
        Service {
            client,
            members: Mutex::new(Members::default()),
            faults,
        }
    }

    /// A new member for `identity`, its id, and what `f` made of it.
    async fn fresh<T>(
        &self,
        rpc: &'static str,
        identity: &[u8],
        f: impl FnOnce(&mut dyn Member) -> Result<T, ClientError>,
    ) -> Result<(u32, T), Status> {
        self.faults.before(rpc).await?;
        let mut member = self.client.member(identity).map_err(|e| status(rpc, e))?;
        let out = f(member.as_mut()).map_err(|e| status(rpc, e))?;
        let mut members = self.lock()?;
        members.next += 1;
        let id = members.next;
        members.by_id.insert(id, member);
        Ok((id, out))
    }

    /// `f` on the member with this id.
    async fn with<T>(
        &self,
        rpc: &'static str,
        id: u32,
        f: impl FnOnce(&mut dyn Member) -> Result<T, ClientError>,
    ) -> Result<T, Status> {
        self.faults.before(rpc).await?;
        let mut members = self.lock()?;
        let member = members
            .by_id
            .get_mut(&id)
            .ok_or_else(|| Status::not_found(format!("{rpc}: no state {id}")))?;
        f(member.as_mut()).map_err(|e| status(rpc, e))
    }

    /// The state of the member with `identity` in the group `group_info` describes.
    fn prior_state(&self, identity: &[u8], group_info: &[u8]) -> Result<u32, Status> {
        let group = group_id_of_group_info(group_info).ok_or_else(|| {
            Status::invalid_argument("ExternalJoin: group_info is not an MLSMessage(GroupInfo)")
        })?;
        let members = self.lock()?;
        members
            .by_id
            .iter()
            .filter(|(_, m)| m.identity() == identity && m.group_id().as_ref() == Some(&group))
            .map(|(id, _)| *id)
            .max()
            .ok_or_else(|| {
                Status::failed_precondition(format!(
                    "ExternalJoin: remove_prior, but this server holds no state of {:?} in \
                     that group",
                    String::from_utf8_lossy(identity)
                ))
            })
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Members>, Status> {
        self.members
            .lock()
            .map_err(|_| Status::internal("a call panicked earlier"))
    }
}

/// The group id inside an `MLSMessage` carrying a GroupInfo (RFC 9420 §6: version,
/// wire_format 4, then the GroupInfo's GroupContext: version, cipher_suite, group_id<V>).
fn group_id_of_group_info(message: &[u8]) -> Option<Vec<u8>> {
    const WIRE_FORMAT_GROUP_INFO: [u8; 2] = [0, 4];
    if message.get(2..4)? != WIRE_FORMAT_GROUP_INFO {
        return None;
    }
    let rest = message.get(8..)?;
    // RFC 9420 §2.1.2 variable-size length: the top two bits give 1, 2 or 4 bytes.
    let first = *rest.first()?;
    let width = match first >> 6 {
        0 => 1,
        1 => 2,
        2 => 4,
        _ => return None,
    };
    let mut len = usize::from(first & 0x3f);
    for b in rest.get(1..width)? {
        len = (len << 8) | usize::from(*b);
    }
    rest.get(width..width + len).map(<[u8]>::to_vec)
}

#[tonic::async_trait]
impl MlsClient for Service {
    async fn name(&self, _: Request<pb::NameRequest>) -> Answer<pb::NameResponse> {
        self.faults.before("Name").await?;
        Ok(Response::new(pb::NameResponse {
            name: format!(
                "{} {} (e2ee serve)",
                self.client.name(),
                self.client.version()
            ),
        }))
    }

    async fn supported_ciphersuites(
        &self,
        _: Request<pb::SupportedCiphersuitesRequest>,
    ) -> Answer<pb::SupportedCiphersuitesResponse> {
        self.faults.before("SupportedCiphersuites").await?;
        Ok(Response::new(pb::SupportedCiphersuitesResponse {
            ciphersuites: self
                .client
                .cipher_suites()
                .into_iter()
                .map(u32::from)
                .collect(),
        }))
    }

    async fn create_group(
        &self,
        r: Request<pb::CreateGroupRequest>,
    ) -> Answer<pb::CreateGroupResponse> {
        let r = r.into_inner();
        let cs = suite(r.cipher_suite)?;
        let (state_id, ()) = self
            .fresh("CreateGroup", &r.identity, |m| {
                m.create_group(&r.group_id, cs, r.encrypt_handshake)
            })
            .await?;
        Ok(Response::new(pb::CreateGroupResponse { state_id }))
    }

    async fn create_key_package(
        &self,
        r: Request<pb::CreateKeyPackageRequest>,
    ) -> Answer<pb::CreateKeyPackageResponse> {
        let r = r.into_inner();
        let cs = suite(r.cipher_suite)?;
        let (transaction_id, key_package) = self
            .fresh("CreateKeyPackage", &r.identity, |m| {
                m.create_key_package(cs)
            })
            .await?;
        Ok(Response::new(pb::CreateKeyPackageResponse {
            transaction_id,
            key_package,
            ..Default::default()
        }))
    }

    async fn join_group(&self, r: Request<pb::JoinGroupRequest>) -> Answer<pb::JoinGroupResponse> {
        let r = r.into_inner();
        let epoch_authenticator = self
            .with("JoinGroup", r.transaction_id, |m| {
                m.join(&r.welcome, tree(&r.ratchet_tree), r.encrypt_handshake)?;
                m.epoch_authenticator()
            })
            .await?;
        Ok(Response::new(pb::JoinGroupResponse {
            state_id: r.transaction_id,
            epoch_authenticator: self
                .faults
                .authenticator(r.transaction_id, epoch_authenticator),
        }))
    }

    async fn external_join(
        &self,
        r: Request<pb::ExternalJoinRequest>,
    ) -> Answer<pb::ExternalJoinResponse> {
        let r = r.into_inner();
        let psks: Vec<(Vec<u8>, Vec<u8>)> = r
            .psks
            .into_iter()
            .map(|p| (p.psk_id, p.psk_secret))
            .collect();
        let join = |m: &mut dyn Member| {
            let commit = m.external_join(
                &r.group_info,
                tree(&r.ratchet_tree),
                r.encrypt_handshake,
                r.remove_prior,
                &psks,
            )?;
            Ok((commit, m.epoch_authenticator()?))
        };
        // The request names no prior state: the member that removes its prior leaf is the one
        // this server holds with the joiner's identity in the GroupInfo's group (our members
        // remove the leaf they hold themselves; openmls signs that Remove with the leaf's key).
        let (state_id, (commit, epoch_authenticator)) = if r.remove_prior {
            let id = self.prior_state(&r.identity, &r.group_info)?;
            (id, self.with("ExternalJoin", id, join).await?)
        } else {
            self.fresh("ExternalJoin", &r.identity, join).await?
        };
        Ok(Response::new(pb::ExternalJoinResponse {
            state_id,
            commit,
            epoch_authenticator: self.faults.authenticator(state_id, epoch_authenticator),
        }))
    }

    async fn group_info(&self, r: Request<pb::GroupInfoRequest>) -> Answer<pb::GroupInfoResponse> {
        let r = r.into_inner();
        let (group_info, ratchet_tree) = self
            .with("GroupInfo", r.state_id, |m| m.group_info(r.external_tree))
            .await?;
        Ok(Response::new(pb::GroupInfoResponse {
            group_info,
            ratchet_tree: ratchet_tree.unwrap_or_default(),
        }))
    }

    async fn state_auth(&self, r: Request<pb::StateAuthRequest>) -> Answer<pb::StateAuthResponse> {
        let r = r.into_inner();
        let state_auth_secret = self
            .with("StateAuth", r.state_id, |m| m.epoch_authenticator())
            .await?;
        Ok(Response::new(pb::StateAuthResponse {
            state_auth_secret: self.faults.authenticator(r.state_id, state_auth_secret),
        }))
    }

    async fn export(&self, r: Request<pb::ExportRequest>) -> Answer<pb::ExportResponse> {
        let r = r.into_inner();
        let len =
            usize::try_from(r.key_length).map_err(|_| Status::invalid_argument("key_length"))?;
        let exported_secret = self
            .with("Export", r.state_id, |m| {
                m.export_secret(r.label.as_bytes(), &r.context, len)
            })
            .await?;
        Ok(Response::new(pb::ExportResponse { exported_secret }))
    }

    async fn protect(&self, r: Request<pb::ProtectRequest>) -> Answer<pb::ProtectResponse> {
        let r = r.into_inner();
        let ciphertext = self
            .with("Protect", r.state_id, |m| {
                m.protect(&r.authenticated_data, &r.plaintext)
            })
            .await?;
        Ok(Response::new(pb::ProtectResponse { ciphertext }))
    }

    async fn unprotect(&self, r: Request<pb::UnprotectRequest>) -> Answer<pb::UnprotectResponse> {
        let r = r.into_inner();
        let p = self
            .with("Unprotect", r.state_id, |m| m.unprotect(&r.ciphertext))
            .await?;
        Ok(Response::new(pb::UnprotectResponse {
            authenticated_data: p.authenticated_data,
            plaintext: p.plaintext,
        }))
    }

    async fn store_psk(&self, r: Request<pb::StorePskRequest>) -> Answer<pb::StorePskResponse> {
        let r = r.into_inner();
        self.with("StorePSK", r.state_or_transaction_id, |m| {
            m.store_psk(&r.psk_id, &r.psk_secret)
        })
        .await?;
        Ok(Response::new(pb::StorePskResponse {}))
    }

    async fn add_proposal(
        &self,
        r: Request<pb::AddProposalRequest>,
    ) -> Answer<pb::ProposalResponse> {
        let r = r.into_inner();
        let spec = ProposalSpec::Add {
            key_package: r.key_package,
        };
        proposal_response(
            self.with("AddProposal", r.state_id, |m| m.propose(&spec))
                .await?,
        )
    }

    async fn update_proposal(
        &self,
        r: Request<pb::UpdateProposalRequest>,
    ) -> Answer<pb::ProposalResponse> {
        let r = r.into_inner();
        proposal_response(
            self.with("UpdateProposal", r.state_id, |m| m.propose_update())
                .await?,
        )
    }

    async fn remove_proposal(
        &self,
        r: Request<pb::RemoveProposalRequest>,
    ) -> Answer<pb::ProposalResponse> {
        let r = r.into_inner();
        let spec = ProposalSpec::Remove {
            identity: r.removed_id,
        };
        proposal_response(
            self.with("RemoveProposal", r.state_id, |m| m.propose(&spec))
                .await?,
        )
    }

    async fn external_psk_proposal(
        &self,
        r: Request<pb::ExternalPskProposalRequest>,
    ) -> Answer<pb::ProposalResponse> {
        let r = r.into_inner();
        let spec = ProposalSpec::ExternalPsk { psk_id: r.psk_id };
        proposal_response(
            self.with("ExternalPSKProposal", r.state_id, |m| m.propose(&spec))
                .await?,
        )
    }

    async fn resumption_psk_proposal(
        &self,
        r: Request<pb::ResumptionPskProposalRequest>,
    ) -> Answer<pb::ProposalResponse> {
        let r = r.into_inner();
        let spec = ProposalSpec::ResumptionPsk { epoch: r.epoch_id };
        proposal_response(
            self.with("ResumptionPSKProposal", r.state_id, |m| m.propose(&spec))
                .await?,
        )
    }

    async fn group_context_extensions_proposal(
        &self,
        r: Request<pb::GroupContextExtensionsProposalRequest>,
    ) -> Answer<pb::ProposalResponse> {
        let r = r.into_inner();
        let spec = ProposalSpec::GroupContextExtensions {
            extensions: extensions(r.extensions)?,
        };
        proposal_response(
            self.with("GroupContextExtensionsProposal", r.state_id, |m| {
                m.propose(&spec)
            })
            .await?,
        )
    }

    async fn commit(&self, r: Request<pb::CommitRequest>) -> Answer<pb::CommitResponse> {
        let r = r.into_inner();
        let by_value: Vec<ProposalSpec> = r
            .by_value
            .into_iter()
            .map(proposal)
            .collect::<Result<_, _>>()?;
        let out = self
            .with("Commit", r.state_id, |m| {
                m.commit(&r.by_reference, &by_value, r.force_path, r.external_tree)
            })
            .await?;
        Ok(Response::new(pb::CommitResponse {
            commit: out.commit,
            welcome: out.welcome.unwrap_or_default(),
            ratchet_tree: out.ratchet_tree.unwrap_or_default(),
        }))
    }

    async fn handle_commit(
        &self,
        r: Request<pb::HandleCommitRequest>,
    ) -> Answer<pb::HandleCommitResponse> {
        let r = r.into_inner();
        let epoch_authenticator = self
            .with("HandleCommit", r.state_id, |m| {
                m.handle_commit(&r.proposal, &r.commit)?;
                m.epoch_authenticator()
            })
            .await?;
        Ok(Response::new(pb::HandleCommitResponse {
            state_id: r.state_id,
            epoch_authenticator: self.faults.authenticator(r.state_id, epoch_authenticator),
        }))
    }

    async fn handle_pending_commit(
        &self,
        r: Request<pb::HandlePendingCommitRequest>,
    ) -> Answer<pb::HandleCommitResponse> {
        let r = r.into_inner();
        let epoch_authenticator = self
            .with("HandlePendingCommit", r.state_id, |m| {
                m.merge_pending_commit()?;
                m.epoch_authenticator()
            })
            .await?;
        Ok(Response::new(pb::HandleCommitResponse {
            state_id: r.state_id,
            epoch_authenticator: self.faults.authenticator(r.state_id, epoch_authenticator),
        }))
    }

    async fn re_init_proposal(
        &self,
        r: Request<pb::ReInitProposalRequest>,
    ) -> Answer<pb::ProposalResponse> {
        let r = r.into_inner();
        let spec = ProposalSpec::Reinit {
            group_id: r.group_id,
            cipher_suite: suite(r.cipher_suite)?,
            extensions: extensions(r.extensions)?,
        };
        proposal_response(
            self.with("ReInitProposal", r.state_id, |m| m.propose(&spec))
                .await?,
        )
    }

    async fn re_init_commit(&self, r: Request<pb::CommitRequest>) -> Answer<pb::CommitResponse> {
        let r = r.into_inner();
        let [proposal] = <[Vec<u8>; 1]>::try_from(r.by_reference).map_err(|_| {
            Status::invalid_argument("ReInitCommit: exactly one ReInit proposal by reference")
        })?;
        let commit = self
            .with("ReInitCommit", r.state_id, |m| m.reinit_commit(&proposal))
            .await?;
        Ok(Response::new(pb::CommitResponse {
            commit,
            ..Default::default()
        }))
    }

    async fn handle_pending_re_init_commit(
        &self,
        r: Request<pb::HandlePendingCommitRequest>,
    ) -> Answer<pb::HandleReInitCommitResponse> {
        let r = r.into_inner();
        let (epoch_authenticator, key_package) = self
            .with("HandlePendingReInitCommit", r.state_id, |m| {
                m.merge_pending_reinit_commit()
            })
            .await?;
        Ok(Response::new(pb::HandleReInitCommitResponse {
            reinit_id: r.state_id,
            key_package,
            epoch_authenticator: self.faults.authenticator(r.state_id, epoch_authenticator),
        }))
    }

    async fn handle_re_init_commit(
        &self,
        r: Request<pb::HandleCommitRequest>,
    ) -> Answer<pb::HandleReInitCommitResponse> {
        let r = r.into_inner();
        let [proposal] = <[Vec<u8>; 1]>::try_from(r.proposal).map_err(|_| {
            Status::invalid_argument("HandleReInitCommit: exactly one ReInit proposal")
        })?;
        let (epoch_authenticator, key_package) = self
            .with("HandleReInitCommit", r.state_id, |m| {
                m.handle_reinit_commit(&proposal, &r.commit)
            })
            .await?;
        Ok(Response::new(pb::HandleReInitCommitResponse {
            reinit_id: r.state_id,
            key_package,
            epoch_authenticator: self.faults.authenticator(r.state_id, epoch_authenticator),
        }))
    }

    async fn re_init_welcome(
        &self,
        r: Request<pb::ReInitWelcomeRequest>,
    ) -> Answer<pb::CreateSubgroupResponse> {
        let r = r.into_inner();
        let (out, epoch_authenticator) = self
            .with("ReInitWelcome", r.reinit_id, |m| {
                let out = m.reinit_welcome(&r.key_package, r.force_path, r.external_tree)?;
                Ok((out, m.epoch_authenticator()?))
            })
            .await?;
        Ok(Response::new(pb::CreateSubgroupResponse {
            state_id: r.reinit_id,
            welcome: out.welcome.unwrap_or_default(),
            ratchet_tree: out.ratchet_tree.unwrap_or_default(),
            epoch_authenticator: self.faults.authenticator(r.reinit_id, epoch_authenticator),
        }))
    }

    async fn handle_re_init_welcome(
        &self,
        r: Request<pb::HandleReInitWelcomeRequest>,
    ) -> Answer<pb::JoinGroupResponse> {
        let r = r.into_inner();
        let epoch_authenticator = self
            .with("HandleReInitWelcome", r.reinit_id, |m| {
                m.handle_reinit_welcome(&r.welcome, tree(&r.ratchet_tree))?;
                m.epoch_authenticator()
            })
            .await?;
        Ok(Response::new(pb::JoinGroupResponse {
            state_id: r.reinit_id,
            epoch_authenticator: self.faults.authenticator(r.reinit_id, epoch_authenticator),
        }))
    }

    async fn create_branch(
        &self,
        r: Request<pb::CreateBranchRequest>,
    ) -> Answer<pb::CreateSubgroupResponse> {
        let r = r.into_inner();
        let exts = extensions(r.extensions)?;
        let (out, epoch_authenticator) = self
            .with("CreateBranch", r.state_id, |m| {
                let out = m.create_branch(
                    &r.group_id,
                    &exts,
                    &r.key_packages,
                    r.force_path,
                    r.external_tree,
                )?;
                Ok((out, m.epoch_authenticator()?))
            })
            .await?;
        Ok(Response::new(pb::CreateSubgroupResponse {
            state_id: r.state_id,
            welcome: out.welcome.unwrap_or_default(),
            ratchet_tree: out.ratchet_tree.unwrap_or_default(),
            epoch_authenticator: self.faults.authenticator(r.state_id, epoch_authenticator),
        }))
    }

    async fn handle_branch(
        &self,
        r: Request<pb::HandleBranchRequest>,
    ) -> Answer<pb::HandleBranchResponse> {
        let r = r.into_inner();
        if r.transaction_id != r.state_id {
            // Our members keep a branch's key package with the group it branches; the
            // interface makes the key package (CreateKeyPackage) apart from the state.
            return Err(Status::unimplemented(
                "HandleBranch: this server's members hold a key package and the group it \
                 branches in one state; a key package made apart (CreateKeyPackage) cannot join",
            ));
        }
        let epoch_authenticator = self
            .with("HandleBranch", r.state_id, |m| {
                m.handle_branch(&r.welcome, tree(&r.ratchet_tree))?;
                m.epoch_authenticator()
            })
            .await?;
        Ok(Response::new(pb::HandleBranchResponse {
            state_id: r.state_id,
            epoch_authenticator: self.faults.authenticator(r.state_id, epoch_authenticator),
        }))
    }

    async fn new_member_add_proposal(
        &self,
        r: Request<pb::NewMemberAddProposalRequest>,
    ) -> Answer<pb::NewMemberAddProposalResponse> {
        let r = r.into_inner();
        let (transaction_id, proposal) = self
            .fresh("NewMemberAddProposal", &r.identity, |m| {
                m.new_member_add_proposal(&r.group_info)
            })
            .await?;
        Ok(Response::new(pb::NewMemberAddProposalResponse {
            transaction_id,
            proposal,
            ..Default::default()
        }))
    }

    async fn create_external_signer(
        &self,
        r: Request<pb::CreateExternalSignerRequest>,
    ) -> Answer<pb::CreateExternalSignerResponse> {
        let r = r.into_inner();
        let cs = suite(r.cipher_suite)?;
        let (signer_id, external_sender) = self
            .fresh("CreateExternalSigner", &r.identity, |m| {
                m.create_external_signer(cs)
            })
            .await?;
        Ok(Response::new(pb::CreateExternalSignerResponse {
            signer_id,
            external_sender,
        }))
    }

    async fn add_external_signer(
        &self,
        r: Request<pb::AddExternalSignerRequest>,
    ) -> Answer<pb::ProposalResponse> {
        let r = r.into_inner();
        proposal_response(
            self.with("AddExternalSigner", r.state_id, |m| {
                m.add_external_signer(&r.external_sender)
            })
            .await?,
        )
    }

    async fn external_signer_proposal(
        &self,
        r: Request<pb::ExternalSignerProposalRequest>,
    ) -> Answer<pb::ProposalResponse> {
        let r = r.into_inner();
        let description = r
            .description
            .ok_or_else(|| Status::invalid_argument("ExternalSignerProposal: no description"))?;
        let spec = proposal(description)?;
        proposal_response(
            self.with("ExternalSignerProposal", r.signer_id, |m| {
                m.external_signer_proposal(&r.group_info, &r.ratchet_tree, &spec)
            })
            .await?,
        )
    }

    async fn free(&self, r: Request<pb::FreeRequest>) -> Answer<pb::FreeResponse> {
        self.faults.before("Free").await?;
        let r = r.into_inner();
        self.lock()?
            .by_id
            .remove(&r.state_id)
            .ok_or_else(|| Status::not_found(format!("Free: no state {}", r.state_id)))?;
        Ok(Response::new(pb::FreeResponse {}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_group_id_is_read_from_a_group_info_message() {
        let client = crate::clients::member_clients().remove(0);
        let mut alice = client.member(b"alice").unwrap();
        alice.create_group(b"a group", 1, false).unwrap();
        let (group_info, _) = alice.group_info(false).unwrap();
        assert_eq!(
            group_id_of_group_info(&group_info).as_deref(),
            Some(&b"a group"[..])
        );
        assert_eq!(alice.group_id().as_deref(), Some(&b"a group"[..]));
        // A key package is not a GroupInfo; truncated bytes are refused, not read past.
        let kp = alice.create_key_package(1).unwrap();
        assert_eq!(group_id_of_group_info(&kp), None);
        assert_eq!(group_id_of_group_info(&group_info[..10]), None);
    }
}
