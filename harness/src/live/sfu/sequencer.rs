//! The SFU as delivery service: it orders membership changes one at a time (joins that queue
//! up go in one commit), asks the committer (the longest-standing member; under `any` every
//! member, the first commit to arrive winning, as in DAVE) to commit each, then fans the commit
//! out and records it.

use super::{Change, Committed, Sfu};
use crate::live::ds::DsMsg;
use crate::live::record::{Carried, Packet};
use crate::live::script::{CommitterPolicy, EventKind};
use std::time::Duration;

/// A pending membership change.
#[derive(Clone, Debug)]
pub(super) enum Pending {
    /// Joiners: (name, key package, when requested).
    Add {
        joiners: Vec<(String, Vec<u8>, Duration)>,
    },
    Remove {
        name: String,
        /// Leave or kick.
        kind: EventKind,
        requested: Duration,
    },
    Update {
        name: String,
        proposal: Vec<u8>,
        requested: Duration,
    },
}

/// At most this many joins in one commit.
const MAX_BATCH: usize = 64;

impl Pending {
    /// What asks a committer to commit it, as change `number`.
    fn request(&self, number: u32) -> DsMsg {
        match self {
            Pending::Add { joiners } => DsMsg::PleaseAdd {
                change: number,
                key_packages: joiners.iter().map(|(_, kp, _)| kp.clone()).collect(),
            },
            Pending::Remove { name, .. } => DsMsg::PleaseRemove {
                change: number,
                name: name.clone(),
            },
            Pending::Update { proposal, .. } => DsMsg::PleaseUpdate {
                change: number,
                proposal: proposal.clone(),
            },
        }
    }

    /// The membership changes it makes, each with when it was requested.
    fn changes(&self) -> Vec<(Change, Duration)> {
        let change = |kind, who: &String| Change {
            kind,
            who: who.clone(),
        };
        match self {
            Pending::Add { joiners } => joiners
                .iter()
                .map(|(joiner, _, requested)| (change(EventKind::Join, joiner), *requested))
                .collect(),
            Pending::Remove {
                name,
                kind,
                requested,
            } => vec![(change(*kind, name), *requested)],
            Pending::Update {
                name, requested, ..
            } => vec![(change(EventKind::Rotate, name), *requested)],
        }
    }
}

impl Sfu {
    /// Removes a participant from the group (server-initiated).
    pub(super) fn kick(&mut self, name: String) {
        let requested = self.start.elapsed();
        self.changes.push_back(Pending::Remove {
            name,
            kind: EventKind::Kick,
            requested,
        });
        self.next_change();
    }

    /// Starts the next membership change if none is in flight.
    fn next_change(&mut self) {
        if self.in_flight.is_some() {
            return;
        }
        let Some(mut change) = self.changes.pop_front() else {
            return;
        };
        self.batch_joins(&mut change);
        let Some(asked) = self.committers(&change) else {
            // Nobody to commit yet (joins before the group exists): wait for the group.
            self.changes.push_front(change);
            return;
        };
        self.change_number += 1;
        let msg = change.request(self.change_number);
        for who in &asked {
            if let Some(id) = self.id_of(who) {
                self.send_ds(id, &msg);
            }
        }
        self.in_flight = Some((change, asked));
    }

    /// Joins waiting behind a join go in the same commit.
    fn batch_joins(&mut self, change: &mut Pending) {
        let Pending::Add { joiners } = change else {
            return;
        };
        while joiners.len() < MAX_BATCH {
            match self.changes.front() {
                Some(Pending::Add { .. }) => {
                    if let Some(Pending::Add { joiners: more }) = self.changes.pop_front() {
                        joiners.extend(more);
                    }
                }
                _ => break,
            }
        }
    }

    /// Who is asked to commit `change`; None while nobody can.
    fn committers(&self, change: &Pending) -> Option<Vec<String>> {
        let candidates: Vec<String> = self
            .members
            .iter()
            .filter(|m| !matches!(change, Pending::Remove { name, .. } if name == *m))
            .cloned()
            .collect();
        match (change, self.policy) {
            // A rotation under `any` is committed by the rotating member itself.
            (Pending::Update { name, proposal, .. }, CommitterPolicy::Any)
                if proposal.is_empty() =>
            {
                Some(vec![name.clone()])
            }
            _ if candidates.is_empty() => None,
            (_, CommitterPolicy::Designated) => Some(vec![candidates[0].clone()]),
            // DAVE: every member commits; the first commit to reach the SFU wins.
            (_, CommitterPolicy::Any) => Some(candidates),
        }
    }

