//! The job graph: which node reads which output, and how the events of
//! each edge reach the subtasks of the node it feeds. [`JobGraph::resolve`]
//! turns the names of a [`JobSpec`] into indices and refuses a graph that
//! cannot run (an unknown input, a cycle, an output nobody reads...), naming
//! the node and the field. Which subtask owns which key groups is
//! `key_groups.rs` (re-exported here, where callers have always found it).

use std::collections::HashMap;

pub use super::key_groups::{key_group_of, key_group_range, subtask_for_key_group};
use super::{JobSpec, SinkSpec};
use crate::error::{Error, Result};

/// How the events of one edge reach the subtasks of the node it feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edge {
    /// Subtask `i` feeds subtask `i` (same parallelism, unkeyed).
    Forward,
    /// Batches go round-robin to every downstream subtask (unkeyed,
    /// different parallelism).
    Rebalance,
    /// Each event goes to the subtask owning its key's key group.
    KeyBy,
    /// Every event goes to every downstream subtask (`broadcast`).
    Broadcast,
}

impl Edge {
    pub fn name(self) -> &'static str {
        match self {
            Edge::Forward => "forward",
            Edge::Rebalance => "rebalance",
            Edge::KeyBy => "key-by",
            Edge::Broadcast => "broadcast",
        }
    }
}

/// A node that produces events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Producer {
    /// Index into [`JobGraph::sources`].
    Source(usize),
    /// Index into [`JobGraph::operators`].
    Operator(usize),
}

/// One output of a node: the main one, or a declared side output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Output {
    pub producer: Producer,
    /// `None`: the main output; `Some(i)`: the operator's side output `i`.
    pub side: Option<u16>,
}

/// One input of an operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// As the job names it (`node` or `op.SIDE`); the guest sees it too.
    pub name: String,
    pub from: Output,
    pub edge: Edge,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceVertex {
    pub name: String,
    pub parallelism: u32,
}

/// One operator as the executor sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vertex {
    pub name: String,
    pub parallelism: u32,
    pub key_by: bool,
    /// Input 0 first.
    pub inputs: Vec<Input>,
    pub side_outputs: Vec<String>,
}

/// A sink: one writer per subtask of each producer it reads, chained to
/// that subtask (no channel in between).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkVertex {
    pub name: String,
    pub inputs: Vec<(String, Output)>,
}

/// The resolved shape of a job, in the order of its [`JobSpec`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobGraph {
    pub sources: Vec<SourceVertex>,
    /// The operators.
    pub vertices: Vec<Vertex>,
    pub sinks: Vec<SinkVertex>,
    pub max_parallelism: u32,
}

