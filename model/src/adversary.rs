//! The server's powers over the network.
//!
//! The server is the network and the delivery service. Every message goes through it, queued per
//! recipient in the order it was sent (as a delivery service's ordered broadcast delivers it).
//! Delivering the head of a queue is what an honest server does; each interference costs one unit
//! of the server's budget: drop any queued message, deliver one out of order (reorder, delay), or
//! duplicate one to the tail of its queue (replayed later). Its forgeries ([`Forgery`]: a kick,
//! a join of its own identity, a downgrade order) cost from the same budget; each protocol says
//! whom they can target and what its members make of them.

use crate::knowledge::Pid;
use std::fmt;

/// What the server does with one queued message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NetOp {
    /// Deliver message `index` of `to`'s queue; an index above 0 is a reorder.
    Deliver { to: Dest, index: u8 },
    /// Throw message `index` of `to`'s queue away.
    Drop { to: Dest, index: u8 },
    /// Queue a copy of message `index` of `to`'s queue at its tail, to be replayed later.
    Duplicate { to: Dest, index: u8 },
}

/// A queue's owner: a participant, or the server's own inbox (where committers send commits
/// for the server to sequence).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dest {
    P(Pid),
    Server,
}

impl fmt::Display for Dest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dest::P(p) => write!(f, "{p}"),
            Dest::Server => write!(f, "Server"),
        }
    }
}

/// Something the server says that nobody said; each costs one unit of its budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Forgery {
    /// Announce that `p` left, or propose removing it, though it did not leave: a kick.
    Kick(Pid),
    /// Announce a join of, or propose adding, an identity the server controls.
    GhostJoin,
    /// Order `p` to fall back to the static key.
    Downgrade(Pid),
}

/// One move of the server: an operation on the network, or a forgery.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ServerMove {
    Net(NetOp),
    Forge(Forgery),
}

/// Whom a protocol's server can aim its forgeries at in a state.
#[derive(Clone, Copy, Debug)]
pub struct Targets {
    pub kick: crate::knowledge::Roster,
    pub ghost: bool,
    pub downgrade: crate::knowledge::Roster,
}

/// An operation that does not fit the state it was applied to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("network operation does not fit this state")]
pub struct StaleOp;

/// The server's interference budget and whether it has already disrupted delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Budget {
    pub interference_left: u8,
    /// A message was dropped or delivered out of order: no protocol can promise progress then.
    pub disrupted: bool,
}

/// Per-recipient FIFO queues: one per participant slot, then the server's inbox.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Net<M> {
    pub queues: Vec<Vec<M>>,
}

impl<M: Clone + PartialEq> Net<M> {
    /// Queues for `n` participants and the server.
    pub fn new(n: usize) -> Net<M> {
        Net {
            queues: vec![Vec::new(); n + 1],
        }
    }

    fn slot(&self, d: Dest) -> usize {
        match d {
            Dest::P(p) => p.0 as usize,
            Dest::Server => self.queues.len() - 1,
        }
    }

    pub fn queue(&self, d: Dest) -> &[M] {
        &self.queues[self.slot(d)]
    }

    pub fn send(&mut self, to: Dest, msg: M) {
        let s = self.slot(to);
        self.queues[s].push(msg);
    }

    pub fn is_empty(&self) -> bool {
        self.queues.iter().all(Vec::is_empty)
    }

    /// Every operation the server may take now, given its budget.
    pub fn ops(&self, budget: &Budget, out: &mut Vec<NetOp>) {
        for (slot, q) in self.queues.iter().enumerate() {
            let to = if slot + 1 == self.queues.len() {
                Dest::Server
            } else {
                Dest::P(Pid(slot as u8))
            };
            for i in 0..q.len() {
                // Two identical messages in one queue are one choice, not two.
                if q[..i].contains(&q[i]) {
                    continue;
                }
                let index = i as u8;
                if i == 0 {
                    out.push(NetOp::Deliver { to, index });
                }
                if budget.interference_left > 0 {
                    if i > 0 {
                        out.push(NetOp::Deliver { to, index });
                    }
                    out.push(NetOp::Drop { to, index });
                    out.push(NetOp::Duplicate { to, index });
                }
            }
        }
    }

    /// Every move the server may make now: the network operations its budget allows, then, if
    /// any budget is left, each forgery at each of `targets`.
    pub fn server_moves(&self, budget: &Budget, targets: Targets, out: &mut Vec<ServerMove>) {
        let mut ops = Vec::new();
        self.ops(budget, &mut ops);
        out.extend(ops.into_iter().map(ServerMove::Net));
        if budget.interference_left > 0 {
            out.extend(
                targets
                    .kick
                    .iter()
                    .map(|p| ServerMove::Forge(Forgery::Kick(p))),
            );
            if targets.ghost {
                out.push(ServerMove::Forge(Forgery::GhostJoin));
            }
            out.extend(
                targets
                    .downgrade
                    .iter()
                    .map(|p| ServerMove::Forge(Forgery::Downgrade(p))),
            );
        }
    }

