//! Check 2: every participant opened every frame sent while it was a member, outside the grace
//! window around epoch changes (and the participants' own errors).

use super::CallFacts;
use crate::results::{Check, Question};
use std::collections::HashSet;

const NAME: &str = "members open every frame sent while they are members";

pub fn judge(facts: &CallFacts) -> Check {
    let opened_by: HashSet<(&str, u64)> = facts
        .receptions()
        .filter(|r| r.opened)
        .map(|r| (r.who.as_str(), r.frame))
        .collect();
    let mut at_fault = facts.erred.clone();
    let mut missed = Vec::new();
    let (mut expected, mut unforwarded) = (0usize, 0usize);
    for (frame, sent) in &facts.frames {
        // Only frames from members are owed to the others.
        if facts.near_change(sent.at) || !facts.member_at(sent.sender, sent.at) {
            continue;
        }
        // Nor those the SFU had no slot for (it says which).
        if facts.call.sfu.unforwarded.contains(frame) {
            unforwarded += 1;
            continue;
        }
        for who in facts.joined.keys() {
            if *who == sent.sender || !facts.member_at(who, sent.at) {
                continue;
            }
            expected += 1;
            if !opened_by.contains(&(*who, *frame)) {
                at_fault.insert(who.to_string());
                missed.push(format!(
                    "{who} did not open {}'s {} frame sent at {:.2?}",
                    sent.sender,
                    sent.kind.name(),
                    sent.at
                ));
            }
        }
    }
    missed.sort();
    let not_judged = if unforwarded > 0 {
        format!(
            " ({unforwarded} frames from members not judged: the SFU had no free slot of the {} \
             for their sender)",
            facts.call.script.slots
        )
    } else {
        String::new()
    };
    let failures: Vec<String> = facts.errors.iter().chain(&missed).cloned().collect();
    let (grace_ms, changes) = (facts.grace_ms(), facts.committed.len());
    if failures.is_empty() && expected == 0 {
        return facts.unasked(
            Question::MembersRead,
            NAME,
            format!(
                "no frame was owed to a member: none sent by a member while another was one, \
                 outside the {grace_ms} ms grace window around the {changes} epoch \
                 changes{not_judged}",
            ),
        );
    }
    facts.asked_of(
        Question::MembersRead,
        NAME,
        &failures,
        format!(
            "{expected} (frame, member) pairs outside the {grace_ms} ms grace window around the \
             {changes} epoch changes: all opened{not_judged}",
        ),
        &at_fault,
    )
}