impl JobGraph {
    /// Resolves `spec`'s wiring; an error names the node and the field.
    pub fn resolve(spec: &JobSpec) -> Result<Self> {
        let mut names: HashMap<&str, Producer> = HashMap::new();
        let taken = |name: &str, field: String| -> Result<()> {
            if name.trim().is_empty() {
                return Err(Error::invalid(field, "must not be empty"));
            }
            if name.contains('.') {
                return Err(Error::invalid(
                    field,
                    format!("'{name}': a node name may not contain '.' (it names side outputs: op.NAME)"),
                ));
            }
            Ok(())
        };
        for (index, source) in spec.sources.iter().enumerate() {
            taken(&source.name, format!("sources[{index}].name"))?;
            if names.insert(&source.name, Producer::Source(index)).is_some() {
                return Err(Error::invalid(
                    format!("sources[{index}].name"),
                    format!("'{}' is used twice", source.name),
                ));
            }
        }
        for (index, op) in spec.operators.iter().enumerate() {
            taken(&op.name, format!("operators[{index}].name"))?;
            if names.insert(&op.name, Producer::Operator(index)).is_some() {
                return Err(Error::invalid(
                    format!("operators[{index}].name"),
                    format!("'{}' is used twice (names are unique across sources, operators and sinks)", op.name),
                ));
            }
            let mut sides = std::collections::HashSet::new();
            for side in &op.side_outputs {
                if side.is_empty() || side.contains('.') || !sides.insert(side.as_str()) {
                    return Err(Error::invalid(
                        format!("operators[{index}].side_outputs"),
                        format!("operator '{}': '{side}' is empty, contains '.' or is listed twice", op.name),
                    ));
                }
            }
        }
        if spec.sources.is_empty() {
            return Err(Error::invalid("sources", "a job needs a source ([source] or [[sources]])"));
        }
        if spec.sinks.is_empty() {
            return Err(Error::invalid("sinks", "a job needs a sink ([sink] or [[sinks]])"));
        }
        let mut sink_names = std::collections::HashSet::new();
        for (index, sink) in spec.sinks.iter().enumerate() {
            taken(&sink.name, format!("sinks[{index}].name"))?;
            if names.contains_key(sink.name.as_str()) || !sink_names.insert(sink.name.as_str()) {
                return Err(Error::invalid(format!("sinks[{index}].name"), format!("'{}' is used twice", sink.name)));
            }
        }

        // `node` or `op.SIDE` → an output.
        let lookup = |reference: &str, field: &str| -> Result<Output> {
            let (node, side) = match reference.split_once('.') {
                Some((node, side)) => (node, Some(side)),
                None => (reference, None),
            };
            let known = || {
                let mut known: Vec<&str> = names.keys().copied().collect();
                known.sort_unstable();
                known.join(", ")
            };
            let Some(&producer) = names.get(node) else {
                return Err(Error::invalid(
                    field,
                    format!("'{reference}' names no source or operator (the job has: {})", known()),
                ));
            };
            let side = match (producer, side) {
                (_, None) => None,
                (Producer::Source(_), Some(_)) => {
                    return Err(Error::invalid(field, format!("'{reference}': source '{node}' has no side outputs")));
                }
                (Producer::Operator(op), Some(side)) => {
                    let declared = &spec.operators[op].side_outputs;
                    match declared.iter().position(|d| d == side) {
                        Some(i) => Some(i as u16),
                        None => {
                            return Err(Error::invalid(
                                field,
                                format!(
                                    "'{reference}': operator '{node}' declares no side output '{side}' \
                                     (its side_outputs: [{}])",
                                    declared.join(", ")
                                ),
                            ));
                        }
                    }
                }
            };
            Ok(Output { producer, side })
        };
        let parallelism_of = |producer: Producer| match producer {
            Producer::Source(i) => spec.sources[i].parallelism,
            Producer::Operator(i) => spec.operators[i].parallelism,
        };

        let mut vertices = Vec::with_capacity(spec.operators.len());
        for (index, op) in spec.operators.iter().enumerate() {
            let field = format!("operators[{index}].inputs");
            let references: Vec<String> = if !op.inputs.is_empty() {
                op.inputs.clone()
            } else if index > 0 {
                vec![spec.operators[index - 1].name.clone()]
            } else if spec.sources.len() == 1 {
                vec![spec.sources[0].name.clone()]
            } else {
                return Err(Error::invalid(
                    field,
                    format!(
                        "operator '{}' is the first operator of a job with {} sources: name what it reads",
                        op.name,
                        spec.sources.len()
                    ),
                ));
            };
            let mut inputs: Vec<Input> = Vec::with_capacity(references.len());
            for reference in references {
                let from = lookup(&reference, &field)?;
                if from.producer == Producer::Operator(index) {
                    return Err(Error::invalid(field, format!("operator '{}' reads its own output", op.name)));
                }
                if inputs.iter().any(|i| i.name == reference) {
                    return Err(Error::invalid(
                        field,
                        format!("operator '{}': '{reference}' is listed twice", op.name),
                    ));
                }
                let edge = if op.broadcast.contains(&reference) {
                    Edge::Broadcast
                } else if op.key_by {
                    Edge::KeyBy
                } else if parallelism_of(from.producer) == op.parallelism {
                    Edge::Forward
                } else {
                    Edge::Rebalance
                };
                inputs.push(Input { name: reference, from, edge });
            }
            for broadcast in &op.broadcast {
                if !inputs.iter().any(|input| &input.name == broadcast) {
                    return Err(Error::invalid(
                        format!("operators[{index}].broadcast"),
                        format!("operator '{}': '{broadcast}' is not one of its inputs", op.name),
                    ));
                }
            }
            vertices.push(Vertex {
                name: op.name.clone(),
                parallelism: op.parallelism,
                key_by: op.key_by,
                inputs,
                side_outputs: op.side_outputs.clone(),
            });
        }

        let mut sinks = Vec::with_capacity(spec.sinks.len());
        let mut file_dirs: HashMap<&std::path::Path, usize> = HashMap::new();
        for (index, sink) in spec.sinks.iter().enumerate() {
            let field = format!("sinks[{index}].inputs");
            if let SinkSpec::Files { path } = &sink.spec
                && let Some(other) = file_dirs.insert(path, index)
            {
                return Err(Error::invalid(
                    format!("sinks[{index}].path"),
                    format!(
                        "sink '{}' writes to {}, as sinks[{other}] does: give each its own",
                        sink.name,
                        path.display()
                    ),
                ));
            }
            let references: Vec<String> = if !sink.inputs.is_empty() {
                sink.inputs.clone()
            } else if let Some(last) = spec.operators.last() {
                vec![last.name.clone()]
            } else {
                return Err(Error::invalid(field, format!("sink '{}': name what it writes", sink.name)));
            };
            let mut inputs = Vec::with_capacity(references.len());
            for reference in references {
                let from = lookup(&reference, &field)?;
                if let Producer::Source(_) = from.producer {
                    return Err(Error::invalid(
                        field,
                        format!(
                            "sink '{}': '{reference}' is a source; a sink writes operators' outputs (put an \
                             operator in between)",
                            sink.name
                        ),
                    ));
                }
                if inputs.iter().any(|(name, _)| *name == reference) {
                    return Err(Error::invalid(field, format!("sink '{}': '{reference}' is listed twice", sink.name)));
                }
                inputs.push((reference, from));
            }
            sinks.push(SinkVertex { name: sink.name.clone(), inputs });
        }

        let graph = JobGraph {
            sources: spec
                .sources
                .iter()
                .map(|s| SourceVertex { name: s.name.clone(), parallelism: s.parallelism })
                .collect(),
            vertices,
            sinks,
            max_parallelism: spec.execution.max_parallelism,
        };
        graph.check_acyclic()?;
        graph.check_every_output_read()?;
        Ok(graph)
    }

