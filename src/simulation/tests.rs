//! The seeds: a fixed set in every `cargo test`, a sweep of thousands in
//! CI, one replayed with its trace on demand:
//!
//! ```text
//! REACTOR_HUB_SIM_SEED=N cargo test --lib simulation::tests::replay -- --nocapture
//! ```

use std::time::Instant;

use super::{run, Fault, Report};

/// The command that replays `seed`, printed with every failure.
fn replay_command(seed: u64) -> String {
    format!("REACTOR_HUB_SIM_SEED={seed} cargo test --lib simulation::tests::replay -- --nocapture")
}

/// Runs `seed`; panics with its options, what went wrong, and how to
/// replay it.
fn check(seed: u64) -> Report {
    let report = run(seed, false);
    if !report.violations.is_empty() {
        let violations: Vec<String> = report
            .violations
            .iter()
            .map(|v| format!("violation: {v}"))
            .collect();
        panic!(
            "{}\n{}\nreplay: {}",
            report.options,
            violations.join("\n"),
            replay_command(seed)
        );
    }
    report
}

fn check_seeds(seeds: std::ops::Range<u64>) {
    for seed in seeds {
        check(seed);
    }
}

// 200 seeds in four tests, so that they share the machine's cores.
#[test]
fn seeds_0_to_49_give_no_wrong_answer() {
    check_seeds(0..50);
}

#[test]
fn seeds_50_to_99_give_no_wrong_answer() {
    check_seeds(50..100);
}

#[test]
fn seeds_100_to_149_give_no_wrong_answer() {
    check_seeds(100..150);
}

#[test]
fn seeds_150_to_199_give_no_wrong_answer() {
    check_seeds(150..200);
}

#[test]
fn a_seed_replays_its_run_bit_for_bit() {
    let first = run(7, false);
    let again = run(7, false);
    assert_eq!(first.fingerprint, again.fingerprint);
    assert_eq!(first.simulated, again.simulated);
    assert_ne!(first.fingerprint, run(8, false).fingerprint);
}

/// `REACTOR_HUB_SIM_SEED=N`: one seed, every step printed.
#[test]
fn replay() {
    let seed = std::env::var("REACTOR_HUB_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let report = run(seed, true);
    println!("{}", report.options);
    println!("{:?}", report);
    assert!(report.violations.is_empty(), "{:?}", report.violations);
}

/// `REACTOR_HUB_SIM_SEEDS=FROM..TO` (default 0..5000), in release: the
/// figures docs/cluster.md gives.
#[test]
#[ignore]
fn sweep() {
    let range = std::env::var("REACTOR_HUB_SIM_SEEDS").unwrap_or("0..5000".into());
    let (from, to) = range.split_once("..").expect("FROM..TO");
    let (from, to): (u64, u64) = (from.parse().unwrap(), to.parse().unwrap());
    let started = Instant::now();
    let mut faults = [0usize; 5];
    // What people saw in the runs with one fault (or none), by fault.
    let mut alone = [[0u64; 5]; 6];
    let (mut simulated, mut counts) = (std::time::Duration::ZERO, (0u64, 0u64, 0u64));
    let mut liveness = Vec::new();
    for seed in from..to {
        let report = check(seed);
        let kind = |fault: Fault| match fault {
            Fault::BrokerCrash => 0,
            Fault::BrokerStall => 1,
            Fault::LinkCut(_) => 2,
            Fault::NodeCrash(_) => 3,
            Fault::NodeStall(_) => 4,
        };
        for strike in &report.options.strikes {
            faults[kind(strike.fault)] += 1;
        }
        let row = match &report.options.strikes[..] {
            [] => Some(5),
            [one] => Some(kind(one.fault)),
            _ => None,
        };
        if let Some(row) = row {
            let seen = &mut alone[row];
            seen[0] += 1;
            seen[1] += u64::from(report.counts.0);
            seen[2] += u64::from(report.counts.1);
            seen[3] += u64::from(report.not_confirmed);
            seen[4] += u64::from(report.log_in_again);
        }
        simulated += report.simulated;
        counts.0 += u64::from(report.counts.0);
        counts.1 += u64::from(report.counts.1);
        counts.2 += u64::from(report.counts.2);
        liveness.extend(report.pairs.iter().map(|took| (*took, seed)));
    }
    let took = started.elapsed();
    let seeds = to - from;
    println!(
        "{seeds} seeds in {took:.1?} ({:.0} seeds a minute), {:.0} simulated minutes",
        seeds as f64 / took.as_secs_f64() * 60.0,
        simulated.as_secs_f64() / 60.0
    );
    println!(
        "faults: {} broker crashes, {} broker stalls, {} link cuts, {} node crashes, {} node stalls",
        faults[0], faults[1], faults[2], faults[3], faults[4]
    );
    println!("seeds with one fault: runs, messages answered Success, destination offline!, not confirmed, please log in again");
    let names = [
        "broker crash",
        "broker stall",
        "link cut",
        "node crash",
        "node stall",
        "no fault",
    ];
    for (name, seen) in names.iter().zip(alone) {
        println!("  {name}: {seen:?}");
    }
    liveness.sort();
    let at = |share: f64| liveness[((liveness.len() - 1) as f64 * share) as usize].0;
    println!(
        "messages: {} answered Success, {} destination offline!, {} shown",
        counts.0, counts.1, counts.2
    );
    println!(
        "once every fault healed, each pair of people chatted within {:.1?} (median), {:.1?} (99th percentile), {:.1?} (slowest, seed {})",
        at(0.5),
        at(0.99),
        at(1.0),
        liveness[liveness.len() - 1].1
    );
}
