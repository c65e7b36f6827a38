//! A client the harness did not compile in: any MLS implementation serving the IETF interop
//! gRPC interface (`MLSClient`, `harness/proto/mls_client.proto`), named on the command line as
//! `grpc:HOST:PORT`. Each [`Member`] call is the RPC the IETF test runner
//! (mlswg/mls-implementations `interop/test-runner/main.go`) makes for it, with the state,
//! transaction, signer and reinit ids the server hands out kept here.
//!
//! What the server does wrong is its finding: an RPC answered UNIMPLEMENTED is
//! [`ClientError::Unsupported`] (an `unimplemented` verdict for that run), any other status or a
//! call unanswered after the per-call timeout is [`ClientError::Failed`] naming the RPC. A server
//! that stops answering (connection refused or reset) is marked gone: every later call fails at
//! once with the first reason, and [`Client::gone`] lets a runner skip what it has not started.

use super::member::{CommitOutput, Member, Plaintext, ProposalSpec, RawExtension};
use super::{Client, ClientError, MemberClient};
use crate::grpc::proto::{self as pb, mls_client_client::MlsClientClient};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tonic::transport::{Channel, Endpoint};

/// How a gRPC client is named in `--clients`: `grpc:127.0.0.1:50051`.
pub const PREFIX: &str = "grpc:";

/// How long one RPC may take before it counts as hung (the IETF runner allows 120 s).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a `grpc:` client could not be reached at the start.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("`{0}`: expected grpc:HOST:PORT")]
    Address(String),
    #[error("{name}: cannot connect: {reason}")]
    Unreachable { name: String, reason: String },
}

/// One server, shared by every member it plays.
#[derive(Debug)]
struct Server {
    /// `grpc:HOST:PORT`, leaked once per server so it can name errors like a compiled-in client.
    name: &'static str,
    /// What the server calls itself (Name RPC).
    reported: &'static str,
    suites: Vec<u16>,
    timeout: Duration,
    /// The harness's own runtime for the calls, so members stay synchronous like the others.
    runtime: tokio::runtime::Runtime,
    channel: Channel,
    /// Set once the server stops answering: the reason, for every later call.
    gone: Mutex<Option<String>>,
}

impl Server {
    /// Runs one RPC to its end (or the timeout) and maps its status.
    fn call<T, Fut>(
        &self,
        rpc: &'static str,
        f: impl FnOnce(MlsClientClient<Channel>) -> Fut,
    ) -> Result<T, ClientError>
    where
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>> + Send + 'static,
        T: Send + 'static,
    {
        if let Some(why) = self.gone.lock().ok().and_then(|g| g.clone()) {
            return Err(ClientError::Gone {
                client: self.name,
                reason: why,
            });
        }
        let call = f(MlsClientClient::new(self.channel.clone()));
        let timeout = self.timeout;
        let (tx, rx) = std::sync::mpsc::channel();
        // Spawned, not block_on: a caller may itself be inside a tokio runtime.
        self.runtime.spawn(async move {
            let _ = tx.send(tokio::time::timeout(timeout, call).await);
        });
        match rx.recv() {
            Ok(Ok(Ok(response))) => Ok(response.into_inner()),
            Ok(Ok(Err(status))) => Err(self.status(rpc, &status)),
            Ok(Err(_)) => Err(ClientError::Failed(format!(
                "{rpc}: no answer from {} within {} s",
                self.name,
                timeout.as_secs_f64()
            ))),
            Err(_) => Err(ClientError::Failed(format!("{rpc}: the call was dropped"))),
        }
    }

    fn status(&self, rpc: &str, status: &tonic::Status) -> ClientError {
        use tonic::Code;
        let what = format!("{rpc} answered {:?}: {}", status.code(), status.message());
        match status.code() {
            Code::Unimplemented => ClientError::unsupported(self.name, what),
            // Connection refused or reset: the process is gone (tonic reports a reset mid-call
            // as Unknown "transport error").
            Code::Unavailable | Code::Unknown if is_transport(status) => {
                if let Ok(mut gone) = self.gone.lock() {
                    gone.get_or_insert(what.clone());
                }
                ClientError::Failed(format!("{} stopped answering ({what})", self.name))
            }
            _ => ClientError::Failed(what),
        }
    }
}

