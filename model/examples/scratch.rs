use e2ee_model::*;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mut o = CheckOptions::new(args[1].parse().unwrap());
    o.bounds.participants = args[2].parse().unwrap();
    o.bounds.max_changes = args[3].parse().unwrap();
    o.bounds.max_interference = args[4].parse().unwrap();
    if args.len() > 5 && args[5] != "-" {
        o.mutant = Some(args[5].parse().unwrap());
    }
    if args.len() > 6 {
        o.symmetry = true;
        o.strategy = if args[6] == "dfs" {
            Strategy::Dfs
        } else {
            Strategy::Bfs
        };
    }
    let out = check(&o, &mut |_| {}).unwrap();
    println!(
        "states {} unique {} depth {} {:?}",
        out.state_count, out.unique_state_count, out.max_depth, out.elapsed
    );
    for p in &out.properties {
        println!(
            "{:45} {}",
            p.name,
            if p.holds { "ok" } else { "VIOLATED/none" }
        );
        if let (false, Some(t)) = (p.holds, &p.trace) {
            if p.kind == properties::Kind::Always {
                print!("{}", t.to_words());
            }
        }
    }
}