    /// A delivery-service message from `from`: recorded, then a request queued, a commit
    /// settled or a group message relayed; then the next change, if any, starts.
    pub(super) fn on_ds(&mut self, from: usize, bytes: &[u8]) {
        let at = self.start.elapsed();
        self.report.record.packets.push(Packet {
            at,
            participant: from as u16 + 1,
            inbound: true,
            carried: Carried::Ds(bytes.to_vec()),
        });
        let name = self.peers[from].name.clone();
        match DsMsg::decode(bytes) {
            Some(DsMsg::Created) if self.members.is_empty() => self.members.push(name),
            Some(DsMsg::JoinRequest { key_package }) => self.changes.push_back(Pending::Add {
                joiners: vec![(name, key_package, at)],
            }),
            Some(DsMsg::LeaveRequest) => self.changes.push_back(Pending::Remove {
                name,
                kind: EventKind::Leave,
                requested: at,
            }),
            Some(DsMsg::RotateRequest { proposal }) => self.changes.push_back(Pending::Update {
                name,
                proposal,
                requested: at,
            }),
            Some(DsMsg::Commit {
                change: number,
                commit,
                welcome,
            }) => {
                // A discarded commit changes nothing.
                let Some(change) = self.take_winner(&name, number) else {
                    return;
                };
                self.apply_commit(from, name, &change, &commit, &welcome);
            }
            Some(msg @ DsMsg::Group { .. }) => {
                for id in 0..self.peers.len() {
                    if id != from {
                        self.send_ds(id, &msg);
                    }
                }
            }
            // Escrow and anything else: recorded, nothing to do.
            _ => {}
        }
        self.next_change();
    }

    /// The change in flight, if `committer`'s commit of change `number` wins it: the first
    /// commit of the change in flight from someone asked wins; the rest (losers of the race,
    /// or late ones) are counted and dropped.
    fn take_winner(&mut self, committer: &String, number: u32) -> Option<Pending> {
        let Some((change, asked)) = self.in_flight.take() else {
            self.report.discarded_commits += 1;
            return None;
        };
        if number != self.change_number || !asked.contains(committer) {
            self.report.discarded_commits += 1;
            self.in_flight = Some((change, asked));
            return None;
        }
        Some(change)
    }

    /// The winning commit of `change` from `from`: fanned out to every connected participant,
    /// members or not, the Welcome to the joiners; the membership updated and recorded.
    fn apply_commit(
        &mut self,
        from: usize,
        committer: String,
        change: &Pending,
        commit: &[u8],
        welcome: &[u8],
    ) {
        // Under `any` the winner learns it won from the fan-out, as the losers learn they
        // lost; a designated committer merged already.
        let winner_too = self.policy == CommitterPolicy::Any;
        let proposal = match change {
            Pending::Update { proposal, .. } => proposal.clone(),
            _ => Vec::new(),
        };
        let fanout = DsMsg::Fanout {
            commit: commit.to_vec(),
            proposal,
        };
        for id in 0..self.peers.len() {
            if id != from || winner_too {
                self.send_ds(id, &fanout);
            }
        }
        let at = self.start.elapsed();
        match change {
            Pending::Add { joiners } => {
                let msg = DsMsg::Welcome {
                    welcome: welcome.to_vec(),
                };
                for (joiner, ..) in joiners {
                    if let Some(id) = self.id_of(joiner) {
                        self.send_ds(id, &msg);
                    }
                    self.members.push(joiner.clone());
                }
            }
            Pending::Remove { name: gone, .. } => {
                self.members.retain(|m| m != gone);
                if let Some(id) = self.id_of(gone) {
                    self.free_slots(id);
                }
            }
            Pending::Update { .. } => {}
        }
        for (change, requested) in change.changes() {
            self.report.committed.push(Committed {
                at,
                committer: committer.clone(),
                change,
                requested,
            });
        }
    }
}
