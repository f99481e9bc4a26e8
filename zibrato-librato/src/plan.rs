//! One window as Librato entries: one entry per key, whatever collides.

use std::collections::HashMap;

use tracing::warn;
use zibrato_common::RateLimiter;
use zibrato_worker::SeriesSummary;

use crate::names::Sanitizer;
use crate::payload::{Entry, entries};

/// A window's entries, each key (case-folded name and source) once, and which series
/// each entry carries.
#[derive(Debug)]
pub(crate) struct Plan {
    /// The entries, one per key.
    pub entries: Vec<Entry>,
    /// For each entry, the series (indices into the window) it carries: more than one
    /// when series were merged.
    pub owners: Vec<Vec<usize>>,
    /// Groups of entries to post in one request: every entry of a series, and of the
    /// series merged with it, so a retry never resends part of a series.
    pub groups: Vec<Vec<usize>>,
    /// Series that lost an entry to a collision: counted as rejected.
    pub collided: Vec<usize>,
}

impl Plan {
    /// Builds the entries of `series`. Where two entries share a key, counters add and
    /// summaries of one kind combine; anything else (a counter and a gauge, two
    /// percentiles) keeps the first (series are taken in the order given) and drops the
    /// later, warning (at most every `log`'s interval) with both originals.
    pub fn build(series: &[SeriesSummary], names: &mut Sanitizer, log: &mut RateLimiter) -> Plan {
        let mut plan = Plan {
            entries: Vec::new(),
            owners: Vec::new(),
            groups: Vec::new(),
            collided: Vec::new(),
        };
        let mut by_key: HashMap<(String, String), usize> = HashMap::new();
        // Union-find over series: series that share an entry go in one request.
        let mut parent: Vec<usize> = (0..series.len()).collect();
        for (index, one) in series.iter().enumerate() {
            for entry in entries(one, names) {
                match by_key.get(&entry.key()) {
                    None => {
                        by_key.insert(entry.key(), plan.entries.len());
                        plan.entries.push(entry);
                        plan.owners.push(vec![index]);
                    }
                    Some(&at) => {
                        let first = plan.owners[at][0];
                        if plan.entries[at].merge(&entry) {
                            plan.owners[at].push(index);
                            union(&mut parent, first, index);
                        } else {
                            plan.collided.push(index);
                            if let Some(suppressed) = log.check() {
                                warn!(
                                    posted_as = %entry.name,
                                    kept = %describe(&series[first]),
                                    dropped = %describe(one),
                                    suppressed,
                                    "two series are one metric at Librato (names are case-insensitive and cleaned) and cannot be combined; the second is dropped this window"
                                );
                            }
                        }
                    }
                }
            }
        }
        plan.collided.dedup();
        let mut group_of: HashMap<usize, usize> = HashMap::new();
        for (entry, owners) in plan.owners.iter().enumerate() {
            let root = find(&mut parent, owners[0]);
            let group = *group_of.entry(root).or_insert_with(|| {
                plan.groups.push(Vec::new());
                plan.groups.len() - 1
            });
            plan.groups[group].push(entry);
        }
        plan
    }
}

fn describe(series: &SeriesSummary) -> String {
    format!(
        "{:?} {} (level {}, source {})",
        series.kind, series.name, series.level, series.source
    )
}

fn find(parent: &mut [usize], mut at: usize) -> usize {
    while parent[at] != at {
        parent[at] = parent[parent[at]];
        at = parent[at];
    }
    at
}

fn union(parent: &mut [usize], a: usize, b: usize) {
    let (a, b) = (find(parent, a), find(parent, b));
    parent[b.max(a)] = a.min(b);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;
    use zibrato_worker::{Kind, Readings, Summary};

    fn series(level: &str, kind: Kind, name: &str, summary: Summary) -> SeriesSummary {
        SeriesSummary::new(
            Arc::from(level),
            kind,
            Arc::from(name),
            Arc::from("web"),
            summary,
        )
    }

    fn plan(series: &[SeriesSummary]) -> Plan {
        Plan::build(
            series,
            &mut Sanitizer::default(),
            &mut RateLimiter::new(Duration::from_secs(10)),
        )
    }

    #[test]
    fn case_and_levels_merge_counters_and_drop_what_cannot_combine() {
        let p = plan(&[
            series(
                "info",
                Kind::Counter,
                "Chk.Case",
                Summary::Counter { sum: 2 },
            ),
            series(
                "crit",
                Kind::Counter,
                "chk.case",
                Summary::Counter { sum: 3 },
            ),
            series(
                "info",
                Kind::Gauge,
                "CHK.CASE",
                Summary::Gauge(Readings::of(1.0)),
            ),
            series("info", Kind::Counter, "other", Summary::Counter { sum: 1 }),
        ]);
        assert_eq!(p.entries.len(), 2, "{p:?}");
        assert_eq!(p.entries[0].to_json(60)["value"], 5);
        assert_eq!(p.owners[0], [0, 1]);
        assert_eq!(p.collided, [2]);
        assert_eq!(p.groups, [vec![0], vec![1]]);
    }

    #[test]
    fn a_long_timer_keeps_its_percentiles_apart_from_its_name() {
        let timer = Summary::Timer {
            stats: Readings::of(1e6),
            percentiles: vec![(0.5, 1e6)],
            values: vec![],
            sketch: None,
        };
        let p = plan(&[series("info", Kind::Timer, &"t".repeat(251), timer)]);
        assert_eq!(p.entries.len(), 2);
        assert!(p.collided.is_empty());
        assert_eq!(p.groups, [vec![0, 1]]);
    }
}
