//! What every protocol's state has in common: the participants as the properties see them, the
//! key ledger, and the bounds still left to spend.

use crate::adversary::Budget;
use crate::knowledge::{KeyId, Knowledge, Pid, Roster};
use std::fmt;

/// Where a participant is in the call, in its own view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    /// Not in the call; may ask to join (once).
    Outside,
    /// Asked to join; waiting for its key.
    Joining,
    /// Holds the call's key.
    Member,
    /// Left, or saw itself removed. Keeps every key it learned and keeps listening.
    Gone,
}

/// One participant's state as the properties read it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Part {
    pub status: Status,
    /// Order of arrival, given by the server when it asked to join (initial members: 0, 1, ...).
    pub seq: u8,
    /// Epoch of the key it uses for media, and that key, and the roster it shows for it.
    pub epoch: u8,
    pub key: Option<KeyId>,
    pub roster: Roster,
    /// History the properties need: the first epoch whose roster had it, and the last epoch
    /// before an honest member installed a roster without it.
    pub joined_at: Option<u8>,
    pub removed_at: Option<u8>,
}

impl fmt::Debug for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}#{} e{} ", self.status, self.seq, self.epoch)?;
        match self.key {
            Some(k) => write!(f, "{k} {:?}", self.roster)?,
            None => write!(f, "-")?,
        }
        if let Some(a) = self.joined_at {
            write!(f, " joined@{a}")?;
        }
        if let Some(r) = self.removed_at {
            write!(f, " removed@{r}")?;
        }
        Ok(())
    }
}

/// The shared skeleton of every model's state.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Call {
    pub parts: Vec<Part>,
    pub knowledge: Knowledge,
    pub budget: Budget,
    /// Joins and leaves participants may still make.
    pub changes_left: u8,
    /// Next arrival number the server hands out.
    pub next_seq: u8,
}

impl Call {
    /// `n` participants; the first `initial` are members of epoch 1 under one key that the first
    /// of them made and wrapped to the others.
    pub fn new(n: usize, initial: usize, max_changes: u8, max_interference: u8) -> Call {
        let mut knowledge = Knowledge::new(n);
        let roster = Roster::of(&(0..initial as u8).map(Pid).collect::<Vec<_>>());
        let mut parts = Vec::with_capacity(n);
        let key = if initial > 0 {
            let k = knowledge
                .fresh(1, crate::knowledge::Agent::Participant(Pid(0)), None)
                .expect("first key fits");
            knowledge.send(k, crate::knowledge::Wrap::To(roster));
            knowledge.installed(k, 1, roster);
            Some(k)
        } else {
            None
        };
        for i in 0..n {
            let member = i < initial;
            parts.push(Part {
                status: if member {
                    Status::Member
                } else {
                    Status::Outside
                },
                seq: if member { i as u8 } else { u8::MAX },
                epoch: if member { 1 } else { 0 },
                key: if member { key } else { None },
                roster: if member { roster } else { Roster::EMPTY },
                joined_at: if member { Some(1) } else { None },
                removed_at: None,
            });
        }
        Call {
            parts,
            knowledge,
            budget: Budget {
                interference_left: max_interference,
                disrupted: false,
            },
            changes_left: max_changes,
            next_seq: initial as u8,
        }
    }

    /// The call at the start of a run within `b`.
    pub fn from_bounds(b: &crate::Bounds) -> Call {
        Call::new(
            b.participants as usize,
            b.initial_members as usize,
            b.max_changes,
            b.max_interference,
        )
    }