    /// Every operator this one reads from, directly.
    fn upstream_operators(&self, operator: usize) -> impl Iterator<Item = usize> + '_ {
        self.vertices[operator].inputs.iter().filter_map(|input| match input.from.producer {
            Producer::Operator(op) => Some(op),
            Producer::Source(_) => None,
        })
    }

    fn check_acyclic(&self) -> Result<()> {
        // Depth-first, three colours; the path on the stack names the cycle.
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            OnPath,
            Done,
        }
        fn visit(graph: &JobGraph, op: usize, marks: &mut [Mark], path: &mut Vec<usize>) -> Result<()> {
            match marks[op] {
                Mark::Done => return Ok(()),
                Mark::OnPath => {
                    let start = path.iter().position(|&p| p == op).unwrap_or(0);
                    let mut cycle: Vec<&str> = path[start..].iter().map(|&p| graph.vertices[p].name.as_str()).collect();
                    cycle.push(&graph.vertices[op].name);
                    cycle.reverse();
                    return Err(Error::invalid(
                        format!("operators[{op}].inputs"),
                        format!("the graph has a cycle: {}", cycle.join(" → ")),
                    ));
                }
                Mark::New => {}
            }
            marks[op] = Mark::OnPath;
            path.push(op);
            for upstream in graph.upstream_operators(op).collect::<Vec<_>>() {
                visit(graph, upstream, marks, path)?;
            }
            path.pop();
            marks[op] = Mark::Done;
            Ok(())
        }
        let mut marks = vec![Mark::New; self.vertices.len()];
        for op in 0..self.vertices.len() {
            visit(self, op, &mut marks, &mut Vec::new())?;
        }
        Ok(())
    }

    fn check_every_output_read(&self) -> Result<()> {
        let read: std::collections::HashSet<Output> = self
            .vertices
            .iter()
            .flat_map(|v| v.inputs.iter().map(|i| i.from))
            .chain(self.sinks.iter().flat_map(|s| s.inputs.iter().map(|(_, from)| *from)))
            .collect();
        for (index, source) in self.sources.iter().enumerate() {
            if !read.contains(&Output { producer: Producer::Source(index), side: None }) {
                return Err(Error::invalid(
                    format!("sources[{index}]"),
                    format!("the output of source '{}' goes nowhere: no operator lists it in `inputs`", source.name),
                ));
            }
        }
        for (index, op) in self.vertices.iter().enumerate() {
            if !read.contains(&Output { producer: Producer::Operator(index), side: None }) {
                return Err(Error::invalid(
                    format!("operators[{index}]"),
                    format!(
                        "the main output of operator '{}' goes nowhere: no operator or sink lists it in `inputs`",
                        op.name
                    ),
                ));
            }
            for (side, name) in op.side_outputs.iter().enumerate() {
                if !read.contains(&Output { producer: Producer::Operator(index), side: Some(side as u16) }) {
                    return Err(Error::invalid(
                        format!("operators[{index}].side_outputs"),
                        format!(
                            "side output '{}.{name}' goes nowhere: no operator or sink lists it in `inputs`",
                            op.name
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    pub fn parallelism(&self, producer: Producer) -> u32 {
        match producer {
            Producer::Source(i) => self.sources[i].parallelism,
            Producer::Operator(i) => self.vertices[i].parallelism,
        }
    }

    pub fn producer_name(&self, producer: Producer) -> &str {
        match producer {
            Producer::Source(i) => &self.sources[i].name,
            Producer::Operator(i) => &self.vertices[i].name,
        }
    }

    /// Every consumer of `output`: (operator, input index) pairs, in order.
    pub fn readers_of(&self, output: Output) -> Vec<(usize, usize)> {
        let mut readers = Vec::new();
        for (op, vertex) in self.vertices.iter().enumerate() {
            for (input, i) in vertex.inputs.iter().enumerate() {
                if i.from == output {
                    readers.push((op, input));
                }
            }
        }
        readers
    }

    /// Every sink reading `output`, with the position of `output` among
    /// the sink's inputs.
    pub fn sinks_of(&self, output: Output) -> Vec<(usize, usize)> {
        let mut sinks = Vec::new();
        for (sink, vertex) in self.sinks.iter().enumerate() {
            for (input, (_, from)) in vertex.inputs.iter().enumerate() {
                if *from == output {
                    sinks.push((sink, input));
                }
            }
        }
        sinks
    }

    /// The number of writers of sink `sink` (one per subtask of each of its
    /// inputs), and the index of the first writer of its input `input`.
    pub fn sink_writers(&self, sink: usize) -> (u32, Vec<u32>) {
        let mut first = Vec::new();
        let mut total = 0;
        for (_, from) in &self.sinks[sink].inputs {
            first.push(total);
            total += self.parallelism(from.producer);
        }
        (total, first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{OperatorSpec, SinkNode, SinkSpec, SourceNode, SourceSpec};

    fn message(spec: &JobSpec) -> String {
        match JobGraph::resolve(spec) {
            Err(Error::InvalidJob { field, message }) => format!("{field}: {message}"),
            other => panic!("expected an invalid job, got {other:?}"),
        }
    }

    #[test]
    fn edges_follow_key_by_and_parallelism() {
        let spec = JobSpec::new("j", SourceSpec::lines("x"), SinkSpec::Discard)
            .operator(OperatorSpec::new("a", "a.wasm"))
            .operator(OperatorSpec::new("b", "b.wasm").parallelism(3))
            .operator(OperatorSpec::new("c", "c.wasm").parallelism(3))
            .operator(OperatorSpec::new("d", "d.wasm").parallelism(3).key_by(true));
        let graph = JobGraph::resolve(&spec).unwrap();
        let edges: Vec<Edge> = graph.vertices.iter().map(|v| v.inputs[0].edge).collect();
        assert_eq!(edges, [Edge::Forward, Edge::Rebalance, Edge::Forward, Edge::KeyBy]);
        assert_eq!(graph.sinks[0].inputs[0].1, Output { producer: Producer::Operator(3), side: None });
    }

    fn two_sources() -> JobSpec {
        JobSpec::graph("g")
            .source(SourceNode::new("orders", SourceSpec::lines("o")).parallelism(2))
            .source(SourceNode::new("prices", SourceSpec::lines("p")))
    }

    #[test]
    fn a_join_with_a_broadcast_input_and_a_side_output_resolves() {
        let spec = two_sources()
            .operator(
                OperatorSpec::new("join", "j.wasm")
                    .inputs(["orders", "prices"])
                    .broadcast(["prices"])
                    .key_by(true)
                    .parallelism(3)
                    .side_outputs(["late"]),
            )
            .sink(SinkNode::new("out", SinkSpec::files("out")).inputs(["join"]))
            .sink(SinkNode::new("late", SinkSpec::files("late")).inputs(["join.late"]));
        let graph = JobGraph::resolve(&spec).unwrap();
        let edges: Vec<Edge> = graph.vertices[0].inputs.iter().map(|i| i.edge).collect();
        assert_eq!(edges, [Edge::KeyBy, Edge::Broadcast]);
        assert_eq!(graph.sinks[1].inputs[0].1.side, Some(0));
        assert_eq!(graph.sink_writers(0), (3, vec![0]));
    }

    #[test]
    fn bad_graphs_are_refused_naming_the_node_and_field() {
        let unknown = two_sources()
            .operator(OperatorSpec::new("join", "j.wasm").inputs(["orders", "price"]))
            .sink(SinkNode::new("out", SinkSpec::Discard));
        assert!(message(&unknown).starts_with("operators[0].inputs: 'price' names no source or operator"));

        let unnamed =
            two_sources().operator(OperatorSpec::new("a", "a.wasm")).sink(SinkNode::new("o", SinkSpec::Discard));
        assert!(message(&unnamed).contains("first operator of a job with 2 sources"));

        let cycle = two_sources()
            .operator(OperatorSpec::new("a", "a.wasm").inputs(["orders", "prices", "b"]))
            .operator(OperatorSpec::new("b", "b.wasm").inputs(["a"]))
            .sink(SinkNode::new("out", SinkSpec::Discard).inputs(["b"]));
        let cycle = message(&cycle);
        assert!(cycle.contains("cycle") && cycle.contains("a → b → a"), "{cycle}");

        let unused = two_sources()
            .operator(OperatorSpec::new("a", "a.wasm").inputs(["orders"]))
            .sink(SinkNode::new("out", SinkSpec::Discard));
        assert!(message(&unused).starts_with("sources[1]: the output of source 'prices' goes nowhere"));

        let undeclared = two_sources()
            .operator(OperatorSpec::new("a", "a.wasm").inputs(["orders", "prices"]))
            .sink(SinkNode::new("out", SinkSpec::Discard))
            .sink(SinkNode::new("late", SinkSpec::Discard).inputs(["a.late"]));
        assert!(message(&undeclared).contains("'a.late': operator 'a' declares no side output 'late'"));

        let unread_side = two_sources()
            .operator(OperatorSpec::new("a", "a.wasm").inputs(["orders", "prices"]).side_outputs(["bad"]))
            .sink(SinkNode::new("out", SinkSpec::Discard));
        assert!(message(&unread_side).starts_with("operators[0].side_outputs: side output 'a.bad' goes nowhere"));

        let not_an_input = two_sources()
            .operator(OperatorSpec::new("a", "a.wasm").inputs(["orders"]).broadcast(["prices"]))
            .sink(SinkNode::new("out", SinkSpec::Discard));
        assert!(message(&not_an_input).starts_with("operators[0].broadcast: operator 'a': 'prices' is not one"));

        let same_dir = JobSpec::new("j", SourceSpec::lines("x"), SinkSpec::files("out"))
            .operator(OperatorSpec::new("a", "a.wasm"))
            .sink(SinkNode::new("again", SinkSpec::files("out")));
        assert!(message(&same_dir).starts_with("sinks[1].path"));
    }
}
