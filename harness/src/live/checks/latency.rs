//! Rotation latency: from a membership change's script event (and from its request reaching
//! the SFU) to the last member on the epoch its commit made.

use super::CallFacts;
use crate::live::script::EventKind;
use std::time::Duration;

/// One membership change's rotation latency.
#[derive(Clone, Debug)]
pub struct Latency {
    /// "join p007", "leave p003", ...
    pub change: String,
    /// From the script's event (a join includes connecting: ICE, DTLS, the data channel).
    pub from_event: Option<Duration>,
    /// From the request reaching the SFU (the delivery service's part: commit, fan-out, apply).
    pub from_request: Option<Duration>,
}

/// Per committed change that made an epoch and whose script event fired, in commit order.
pub fn latencies(facts: &CallFacts) -> Vec<Latency> {
    let mut latencies = Vec::new();
    for effective in &facts.committed {
        let c = effective.committed;
        let (kind, who) = (c.change.kind, c.change.who.as_str());
        let fired = facts
            .call
            .fired
            .iter()
            .find(|(_, k, p)| *k == kind && p == who);
        let (Some(&(fired, ..)), Some(epoch)) = (fired, effective.epoch) else {
            continue;
        };
        let members_after = facts
            .joined
            .iter()
            .filter(|(m, _)| facts.removed.get(*m).is_none_or(|&r| r > c.at))
            .filter(|&(m, &j)| j <= c.at || (kind == EventKind::Join && *m == who))
            .map(|(m, _)| *m);
        // The last of them to reach the epoch; None if one never did.
        let mut last = Some(Duration::ZERO);
        for m in members_after {
            let reached = facts
                .epochs
                .get(m)
                .and_then(|es| es.iter().find_map(|&(ep, at)| (ep >= epoch).then_some(at)));
            last = last.zip(reached).map(|(l, r)| l.max(r));
        }
        latencies.push(Latency {
            change: c.change.to_string(),
            from_event: last.map(|l| l.saturating_sub(fired)),
            from_request: last.map(|l| l.saturating_sub(c.requested)),
        });
    }
    latencies
}