    /// Applies `op`; returns the message to hand to its recipient, if it is a delivery.
    /// Returns Err if the op does not fit this state (a stale action).
    pub fn apply(&mut self, op: NetOp, budget: &mut Budget) -> Result<Option<(Dest, M)>, StaleOp> {
        let (to, index) = match op {
            NetOp::Deliver { to, index }
            | NetOp::Drop { to, index }
            | NetOp::Duplicate { to, index } => (to, index as usize),
        };
        let s = self.slot(to);
        if index >= self.queues[s].len() {
            return Err(StaleOp);
        }
        let interferes = !matches!(op, NetOp::Deliver { index: 0, .. });
        if interferes {
            if budget.interference_left == 0 {
                return Err(StaleOp);
            }
            budget.interference_left -= 1;
        }
        match op {
            NetOp::Deliver { .. } => {
                if index > 0 {
                    budget.disrupted = true;
                }
                Ok(Some((to, self.queues[s].remove(index))))
            }
            NetOp::Drop { .. } => {
                budget.disrupted = true;
                self.queues[s].remove(index);
                Ok(None)
            }
            NetOp::Duplicate { .. } => {
                let copy = self.queues[s][index].clone();
                self.queues[s].push(copy);
                Ok(None)
            }
        }
    }

    /// Keeps only the queued messages for which `keep(recipient, message)` holds. Models use it
    /// to take out messages whose delivery could change nothing: fewer states, same verdicts.
    pub fn retain(&mut self, keep: impl Fn(Dest, &M) -> bool) {
        let n = self.queues.len() - 1;
        for (slot, q) in self.queues.iter_mut().enumerate() {
            let to = if slot == n {
                Dest::Server
            } else {
                Dest::P(Pid(slot as u8))
            };
            q.retain(|m| keep(to, m));
        }
    }

    /// Renames participants for symmetry reduction; `f` renames inside messages.
    #[must_use]
    pub fn permute(&self, perm: &[u8], f: impl Fn(&M) -> M) -> Net<M> {
        let n = self.queues.len() - 1;
        let mut queues = vec![Vec::new(); n + 1];
        for (i, q) in self.queues.iter().enumerate() {
            let j = if i == n { n } else { perm[i] as usize };
            queues[j] = q.iter().map(&f).collect();
        }
        Net { queues }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn honest_delivery_is_free_and_in_order() {
        let mut net = Net::new(2);
        net.send(Dest::P(Pid(1)), 'a');
        net.send(Dest::P(Pid(1)), 'b');
        let mut budget = Budget {
            interference_left: 0,
            disrupted: false,
        };
        let mut ops = Vec::new();
        net.ops(&budget, &mut ops);
        assert_eq!(
            ops,
            vec![NetOp::Deliver {
                to: Dest::P(Pid(1)),
                index: 0
            }]
        );
        let got = net.apply(ops[0], &mut budget).unwrap();
        assert_eq!(got, Some((Dest::P(Pid(1)), 'a')));
        assert!(!budget.disrupted);
    }

    #[test]
    fn interference_costs_budget_and_reorder_disrupts() {
        let mut net = Net::new(1);
        net.send(Dest::P(Pid(0)), 'a');
        net.send(Dest::P(Pid(0)), 'b');
        let mut budget = Budget {
            interference_left: 1,
            disrupted: false,
        };
        let got = net
            .apply(
                NetOp::Deliver {
                    to: Dest::P(Pid(0)),
                    index: 1,
                },
                &mut budget,
            )
            .unwrap();
        assert_eq!(got, Some((Dest::P(Pid(0)), 'b')));
        assert!(budget.disrupted);
        assert_eq!(budget.interference_left, 0);
        assert!(net
            .apply(
                NetOp::Duplicate {
                    to: Dest::P(Pid(0)),
                    index: 0
                },
                &mut budget
            )
            .is_err());
    }

    #[test]
    fn duplicate_replays_without_disrupting() {
        let mut net = Net::new(1);
        net.send(Dest::Server, 'c');
        let mut budget = Budget {
            interference_left: 2,
            disrupted: false,
        };
        net.apply(
            NetOp::Duplicate {
                to: Dest::Server,
                index: 0,
            },
            &mut budget,
        )
        .unwrap();
        assert_eq!(net.queue(Dest::Server), &['c', 'c']);
        assert!(!budget.disrupted);
    }
}
