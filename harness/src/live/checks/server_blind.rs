//! Check 1: the SFU opens nothing it carried. Nothing in its record opens under anything it
//! holds, and no canary and no member's media key occurs in it.

use super::CallFacts;
use crate::clients::sframe::Sframe;
use crate::keying::MEDIA_KEY_LEN;
use crate::live::record::{self, Carried};
use crate::results::{Check, Question};

const NAME: &str = "the SFU opens nothing it carried";

pub fn judge(facts: &CallFacts) -> Check {
    let record = &facts.call.sfu.record;
    let server = record::server_checks(record, &Sframe::new());
    let mut failures = server.canaries.clone();
    for (i, p) in record.packets.iter().enumerate() {
        let bytes = match &p.carried {
            Carried::Rtp(b) | Carried::Ds(b) => b,
        };
        if let Some(what) = bytes.windows(MEDIA_KEY_LEN).find_map(|w| facts.keys.get(w)) {
            failures.push(format!("{what} occurs in packet {i} of the SFU's record"));
        }
    }
    failures.dedup();
    failures.extend(server.decrypted.iter().cloned());
    let keys = facts.keys.len();
    if failures.is_empty() && server.frames == 0 {
        return facts.unasked(
            Question::ServerBlind,
            NAME,
            format!(
                "the SFU carried no frame: nothing to open ({} delivery-service messages \
                 recorded, no canary and no member key ({keys}) in them)",
                server.ds_messages,
            ),
        );
    }
    facts.asked(
        Question::ServerBlind,
        NAME,
        &failures,
        format!(
            "{} frames and {} delivery-service messages recorded; {} key-sized windows of what \
             the SFU was given tried as the base key of all {} epochs ({} sender-epochs); no \
             canary, no member key ({keys}) in the record",
            server.frames, server.ds_messages, server.candidate_keys, server.epochs, server.kids,
        ),
    )
}
