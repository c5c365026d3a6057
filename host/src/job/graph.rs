//! The job graph: how events move between the source, the operators and
//! the sink. Which subtask owns which key groups is `key_groups.rs`
//! (re-exported here, where callers have always found it).

use super::JobSpec;
pub use super::key_groups::{key_group_of, key_group_range, subtask_for_key_group};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{OperatorSpec, SinkSpec, SourceSpec};

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
