//! Live calls over real WebRTC on loopback.

use e2ee_harness::live::call::{self, Event};
use e2ee_harness::live::script;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smoke() {
    let s = script::parse("default", script::DEFAULT, &["openmls", "mls-rs"]).unwrap();
    let out = call::run(s, "127.0.0.1:0".parse().unwrap(), None, 1)
        .await
        .unwrap();
    let mut sent = std::collections::BTreeMap::<String, usize>::new();
    let mut recv = std::collections::BTreeMap::<String, (usize, usize)>::new();
    for e in &out.events {
        match e {
            Event::Sent { who, .. } => *sent.entry(who.clone()).or_default() += 1,
            Event::Received { who, opened, .. } => {
                let r = recv.entry(who.clone()).or_default();
                r.0 += 1;
                r.1 += usize::from(*opened);
            }
            Event::Error { who, what } => println!("error {who}: {what}"),
            Event::Joined { who, at } => println!("joined {who} at {at:?}"),
            Event::Epoch { who, epoch, at, .. } => println!("epoch {who} {epoch} at {at:?}"),
        }
    }
    println!("sent {sent:?}\nreceived (all, opened) {recv:?}");
    println!("committed {:?}", out.sfu.committed);
    println!(
        "record {} packets, forwarded {} errors {}",
        out.sfu.record.packets.len(),
        out.sfu.forwarded,
        out.sfu.forward_errors
    );
}
