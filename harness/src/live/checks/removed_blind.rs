//! Check 3: a removed participant, still fed by the SFU, opens nothing sent after its removal
//! (plus the grace window).

use super::CallFacts;
use crate::results::{Check, Question};
use std::collections::HashSet;

const NAME: &str = "removed participants open nothing newer";

pub fn judge(facts: &CallFacts) -> Check {
    let grace_ms = facts.grace_ms();
    let removed = facts.removed.len();
    if removed == 0 {
        return facts.unasked(
            Question::RemovedBlind,
            NAME,
            "nobody left or was kicked".into(),
        );
    }
    let mut at_fault = HashSet::new();
    let mut after_removal = Vec::new();
    let mut fed = 0usize;
    for r in facts.receptions() {
        let Some(&gone) = facts.removed.get(r.who.as_str()) else {
            continue;
        };
        if r.sent.at < gone + facts.grace {
            continue;
        }
        // Fed once: a retry is the same frame opened later.
        fed += usize::from(!r.retried);
        if r.opened {
            at_fault.insert(r.who.clone());
            after_removal.push(format!(
                "{} (removed at {gone:.2?}) opened {}'s {} frame sent at {:.2?}",
                r.who,
                r.sent.sender,
                r.sent.kind.name(),
                r.sent.at
            ));
        }
    }
    if after_removal.is_empty() && fed == 0 {
        return facts.unasked(
            Question::RemovedBlind,
            NAME,
            format!(
                "the SFU fed the {removed} removed participants no frame sent after their \
                 removal (+{grace_ms} ms)",
            ),
        );
    }
    facts.asked_of(
        Question::RemovedBlind,
        NAME,
        &after_removal,
        format!(
            "the SFU fed the {removed} removed participants {fed} frames sent after their \
             removal (+{grace_ms} ms): none opened",
        ),
        &at_fault,
    )
}
