//! The verdicts of small made-up calls: asked or not, passed or failed.

use super::*;
use crate::keying::MEDIA_KEY_LEN;
use crate::live::script;
use crate::live::sfu::{Change, Committed, SfuReport};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `a` alone from 0; with `b`, `b` joins at 1000 and leaves at 3000.
fn outcome(with_b: bool, events: Vec<Event>) -> CallOutcome {
    let mut text = String::from(
        "committer = \"designated\"\ngrace_ms = 300\n\
         [[participant]]\nname = \"a\"\nclient = \"openmls\"\n\
         [[participant]]\nname = \"b\"\nclient = \"mls-rs\"\n\
         [[event]]\nat_ms = 0\naction = \"join\"\nparticipant = \"a\"\n",
    );
    let mut committed = Vec::new();
    if with_b {
        text += "[[event]]\nat_ms = 1000\naction = \"join\"\nparticipant = \"b\"\n\
                 [[event]]\nat_ms = 3000\naction = \"leave\"\nparticipant = \"b\"\n";
        for (at, kind) in [(1200, EventKind::Join), (3100, EventKind::Leave)] {
            committed.push(Committed {
                at: ms(at),
                committer: "a".into(),
                change: Change {
                    kind,
                    who: "b".into(),
                },
                requested: ms(at - 10),
            });
        }
    }
    let mut all = vec![
        Event::Joined {
            who: "a".into(),
            at: ms(100),
        },
        Event::Epoch {
            who: "a".into(),
            epoch: 0,
            key: vec![0; MEDIA_KEY_LEN],
            at: ms(100),
        },
    ];
    if with_b {
        all.push(Event::Joined {
            who: "b".into(),
            at: ms(1205),
        });
    }
    all.extend(events);
    CallOutcome {
        script: script::parse("t", &text, &["openmls", "mls-rs"]).unwrap(),
        events: all,
        sfu: SfuReport {
            committed,
            ..Default::default()
        },
        control: None,
        fired: Vec::new(),
    }
}

/// `a` sends frame `frame` at `sent`; `b` receives it, opened or not.
fn fed(frame: u64, sent: u64, opened: bool) -> [Event; 2] {
    [
        Event::Sent {
            who: "a".into(),
            kind: MediaKind::Audio,
            at: ms(sent),
            frame,
        },
        Event::Received {
            who: "b".into(),
            kind: MediaKind::Audio,
            at: ms(sent + 5).max(ms(1150)),
            frame,
            opened,
            retried: false,
        },
    ]
}

fn verdicts(j: &Judged) -> Vec<(Verdict, &str)> {
    j.checks
        .iter()
        .map(|c| (c.verdict, c.reason.as_str()))
        .collect()
}

#[test]
fn a_check_never_asked_is_not_applicable_and_says_why() {
    // Alone: nothing carried, nobody owed a frame, nobody removed, nobody joined.
    let j = judge(&outcome(false, Vec::new()), "t");
    let v = verdicts(&j);
    assert!(v.iter().all(|(v, _)| *v == Verdict::NotApplicable), "{v:?}");
    assert!(v[0].1.starts_with("the SFU carried no frame"), "{}", v[0].1);
    assert!(
        v[1].1.starts_with("no frame was owed to a member"),
        "{}",
        v[1].1
    );
    assert_eq!(v[2].1, "nobody left or was kicked");
    assert_eq!(v[3].1, "nobody joined after the call began");
    // b joins and leaves, fed nothing from before its join or after its removal; one
    // frame is owed to it and opened.
    let j = judge(&outcome(true, fed(1, 2000, true).into()), "t");
    let v = verdicts(&j);
    assert_eq!(v[1].0, Verdict::Pass, "{}", v[1].1);
    assert!(v[1].1.starts_with("1 (frame, member) pairs"), "{}", v[1].1);
    assert_eq!(v[2].0, Verdict::NotApplicable);
    assert_eq!(
        v[2].1,
        "the SFU fed the 1 removed participants no frame sent after their removal (+300 ms)"
    );
    assert_eq!(v[3].0, Verdict::NotApplicable);
    assert_eq!(
        v[3].1,
        "no frame sent before a join (−300 ms) reached any of the 1 joiners"
    );
}

#[test]
fn a_check_asked_passes_or_fails() {
    // b is fed a frame from before its join and one from after its removal; opens neither.
    let mut events: Vec<Event> = fed(1, 500, false).into();
    events.extend(fed(2, 2000, true));
    events.extend(fed(3, 3600, false));
    let j = judge(&outcome(true, events.clone()), "t");
    let v = verdicts(&j);
    assert_eq!(v[2].0, Verdict::Pass, "{}", v[2].1);
    assert!(v[2].1.contains(" 1 frames sent after"), "{}", v[2].1);
    assert_eq!(v[3].0, Verdict::Pass, "{}", v[3].1);
    assert_eq!(
        v[3].1,
        "1 frames sent before a join (−300 ms) reached 1 of the 1 joiners: none opened"
    );
    // Opening the old frame later (a key from history) fails check 4, naming b.
    events.push(Event::Received {
        who: "b".into(),
        kind: MediaKind::Audio,
        at: ms(1300),
        frame: 1,
        opened: true,
        retried: true,
    });
    let j = judge(&outcome(true, events), "t");
    let c = &j.checks[3];
    assert_eq!(c.verdict, Verdict::Fail);
    assert!(
        c.reason
            .starts_with("b (added at 1.20s) opened a's audio frame sent at 500"),
        "{}",
        c.reason
    );
    // Counted once: the retry is not a second frame fed.
    assert_eq!(j.tallies["b"].received, 3);
}
