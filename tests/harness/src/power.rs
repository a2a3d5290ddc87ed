//! The power-tuning table of `make bench` (docs/performance.md "The memory each function gets"): for each function at
//! each memory size, under that size's CPU share, what a request costs in time and money, and
//! the size the stated rule picks.

use std::time::Duration;

use crate::cgroup;
use crate::cold_start::{Figures, ms, quantile};

/// Lambda's arm64 price in us-east-1 (USD): per GB-second of billed duration, and per million
/// requests. The China regions bill in CNY at their own rates; the ratios between sizes hold.
pub const PRICE_PER_GB_SECOND: f64 = 0.000_013_333_4;
pub const PRICE_PER_MILLION_REQUESTS: f64 = 0.20;

/// The rule that picks a function's memory: the cheapest size per million warm requests whose
/// warm p99 is within [`P99_SLACK`] of the best size's (plus [`P99_FLOOR_MS`]) and whose cold
/// total is within [`COLD_SLACK_MS`] of the best size's.
pub const RULE: &str = "the cheapest size per million warm requests whose warm p99 is at most \
    1.25x the best size's + 1 ms and whose cold total is at most the best size's + 250 ms";
const P99_SLACK: f64 = 1.25;
const P99_FLOOR_MS: f64 = 1.0;
const COLD_SLACK_MS: f64 = 250.0;

/// Lambda bills duration rounded up to the millisecond.
pub fn billed_ms(d: Duration) -> u64 {
    (ms(d).ceil() as u64).max(1)
}

/// USD per million requests of `billed_ms` each at `memory_mb`.
pub fn cost_per_million(memory_mb: u32, billed_ms: u64) -> f64 {
    let gb_seconds = f64::from(memory_mb) / 1024.0 * billed_ms as f64 / 1000.0;
    1e6 * gb_seconds * PRICE_PER_GB_SECOND + PRICE_PER_MILLION_REQUESTS
}

/// One subject at one size, as the table prints it.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub name: String,
    pub memory_mb: u32,
    pub init_ms: f64,
    pub cold_ms: f64,
    pub warm_p50_ms: f64,
    pub warm_p99_ms: f64,
    /// Warm p50 less the time spent waiting on upstreams.
    pub own_p50_ms: f64,
    pub warm_cpu_ms: f64,
    pub billed_ms: u64,
    pub cost: f64,
}

impl Row {
    pub fn of(f: &Figures, memory_mb: u32) -> Self {
        let med = |xs: &[Duration]| ms(quantile(xs, 0.5));
        let warm_p50 = quantile(&f.warm, 0.5);
        let billed = billed_ms(warm_p50);
        Self {
            name: f.name.clone(),
            memory_mb,
            init_ms: med(&f.init),
            cold_ms: med(&f.cold()),
            warm_p50_ms: ms(warm_p50),
            warm_p99_ms: ms(quantile(&f.warm, 0.99)),
            own_p50_ms: med(&f.own),
            warm_cpu_ms: med(&f.warm_cpu),
            billed_ms: billed,
            cost: cost_per_million(memory_mb, billed),
        }
    }
}

/// The size [`RULE`] picks among one subject's rows.
pub fn choose(rows: &[&Row]) -> Option<u32> {
    let best_p99 = rows
        .iter()
        .map(|r| r.warm_p99_ms)
        .fold(f64::INFINITY, f64::min);
    let best_cold = rows.iter().map(|r| r.cold_ms).fold(f64::INFINITY, f64::min);
    rows.iter()
        .filter(|r| r.warm_p99_ms <= best_p99 * P99_SLACK + P99_FLOOR_MS)
        .filter(|r| r.cold_ms <= best_cold + COLD_SLACK_MS)
        .min_by(|a, b| {
            a.cost
                .total_cmp(&b.cost)
                .then(a.memory_mb.cmp(&b.memory_mb))
        })
        .map(|r| r.memory_mb)
}

