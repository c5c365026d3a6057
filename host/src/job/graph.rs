//! The job graph: how events move between the source, the operators and
//! the sink, and which subtask owns which key groups.
//!
//! Keys are hashed into `max_parallelism` key groups by the host alone
//! (guests only receive the result), and each subtask of a keyed operator
//! owns a contiguous range of key groups. The formulas are Flink's
//! (`KeyGroupRangeAssignment`), so rescaling a job is a re-assignment of
//! ranges. They must never change: checkpointed state is tagged by key group.

use std::ops::Range;

use super::JobSpec;

/// How the events of one stage reach the subtasks of the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edge {
    /// Subtask `i` feeds subtask `i` (same parallelism, unkeyed).
    Forward,
    /// Batches go round-robin to every downstream subtask (unkeyed,
    /// different parallelism).
    Rebalance,
    /// Each event goes to the subtask owning its key's key group.
    KeyBy,
}

/// One operator as the executor sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vertex {
    pub name: String,
    pub parallelism: u32,
    /// How this operator's input arrives from the stage before it.
    pub input: Edge,
}

/// The physical shape of a job: the source (always one subtask), then each
/// operator with its input edge. The sink is chained to the last operator's
/// subtasks, one sink writer per subtask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobGraph {
    pub vertices: Vec<Vertex>,
    pub max_parallelism: u32,
}

/// Parallelism of the source stage.
pub const SOURCE_PARALLELISM: u32 = 1;

impl JobGraph {
    pub fn from_spec(spec: &JobSpec) -> Self {
        let mut upstream = SOURCE_PARALLELISM;
        let vertices = spec
            .operators
            .iter()
            .map(|op| {
                let input = if op.key_by {
                    Edge::KeyBy
                } else if op.parallelism == upstream {
                    Edge::Forward
                } else {
                    Edge::Rebalance
                };
                upstream = op.parallelism;
                Vertex { name: op.name.clone(), parallelism: op.parallelism, input }
            })
            .collect();
        JobGraph { vertices, max_parallelism: spec.execution.max_parallelism }
    }
}

/// The key group of `key`: XXH3-64 (seed 0) of the key bytes, modulo
/// `max_parallelism`.
#[inline]
pub fn key_group_of(key: &[u8], max_parallelism: u32) -> u16 {
    (xxhash_rust::xxh3::xxh3_64(key) % u64::from(max_parallelism)) as u16
}

/// The subtask (of `parallelism`) that owns `key_group`.
#[inline]
pub fn subtask_for_key_group(key_group: u16, parallelism: u32, max_parallelism: u32) -> u32 {
    // At most 32767 * 32768: no overflow.
    u32::from(key_group) * parallelism / max_parallelism
}

/// The key groups owned by `subtask` (of `parallelism`): a contiguous,
/// possibly empty range; the ranges of all subtasks partition
/// `0..max_parallelism`.
pub fn key_group_range(subtask: u32, parallelism: u32, max_parallelism: u32) -> Range<u16> {
    let (subtask, parallelism, max) = (u64::from(subtask), u64::from(parallelism), u64::from(max_parallelism));
    let start = (subtask * max).div_ceil(parallelism);
    let end = ((subtask + 1) * max - 1) / parallelism + 1;
    start as u16..end.max(start) as u16
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{OperatorSpec, SinkSpec, SourceSpec};

    #[test]
    fn ranges_partition_the_key_groups_and_agree_with_the_owner() {
        for max in [1u32, 7, 128, 1000] {
            for parallelism in 1..=max.min(40) {
                let mut next = 0u16;
                for subtask in 0..parallelism {
                    let range = key_group_range(subtask, parallelism, max);
                    assert_eq!(range.start, next, "max {max} p {parallelism} subtask {subtask}");
                    for kg in range.clone() {
                        assert_eq!(subtask_for_key_group(kg, parallelism, max), subtask);
                    }
                    next = range.end;
                }
                assert_eq!(u32::from(next), max);
            }
        }
    }

    #[test]
    fn key_groups_are_stable() {
        // Checkpoints depend on these never changing.
        assert_eq!(key_group_of(b"", 128), (0x2D06800538D394C2u64 % 128) as u16);
        assert_eq!(key_group_of(b"hello", 128), key_group_of(b"hello", 128));
        let spread: std::collections::HashSet<u16> =
            (0..1000).map(|i| key_group_of(format!("key-{i}").as_bytes(), 128)).collect();
        assert!(spread.len() > 100, "keys cluster in {} key groups", spread.len());
    }

    #[test]
    fn edges_follow_key_by_and_parallelism() {
        let spec = JobSpec::new("j", SourceSpec::lines("x"), SinkSpec::Discard)
            .operator(OperatorSpec::new("a", "a.wasm"))
            .operator(OperatorSpec::new("b", "b.wasm").parallelism(3))
            .operator(OperatorSpec::new("c", "c.wasm").parallelism(3))
            .operator(OperatorSpec::new("d", "d.wasm").parallelism(3).key_by(true));
        let graph = JobGraph::from_spec(&spec);
        let edges: Vec<Edge> = graph.vertices.iter().map(|v| v.input).collect();
        assert_eq!(edges, [Edge::Forward, Edge::Rebalance, Edge::Forward, Edge::KeyBy]);
    }
}