fn is_transport(status: &tonic::Status) -> bool {
    status.code() == tonic::Code::Unavailable || status.message().contains("transport error")
}

/// A `grpc:HOST:PORT` client: connected, named and asked its suites once, at the start.
#[derive(Debug, Clone)]
pub struct Grpc {
    server: Arc<Server>,
}

impl Grpc {
    /// Connects to `spec` (`grpc:HOST:PORT`) and asks Name and SupportedCiphersuites, as the IETF
    /// runner does on connecting.
    pub fn connect(spec: &str, timeout: Duration) -> Result<Grpc, ConnectError> {
        let addr = spec
            .strip_prefix(PREFIX)
            .filter(|a| a.contains(':'))
            .ok_or_else(|| ConnectError::Address(spec.to_string()))?;
        let unreachable = |reason: String| ConnectError::Unreachable {
            name: spec.to_string(),
            reason,
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("grpc-client")
            .enable_all()
            .build()
            .map_err(|e| unreachable(e.to_string()))?;
        let endpoint = Endpoint::from_shared(format!("http://{addr}"))
            .map_err(|_| ConnectError::Address(spec.to_string()))?
            .connect_timeout(timeout);
        let channel = std::thread::scope(|s| {
            s.spawn(|| runtime.block_on(endpoint.connect()))
                .join()
                .map_err(|_| unreachable("the connecting thread panicked".into()))?
                .map_err(|e| unreachable(format!("{e}: {}", source_chain(&e))))
        })?;
        let mut server = Server {
            name: Box::leak(spec.to_string().into_boxed_str()),
            reported: "",
            suites: Vec::new(),
            timeout,
            runtime,
            channel,
            gone: Mutex::new(None),
        };
        let name = server
            .call(
                "Name",
                |mut c| async move { c.name(pb::NameRequest {}).await },
            )
            .map_err(|e| unreachable(e.to_string()))?;
        server.reported = Box::leak(name.name.into_boxed_str());
        let suites = server
            .call("SupportedCiphersuites", |mut c| async move {
                c.supported_ciphersuites(pb::SupportedCiphersuitesRequest {})
                    .await
            })
            .map_err(|e| unreachable(e.to_string()))?;
        server.suites = suites
            .ciphersuites
            .into_iter()
            .filter_map(|s| u16::try_from(s).ok())
            .collect();
        Ok(Grpc {
            server: Arc::new(server),
        })
    }

    /// What the server calls itself (its Name RPC).
    pub fn reported_name(&self) -> &'static str {
        self.server.reported
    }
}

fn source_chain(e: &dyn std::error::Error) -> String {
    let mut out = Vec::new();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push(s.to_string());
        cur = s.source();
    }
    out.join(": ")
}

impl Client for Grpc {
    fn name(&self) -> &'static str {
        self.server.name
    }

    fn version(&self) -> &'static str {
        self.server.reported
    }

    fn cipher_suites(&self) -> Vec<u16> {
        self.server.suites.clone()
    }

    fn gone(&self) -> Option<String> {
        self.server.gone.lock().ok().and_then(|g| g.clone())
    }

    fn concurrent_runs(&self) -> bool {
        false
    }
}

impl MemberClient for Grpc {
    fn member(&self, identity: &[u8]) -> Result<Box<dyn Member>, ClientError> {
        Ok(Box::new(GrpcMember {
            server: self.server.clone(),
            identity: identity.to_vec(),
            state: None,
            transaction: None,
            signer: None,
            reinit: None,
            suite: None,
            authenticator: None,
        }))
    }
}

/// One actor on the server: the ids the server gave it, and the last epoch authenticator it
/// reported (the interface has no call that asks for it).
#[derive(Debug)]
struct GrpcMember {
    server: Arc<Server>,
    identity: Vec<u8>,
    state: Option<u32>,
    transaction: Option<u32>,
    signer: Option<u32>,
    reinit: Option<u32>,
    suite: Option<u16>,
    authenticator: Option<Vec<u8>>,
}

