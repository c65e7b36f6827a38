//! The protocol registry is the one place a protocol's facts live: these tests walk it.

use e2ee_model::protocols::REGISTRY;
use e2ee_model::{Bounds, ModelError, Mutant, Protocol};
use std::collections::BTreeSet;
use std::path::Path;

/// The module files under `src/protocols/`, read now, so a new one cannot go unnoticed.
fn protocol_modules() -> BTreeSet<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/protocols");
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .map(|p| {
            p.file_stem()
                .expect("file name")
                .to_string_lossy()
                .into_owned()
        })
        .filter(|stem| stem != "mod")
        .collect()
}

#[test]
fn every_protocol_module_is_in_the_registry_and_nothing_else() {
    let modules = protocol_modules();
    assert!(!modules.is_empty(), "no protocol modules found");
    let registered: BTreeSet<String> = REGISTRY
        .iter()
        .map(|s| s.module_name().to_string())
        .collect();
    let missing: Vec<&String> = modules.difference(&registered).collect();
    assert!(
        missing.is_empty(),
        "protocol modules missing from protocols::REGISTRY: {missing:?}"
    );
    let stray: Vec<&String> = registered.difference(&modules).collect();
    assert!(
        stray.is_empty(),
        "registry entries with no module file: {stray:?}"
    );
    for spec in REGISTRY {
        assert_eq!(
            spec.module,
            format!("e2ee_model::protocols::{}", spec.module_name()),
            "{}: a spec must live in its own module under protocols",
            spec.name
        );
    }
    assert_eq!(
        REGISTRY.len(),
        modules.len(),
        "a module is registered twice"
    );
}

#[test]
fn names_are_unique_and_round_trip() {
    let names: BTreeSet<&str> = REGISTRY.iter().map(|s| s.name).collect();
    assert_eq!(names.len(), REGISTRY.len(), "duplicate protocol names");
    for spec in REGISTRY {
        let p: Protocol = spec.name.parse().expect("a registered name parses");
        assert!(
            std::ptr::eq(p.spec(), *spec),
            "{} parses to another spec",
            spec.name
        );
        assert_eq!(p.name(), spec.name);
        assert_eq!(p.to_string(), spec.name);
        assert_eq!(p.description(), spec.description);
        assert!(!spec.description.is_empty() && !spec.source.is_empty());
    }
    assert_eq!(Protocol::all().count(), REGISTRY.len());
    assert!(matches!(
        "nope".parse::<Protocol>(),
        Err(ModelError::UnknownProtocol(_))
    ));
}

#[test]
fn the_named_handles_are_registry_entries() {
    for (p, name) in [
        (Protocol::Leader, "leader"),
        (Protocol::MlsDc, "mls-dc"),
        (Protocol::MlsGateway, "mls-gateway"),
        (Protocol::OrangeDc, "orange-dc"),
        (Protocol::OrangeDcKeys, "orange-dc-keys"),
    ] {
        assert_eq!(p.name(), name);
        assert!(
            REGISTRY.iter().any(|s| std::ptr::eq(*s, p.spec())),
            "Protocol::{p:?} is not the registry's spec"
        );
        assert_eq!(name.parse::<Protocol>().unwrap(), p);
    }
}

/// A protocol missing from every mutant's list would have every mutant skipped silently; only a
/// spec that says why may have none, and one that says why has none.
#[test]
fn every_protocol_has_mutants_or_says_why_not() {
    for spec in REGISTRY {
        match spec.no_mutants_because {
            None => assert!(
                !spec.mutants.is_empty(),
                "{} applies to no mutant and does not say why",
                spec.name
            ),
            Some(why) => {
                assert!(
                    spec.mutants.is_empty(),
                    "{} lists mutants but says none apply",
                    spec.name
                );
                assert!(!why.is_empty());
            }
        }
        let unique: BTreeSet<&str> = spec.mutants.iter().map(|m| m.name()).collect();
        assert_eq!(
            unique.len(),
            spec.mutants.len(),
            "{} lists a mutant twice",
            spec.name
        );
    }
    // Today only the Orange port goes without: its lessons are mutants of the port itself.
    let without: Vec<&str> = REGISTRY
        .iter()
        .filter(|s| s.mutants.is_empty())
        .map(|s| s.name)
        .collect();
    assert_eq!(without, ["orange-dc"]);
}

#[test]
fn applies_to_is_what_the_specs_say() {
    for m in Mutant::ALL {
        let applies = m.applies_to();
        assert!(!applies.is_empty(), "{m} applies to no protocol");
        for p in Protocol::all() {
            assert_eq!(
                applies.contains(&p),
                p.spec().mutants.contains(&m),
                "{m} on {p}"
            );
        }
    }
}

/// `--protocol all` runs the symbolic models at the bounds it is given; the Orange ones, whose
/// `participants` means MaxTotalUsers, run in requests of their own.
#[test]
fn the_default_run_is_the_symbolic_models_at_any_shared_bounds() {
    let names: Vec<&str> = Protocol::default_run().iter().map(|p| p.name()).collect();
    assert_eq!(names, ["leader", "mls-dc", "mls-gateway"]);
    for p in Protocol::default_run() {
        for b in [Bounds::default(), Bounds::assurance()] {
            (p.spec().validate)(&b).unwrap_or_else(|e| panic!("{p} at {b:?}: {e}"));
        }
    }
}

#[test]
fn default_bounds_are_valid() {
    for spec in REGISTRY {
        (spec.validate)(&spec.default_bounds)
            .unwrap_or_else(|e| panic!("{}: default bounds rejected: {e}", spec.name));
    }
}