/// Prints the table, by subject then size, the ratios the performance issue asks for, and
/// each function's chosen size.
pub fn print(rows: &[Row]) {
    println!(
        "\npower tuning: each subject under each memory size's CPU share (memory / 1,769 MB of a CPU),"
    );
    println!(
        "every upstream over TLS and a round trip away; medians (warm: p50 and p99 over all rounds)."
    );
    println!(
        "own = warm p50 less the time spent waiting on upstreams; billed = warm p50 rounded up;"
    );
    println!(
        "cost = USD per million warm requests at ${PRICE_PER_GB_SECOND}/GB-s + ${PRICE_PER_MILLION_REQUESTS}/million (arm64, us-east-1)"
    );
    println!(
        "{:<17} {:>6} {:>5} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7} {:>8}",
        "subject",
        "MB",
        "vCPU",
        "init",
        "cold",
        "warm p50",
        "warm p99",
        "own p50",
        "CPU",
        "billed",
        "$/1M"
    );
    let mut names: Vec<&str> = Vec::new();
    for r in rows {
        if !names.contains(&r.name.as_str()) {
            names.push(&r.name);
        }
    }
    for name in &names {
        for r in rows.iter().filter(|r| &r.name == name) {
            println!(
                "{:<17} {:>6} {:>5.3} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>7} {:>8.3}",
                r.name,
                r.memory_mb,
                cgroup::vcpu(r.memory_mb),
                r.init_ms,
                r.cold_ms,
                r.warm_p50_ms,
                r.warm_p99_ms,
                r.own_p50_ms,
                r.warm_cpu_ms,
                r.billed_ms,
                r.cost
            );
        }
    }
    let at = |name: &str, mb: u32| rows.iter().find(|r| r.name == name && r.memory_mb == mb);
    let sizes: Vec<u32> = {
        let mut s: Vec<u32> = rows.iter().map(|r| r.memory_mb).collect();
        s.sort_unstable();
        s.dedup();
        s
    };
    println!("\nratios per size:");
    for &mb in &sizes {
        if let (Some(rust), Some(py)) = (at("verify-result", mb), at("python-peer", mb)) {
            println!(
                "  {mb:>5} MB  verify-result / Python peer: own p50 {:.3}x, cold total {:.3}x",
                rust.own_p50_ms / py.own_p50_ms.max(f64::MIN_POSITIVE),
                rust.cold_ms / py.cold_ms.max(f64::MIN_POSITIVE)
            );
        }
        if let Some(floor) = at("cold-start-floor", mb) {
            let worst = rows
                .iter()
                .filter(|r| r.memory_mb == mb && r.name != "python-peer" && r.name != floor.name)
                .map(|r| (r.init_ms / floor.init_ms.max(f64::MIN_POSITIVE), &r.name))
                .max_by(|a, b| a.0.total_cmp(&b.0));
            if let Some((ratio, name)) = worst {
                println!("  {mb:>5} MB  highest init / floor's init: {ratio:.2}x ({name})");
            }
        }
    }
    println!("\nchosen memory ({RULE}):");
    for name in names
        .iter()
        .filter(|n| **n != "python-peer" && **n != "cold-start-floor")
    {
        let mine: Vec<&Row> = rows.iter().filter(|r| &r.name == name).collect();
        if let Some(mb) = choose(&mine) {
            println!("  {name:<17} {mb} MB");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(mb: u32, p99: f64, cold: f64, billed: u64) -> Row {
        Row {
            name: "f".into(),
            memory_mb: mb,
            init_ms: 0.0,
            cold_ms: cold,
            warm_p50_ms: 0.0,
            warm_p99_ms: p99,
            own_p50_ms: 0.0,
            warm_cpu_ms: 0.0,
            billed_ms: billed,
            cost: cost_per_million(mb, billed),
        }
    }

    #[test]
    fn cost_is_gb_seconds_at_the_price_plus_the_request_charge() {
        // 1 GB for 1 s, a million times: 1e6 GB-s.
        let c = cost_per_million(1024, 1000);
        assert!((c - (1e6 * PRICE_PER_GB_SECOND + 0.20)).abs() < 1e-9);
        assert_eq!(billed_ms(Duration::from_micros(20_100)), 21);
        assert_eq!(billed_ms(Duration::ZERO), 1);
    }

    #[test]
    fn the_rule_takes_the_cheapest_size_within_the_latency_bounds() {
        let rows = [
            row(128, 200.0, 900.0, 40),
            row(256, 40.0, 300.0, 35),
            row(512, 36.0, 150.0, 34),
            row(1024, 35.0, 100.0, 34),
        ];
        let refs: Vec<&Row> = rows.iter().collect();
        // 128 MB is cheapest but too slow at p99; 256 MB is within both bounds.
        assert_eq!(choose(&refs), Some(256));
        let slow_cold = [row(256, 40.0, 400.0, 35), row(512, 36.0, 100.0, 34)];
        assert_eq!(choose(&slow_cold.iter().collect::<Vec<_>>()), Some(512));
    }
}