fn optional(bytes: Vec<u8>) -> Option<Vec<u8>> {
    (!bytes.is_empty()).then_some(bytes)
}

fn extensions(list: &[RawExtension]) -> Vec<pb::Extension> {
    list.iter()
        .map(|e| pb::Extension {
            extension_type: u32::from(e.extension_type),
            extension_data: e.extension_data.clone(),
        })
        .collect()
}

/// A proposal by value, as main.go's `ProposalDescriptionToProto` spells it.
fn description(spec: &ProposalSpec) -> pb::ProposalDescription {
    let of = |kind: &str| pb::ProposalDescription {
        proposal_type: kind.as_bytes().to_vec(),
        ..Default::default()
    };
    match spec {
        ProposalSpec::Add { key_package } => pb::ProposalDescription {
            key_package: key_package.clone(),
            ..of("add")
        },
        ProposalSpec::Remove { identity } => pb::ProposalDescription {
            removed_id: identity.clone(),
            ..of("remove")
        },
        ProposalSpec::ExternalPsk { psk_id } => pb::ProposalDescription {
            psk_id: psk_id.clone(),
            ..of("externalPSK")
        },
        ProposalSpec::ResumptionPsk { epoch } => pb::ProposalDescription {
            epoch_id: *epoch,
            ..of("resumptionPSK")
        },
        ProposalSpec::GroupContextExtensions { extensions: e } => pb::ProposalDescription {
            extensions: extensions(e),
            ..of("groupContextExtensions")
        },
        ProposalSpec::Reinit {
            group_id,
            cipher_suite,
            extensions: e,
        } => pb::ProposalDescription {
            extensions: extensions(e),
            group_id: group_id.clone(),
            cipher_suite: u32::from(*cipher_suite),
            ..of("reinit")
        },
    }
}

impl GrpcMember {
    fn state(&self) -> Result<u32, ClientError> {
        self.state
            .ok_or_else(|| ClientError::failed("no group state on the server yet"))
    }

    fn id(slot: Option<u32>, what: &str) -> Result<u32, ClientError> {
        slot.ok_or_else(|| ClientError::failed(format!("no {what} id from the server yet")))
    }

    /// A new state and the epoch authenticator it reported.
    fn entered(&mut self, state: u32, authenticator: Vec<u8>) {
        self.state = Some(state);
        self.authenticator = optional(authenticator);
    }
}