    /// The joins (true) and leaves (false) participants may make now.
    pub fn open_changes(&self) -> impl Iterator<Item = (Pid, bool)> + '_ {
        self.pids()
            .filter(|_| self.changes_left > 0)
            .filter_map(|p| match self.part(p).status {
                Status::Outside => Some((p, true)),
                Status::Member => Some((p, false)),
                _ => None,
            })
    }

    /// The server spends one unit of its interference budget (a forgery).
    pub fn spend_interference(&mut self) {
        self.budget.interference_left -= 1;
    }

    pub fn part(&self, p: Pid) -> &Part {
        &self.parts[p.0 as usize]
    }

    pub fn part_mut(&mut self, p: Pid) -> &mut Part {
        &mut self.parts[p.0 as usize]
    }

    pub fn pids(&self) -> impl Iterator<Item = Pid> {
        (0..self.parts.len() as u8).map(Pid)
    }

    /// Participants whose own status is `status`.
    pub fn with_status(&self, status: Status) -> Roster {
        self.pids()
            .filter(|p| self.part(*p).status == status)
            .fold(Roster::EMPTY, Roster::with)
    }

    /// `p` asks the server to join: it gets the next arrival number.
    pub fn arrive(&mut self, p: Pid) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.changes_left -= 1;
        let part = self.part_mut(p);
        part.status = Status::Joining;
        part.seq = seq;
    }

    /// `p` leaves on its own.
    pub fn leave(&mut self, p: Pid) {
        self.changes_left -= 1;
        self.part_mut(p).status = Status::Gone;
    }

    /// Honest `p` starts using `key` for `epoch` with `roster` on its screen. Records who joined
    /// and who was removed by that roster, for the properties — unless `p` no longer speaks for
    /// the call (an honest roster dropped it, or the server no longer carries it): a kicked
    /// participant that does not know it yet may install keys, but they are nobody's media keys.
    pub fn install(&mut self, p: Pid, epoch: u8, key: KeyId, roster: Roster, carried: bool) {
        let counts = carried && self.part(p).removed_at.is_none();
        {
            let part = self.part_mut(p);
            part.epoch = epoch;
            part.key = Some(key);
            part.roster = roster;
            if part.status == Status::Joining {
                part.status = Status::Member;
            }
        }
        if !counts {
            return;
        }
        self.knowledge.installed(key, epoch, roster);
        for q in self.pids().collect::<Vec<_>>() {
            let part = self.part_mut(q);
            if roster.contains(q) {
                if part.joined_at.is_none() {
                    part.joined_at = Some(epoch);
                }
            } else if let Some(joined) = part.joined_at {
                if joined < epoch {
                    let last = epoch - 1;
                    part.removed_at = Some(part.removed_at.map_or(last, |r| r.min(last)));
                }
            }
        }
    }

    /// Honest `p` saw the commit that removes it: it stops taking part, but keeps listening.
    pub fn saw_own_removal(&mut self, p: Pid) {
        self.part_mut(p).status = Status::Gone;
    }

    /// Highest epoch any honest participant is in.
    pub fn max_epoch(&self) -> u8 {
        self.parts.iter().map(|p| p.epoch).max().unwrap_or(0)
    }

    /// A permutation of participant slots that sorts them by what is not a reference to another
    /// participant; `perm[old] = new`. Symmetry reduction renames by it.
    pub fn canonical_perm(&self) -> Vec<u8> {
        let mut order: Vec<usize> = (0..self.parts.len()).collect();
        order.sort_by_key(|&i| {
            let p = &self.parts[i];
            (
                p.status,
                p.seq,
                p.epoch,
                p.key,
                p.joined_at,
                p.removed_at,
                self.knowledge.known_by[i],
            )
        });
        let mut perm = vec![0u8; order.len()];
        for (new, &old) in order.iter().enumerate() {
            perm[old] = new as u8;
        }
        perm
    }

    /// This call with participant `i` renamed `perm[i]`.
    #[must_use]
    pub fn permute(&self, perm: &[u8]) -> Call {
        let mut parts = self.parts.clone();
        for (i, part) in self.parts.iter().enumerate() {
            parts[perm[i] as usize] = Part {
                roster: part.roster.permute(perm),
                ..*part
            };
        }
        Call {
            parts,
            knowledge: self.knowledge.permute(perm),
            ..self.clone()
        }
    }
}
