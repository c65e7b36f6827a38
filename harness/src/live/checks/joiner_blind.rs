//! Check 4: a joiner opens nothing sent before its join (minus the grace window).

use super::CallFacts;
use crate::results::{Check, Question};
use std::collections::HashSet;

const NAME: &str = "joiners open nothing older";

pub fn judge(facts: &CallFacts) -> Check {
    let grace_ms = facts.grace_ms();
    let joiners = facts.joiners.len();
    let mut at_fault = HashSet::new();
    let mut before_join = Vec::new();
    let mut fed = 0usize;
    let mut fed_joiners: HashSet<&str> = HashSet::new();
    for r in facts.receptions() {
        let who = r.who.as_str();
        // A joiner's first epoch starts at the commit that adds it (it may process the Welcome
        // later); the call's creator starts at its own join.
        let Some(&start) = facts.added.get(who).or(facts.joined.get(who)) else {
            continue;
        };
        if r.sent.at + facts.grace > start {
            continue;
        }
        if !r.retried && facts.joiners.contains(who) {
            fed += 1;
            fed_joiners.insert(who);
        }
        if r.opened {
            at_fault.insert(r.who.clone());
            before_join.push(format!(
                "{who} (added at {start:.2?}) opened {}'s {} frame sent at {:.2?}",
                r.sent.sender,
                r.sent.kind.name(),
                r.sent.at
            ));
        }
    }
    if !before_join.is_empty() || fed > 0 {
        facts.asked_of(
            Question::JoinerBlind,
            NAME,
            &before_join,
            format!(
                "{fed} frames sent before a join (−{grace_ms} ms) reached {} of the {joiners} \
                 joiners: none opened",
                fed_joiners.len(),
            ),
            &at_fault,
        )
    } else if joiners == 0 {
        facts.unasked(
            Question::JoinerBlind,
            NAME,
            "nobody joined after the call began".into(),
        )
    } else {
        facts.unasked(
            Question::JoinerBlind,
            NAME,
            format!(
                "no frame sent before a join (−{grace_ms} ms) reached any of the {joiners} \
                 joiners"
            ),
        )
    }
}