impl Member for GrpcMember {
    fn client(&self) -> &'static str {
        self.server.name
    }

    fn identity(&self) -> &[u8] {
        &self.identity
    }

    fn create_group(
        &mut self,
        group_id: &[u8],
        cipher_suite: u16,
        encrypt_handshake: bool,
    ) -> Result<(), ClientError> {
        let request = pb::CreateGroupRequest {
            group_id: group_id.to_vec(),
            cipher_suite: u32::from(cipher_suite),
            encrypt_handshake,
            identity: self.identity.clone(),
        };
        let r = self.server.call("CreateGroup", |mut c| async move {
            c.create_group(request).await
        })?;
        self.state = Some(r.state_id);
        self.suite = Some(cipher_suite);
        self.authenticator = None;
        Ok(())
    }

    fn create_key_package(&mut self, cipher_suite: u16) -> Result<Vec<u8>, ClientError> {
        let request = pb::CreateKeyPackageRequest {
            cipher_suite: u32::from(cipher_suite),
            identity: self.identity.clone(),
        };
        let r = self.server.call("CreateKeyPackage", |mut c| async move {
            c.create_key_package(request).await
        })?;
        self.transaction = Some(r.transaction_id);
        self.suite.get_or_insert(cipher_suite);
        Ok(r.key_package)
    }

    fn join(
        &mut self,
        welcome: &[u8],
        ratchet_tree: Option<&[u8]>,
        encrypt_handshake: bool,
    ) -> Result<(), ClientError> {
        let request = pb::JoinGroupRequest {
            transaction_id: Self::id(self.transaction, "transaction")?,
            welcome: welcome.to_vec(),
            encrypt_handshake,
            identity: self.identity.clone(),
            ratchet_tree: ratchet_tree.unwrap_or_default().to_vec(),
        };
        let r = self.server.call(
            "JoinGroup",
            |mut c| async move { c.join_group(request).await },
        )?;
        self.entered(r.state_id, r.epoch_authenticator);
        Ok(())
    }

    fn external_join(
        &mut self,
        group_info: &[u8],
        ratchet_tree: Option<&[u8]>,
        encrypt_handshake: bool,
        remove_prior: bool,
        psks: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<Vec<u8>, ClientError> {
        let request = pb::ExternalJoinRequest {
            group_info: group_info.to_vec(),
            ratchet_tree: ratchet_tree.unwrap_or_default().to_vec(),
            encrypt_handshake,
            identity: self.identity.clone(),
            remove_prior,
            psks: psks
                .iter()
                .map(|(id, secret)| pb::PreSharedKey {
                    psk_id: id.clone(),
                    psk_secret: secret.clone(),
                })
                .collect(),
        };
        let r = self.server.call("ExternalJoin", |mut c| async move {
            c.external_join(request).await
        })?;
        self.entered(r.state_id, r.epoch_authenticator);
        Ok(r.commit)
    }

    fn store_psk(&mut self, psk_id: &[u8], secret: &[u8]) -> Result<(), ClientError> {
        // main.go: the state if there is one, else the pending join, else 0.
        let request = pb::StorePskRequest {
            state_or_transaction_id: self.state.or(self.transaction).unwrap_or(0),
            psk_id: psk_id.to_vec(),
            psk_secret: secret.to_vec(),
        };
        self.server.call(
            "StorePSK",
            |mut c| async move { c.store_psk(request).await },
        )?;
        Ok(())
    }

    fn group_info(&self, external_tree: bool) -> Result<(Vec<u8>, Option<Vec<u8>>), ClientError> {
        let request = pb::GroupInfoRequest {
            state_id: self.state()?,
            external_tree,
        };
        let r = self.server.call(
            "GroupInfo",
            |mut c| async move { c.group_info(request).await },
        )?;
        Ok((r.group_info, optional(r.ratchet_tree)))
    }

    fn epoch_authenticator(&self) -> Result<Vec<u8>, ClientError> {
        if let Some(ea) = &self.authenticator {
            return Ok(ea.clone());
        }
        // Only a state made by CreateGroup has none reported: ask StateAuth, which the servers
        // that answer it (MLSpp, ours) answer with the epoch authenticator.
        let request = pb::StateAuthRequest {
            state_id: self.state()?,
        };
        let r = self.server.call(
            "StateAuth",
            |mut c| async move { c.state_auth(request).await },
        )?;
        optional(r.state_auth_secret).ok_or_else(|| {
            ClientError::unsupported(
                self.server.name,
                "an epoch authenticator for a new group (StateAuth answered no bytes)",
            )
        })
    }

    fn export_secret(
        &self,
        label: &[u8],
        context: &[u8],
        len: usize,
    ) -> Result<Vec<u8>, ClientError> {
        let request = pb::ExportRequest {
            state_id: self.state()?,
            label: String::from_utf8(label.to_vec())
                .map_err(|_| ClientError::failed("the Export RPC takes labels as strings"))?,
            context: context.to_vec(),
            key_length: u32::try_from(len).map_err(|_| ClientError::failed("length > u32"))?,
        };
        let r = self
            .server
            .call("Export", |mut c| async move { c.export(request).await })?;
        if r.exported_secret.is_empty() {
            // mls-rs's server answers Export with an empty message: a gap, not a wrong key.
            return Err(ClientError::unsupported(
                self.server.name,
                "Export answered no bytes",
            ));
        }
        Ok(r.exported_secret)
    }

    fn epoch(&self) -> Option<u64> {
        // The interface never says; `active` below is what callers need.
        None
    }

    fn active(&self) -> bool {
        self.state.is_some()
    }

    fn own_leaf(&self) -> Option<u32> {
        None
    }

    fn cipher_suite(&self) -> Option<u16> {
        self.state.and(self.suite)
    }

    fn roster(&self) -> Result<Vec<Vec<u8>>, ClientError> {
        Err(self.unsupported("the roster (no RPC asks for it)"))
    }

    fn propose(&mut self, proposal: &ProposalSpec) -> Result<Vec<u8>, ClientError> {
        let state_id = self.state()?;
        let r = match proposal.clone() {
            ProposalSpec::Add { key_package } => {
                let request = pb::AddProposalRequest {
                    state_id,
                    key_package,
                };
                self.server.call("AddProposal", |mut c| async move {
                    c.add_proposal(request).await
                })
            }
            ProposalSpec::Remove { identity } => {
                let request = pb::RemoveProposalRequest {
                    state_id,
                    removed_id: identity,
                };
                self.server.call("RemoveProposal", |mut c| async move {
                    c.remove_proposal(request).await
                })
            }
            ProposalSpec::ExternalPsk { psk_id } => {
                let request = pb::ExternalPskProposalRequest { state_id, psk_id };
                self.server.call("ExternalPSKProposal", |mut c| async move {
                    c.external_psk_proposal(request).await
                })
            }
            ProposalSpec::ResumptionPsk { epoch } => {
                let request = pb::ResumptionPskProposalRequest {
                    state_id,
                    epoch_id: epoch,
                };
                self.server
                    .call("ResumptionPSKProposal", |mut c| async move {
                        c.resumption_psk_proposal(request).await
                    })
            }
            ProposalSpec::GroupContextExtensions { extensions: e } => {
                let request = pb::GroupContextExtensionsProposalRequest {
                    state_id,
                    extensions: extensions(&e),
                };
                self.server
                    .call("GroupContextExtensionsProposal", |mut c| async move {
                        c.group_context_extensions_proposal(request).await
                    })
            }
            ProposalSpec::Reinit {
                group_id,
                cipher_suite,
                extensions: e,
            } => {
                let request = pb::ReInitProposalRequest {
                    state_id,
                    cipher_suite: u32::from(cipher_suite),
                    group_id,
                    extensions: extensions(&e),
                };
                self.server.call("ReInitProposal", |mut c| async move {
                    c.re_init_proposal(request).await
                })
            }
        }?;
        Ok(r.proposal)
    }

    fn propose_update(&mut self) -> Result<Vec<u8>, ClientError> {
        let request = pb::UpdateProposalRequest {
            state_id: self.state()?,
        };
        let r = self.server.call("UpdateProposal", |mut c| async move {
            c.update_proposal(request).await
        })?;
        Ok(r.proposal)
    }

    fn commit(
        &mut self,
        by_reference: &[Vec<u8>],
        by_value: &[ProposalSpec],
        force_path: bool,
        external_tree: bool,
    ) -> Result<CommitOutput, ClientError> {
        let request = pb::CommitRequest {
            state_id: self.state()?,
            by_reference: by_reference.to_vec(),
            by_value: by_value.iter().map(description).collect(),
            force_path,
            external_tree,
        };
        let r = self
            .server
            .call("Commit", |mut c| async move { c.commit(request).await })?;
        Ok(CommitOutput {
            commit: r.commit,
            welcome: optional(r.welcome),
            ratchet_tree: optional(r.ratchet_tree),
        })
    }

    fn merge_pending_commit(&mut self) -> Result<(), ClientError> {
        let request = pb::HandlePendingCommitRequest {
            state_id: self.state()?,
        };
        let r = self
            .server
            .call("HandlePendingCommit", |mut c| async move {
                c.handle_pending_commit(request).await
            })?;
        self.entered(r.state_id, r.epoch_authenticator);
        Ok(())
    }

    fn handle_commit(&mut self, proposals: &[Vec<u8>], commit: &[u8]) -> Result<(), ClientError> {
        let request = pb::HandleCommitRequest {
            state_id: self.state()?,
            proposal: proposals.to_vec(),
            commit: commit.to_vec(),
        };
        let r = self.server.call("HandleCommit", |mut c| async move {
            c.handle_commit(request).await
        })?;
        self.entered(r.state_id, r.epoch_authenticator);
        Ok(())
    }

    fn protect(
        &mut self,
        authenticated_data: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, ClientError> {
        let request = pb::ProtectRequest {
            state_id: self.state()?,
            authenticated_data: authenticated_data.to_vec(),
            plaintext: plaintext.to_vec(),
        };
        let r = self
            .server
            .call("Protect", |mut c| async move { c.protect(request).await })?;
        Ok(r.ciphertext)
    }

    fn unprotect(&mut self, ciphertext: &[u8]) -> Result<Plaintext, ClientError> {
        let request = pb::UnprotectRequest {
            state_id: self.state()?,
            ciphertext: ciphertext.to_vec(),
        };
        let r = self.server.call(
            "Unprotect",
            |mut c| async move { c.unprotect(request).await },
        )?;
        Ok(Plaintext {
            authenticated_data: r.authenticated_data,
            plaintext: r.plaintext,
        })
    }

    fn reinit_commit(&mut self, proposal: &[u8]) -> Result<Vec<u8>, ClientError> {
        // main.go sends the ReInit proposal by reference only.
        let request = pb::CommitRequest {
            state_id: self.state()?,
            by_reference: vec![proposal.to_vec()],
            ..Default::default()
        };
        let r = self.server.call("ReInitCommit", |mut c| async move {
            c.re_init_commit(request).await
        })?;
        Ok(r.commit)
    }

    fn merge_pending_reinit_commit(&mut self) -> Result<(Vec<u8>, Vec<u8>), ClientError> {
        let request = pb::HandlePendingCommitRequest {
            state_id: self.state()?,
        };
        let r = self
            .server
            .call("HandlePendingReInitCommit", |mut c| async move {
                c.handle_pending_re_init_commit(request).await
            })?;
        self.reinit = Some(r.reinit_id);
        Ok((r.epoch_authenticator, r.key_package))
    }

    fn handle_reinit_commit(
        &mut self,
        proposal: &[u8],
        commit: &[u8],
    ) -> Result<(Vec<u8>, Vec<u8>), ClientError> {
        let request = pb::HandleCommitRequest {
            state_id: self.state()?,
            proposal: vec![proposal.to_vec()],
            commit: commit.to_vec(),
        };
        let r = self.server.call("HandleReInitCommit", |mut c| async move {
            c.handle_re_init_commit(request).await
        })?;
        self.reinit = Some(r.reinit_id);
        Ok((r.epoch_authenticator, r.key_package))
    }

    fn reinit_welcome(
        &mut self,
        key_packages: &[Vec<u8>],
        force_path: bool,
        external_tree: bool,
    ) -> Result<CommitOutput, ClientError> {
        let request = pb::ReInitWelcomeRequest {
            reinit_id: Self::id(self.reinit, "reinit")?,
            key_package: key_packages.to_vec(),
            force_path,
            external_tree,
        };
        let r = self.server.call("ReInitWelcome", |mut c| async move {
            c.re_init_welcome(request).await
        })?;
        self.entered(r.state_id, r.epoch_authenticator);
        Ok(CommitOutput {
            commit: Vec::new(),
            welcome: optional(r.welcome),
            ratchet_tree: optional(r.ratchet_tree),
        })
    }

    fn handle_reinit_welcome(
        &mut self,
        welcome: &[u8],
        ratchet_tree: Option<&[u8]>,
    ) -> Result<(), ClientError> {
        let request = pb::HandleReInitWelcomeRequest {
            reinit_id: Self::id(self.reinit, "reinit")?,
            welcome: welcome.to_vec(),
            ratchet_tree: ratchet_tree.unwrap_or_default().to_vec(),
        };
        let r = self
            .server
            .call("HandleReInitWelcome", |mut c| async move {
                c.handle_re_init_welcome(request).await
            })?;
        self.entered(r.state_id, r.epoch_authenticator);
        Ok(())
    }

    fn create_branch(
        &mut self,
        group_id: &[u8],
        extensions_: &[RawExtension],
        key_packages: &[Vec<u8>],
        force_path: bool,
        external_tree: bool,
    ) -> Result<CommitOutput, ClientError> {
        let request = pb::CreateBranchRequest {
            state_id: self.state()?,
            group_id: group_id.to_vec(),
            extensions: extensions(extensions_),
            key_packages: key_packages.to_vec(),
            force_path,
            external_tree,
        };
        let r = self.server.call("CreateBranch", |mut c| async move {
            c.create_branch(request).await
        })?;
        self.entered(r.state_id, r.epoch_authenticator);
        Ok(CommitOutput {
            commit: Vec::new(),
            welcome: optional(r.welcome),
            ratchet_tree: optional(r.ratchet_tree),
        })
    }

    fn handle_branch(
        &mut self,
        welcome: &[u8],
        ratchet_tree: Option<&[u8]>,
    ) -> Result<(), ClientError> {
        let request = pb::HandleBranchRequest {
            state_id: self.state()?,
            transaction_id: Self::id(self.transaction, "transaction")?,
            welcome: welcome.to_vec(),
            ratchet_tree: ratchet_tree.unwrap_or_default().to_vec(),
        };
        let r = self.server.call("HandleBranch", |mut c| async move {
            c.handle_branch(request).await
        })?;
        self.entered(r.state_id, r.epoch_authenticator);
        Ok(())
    }

    fn new_member_add_proposal(&mut self, group_info: &[u8]) -> Result<Vec<u8>, ClientError> {
        let request = pb::NewMemberAddProposalRequest {
            group_info: group_info.to_vec(),
            identity: self.identity.clone(),
        };
        let r = self
            .server
            .call("NewMemberAddProposal", |mut c| async move {
                c.new_member_add_proposal(request).await
            })?;
        self.transaction = Some(r.transaction_id);
        Ok(r.proposal)
    }

    fn create_external_signer(&mut self, cipher_suite: u16) -> Result<Vec<u8>, ClientError> {
        let request = pb::CreateExternalSignerRequest {
            cipher_suite: u32::from(cipher_suite),
            identity: self.identity.clone(),
        };
        let r = self
            .server
            .call("CreateExternalSigner", |mut c| async move {
                c.create_external_signer(request).await
            })?;
        self.signer = Some(r.signer_id);
        Ok(r.external_sender)
    }

    fn add_external_signer(&mut self, external_sender: &[u8]) -> Result<Vec<u8>, ClientError> {
        let request = pb::AddExternalSignerRequest {
            state_id: self.state()?,
            external_sender: external_sender.to_vec(),
        };
        let r = self.server.call("AddExternalSigner", |mut c| async move {
            c.add_external_signer(request).await
        })?;
        Ok(r.proposal)
    }

    fn external_signer_proposal(
        &mut self,
        group_info: &[u8],
        ratchet_tree: &[u8],
        proposal: &ProposalSpec,
    ) -> Result<Vec<u8>, ClientError> {
        // main.go never sets signer_index: 0, the first external sender.
        let request = pb::ExternalSignerProposalRequest {
            signer_id: Self::id(self.signer, "signer")?,
            signer_index: 0,
            group_info: group_info.to_vec(),
            ratchet_tree: ratchet_tree.to_vec(),
            description: Some(description(proposal)),
        };
        let r = self
            .server
            .call("ExternalSignerProposal", |mut c| async move {
                c.external_signer_proposal(request).await
            })?;
        Ok(r.proposal)
    }

    fn free(&mut self) -> Result<(), ClientError> {
        let Some(state_id) = self.state.take() else {
            return Ok(());
        };
        let request = pb::FreeRequest { state_id };
        self.server
            .call("Free", |mut c| async move { c.free(request).await })?;
        Ok(())
    }
}
