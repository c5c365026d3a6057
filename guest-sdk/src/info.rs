//! [`OperatorInfo`]: who this operator instance is (name, subtask, key
//! groups), its inputs and side outputs, and its configuration from the job
//! file.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::ops::Range;
use std::str::FromStr;

use crate::{Error, Result};

/// The number of key groups when a job file does not set `max_parallelism`:
/// the host's default, and what [`OperatorInfo::new`] assumes.
pub const DEFAULT_MAX_PARALLELISM: u32 = 128;

/// Who this instance is, as the host described it to `init`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorInfo {
    name: String,
    subtask_index: u32,
    parallelism: u32,
    max_parallelism: u32,
    key_groups: Option<Range<u16>>,
    config: BTreeMap<String, String>,
    inputs: Vec<InputInfo>,
    side_outputs: Vec<String>,
}

/// The name every [`OperatorInfo::new`] gives its one input, and so the input
/// [`testing::Harness`](crate::testing::Harness) feeds unless told otherwise.
pub const DEFAULT_INPUT: &str = "input";

/// One input of an operator: the WIT `input-info`.
///
/// `process` is called per batch with the index of the input the batch came
/// from ([`Event::input`](crate::Event::input)); the inputs are listed in
/// job-file order in [`OperatorInfo::inputs`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InputInfo {
    name: String,
    broadcast: bool,
}

impl InputInfo {
    /// A partitioned input (forward, rebalance or key-by): each subtask sees
    /// its share of the events.
    pub fn new(name: impl Into<String>) -> Self {
        InputInfo { name: name.into(), broadcast: false }
    }

    /// A broadcast input: every subtask sees every event, with no key group,
    /// so keyed state is not available while processing them (broadcast
    /// state is; see [`OpenContext::broadcast_map`](crate::OpenContext::broadcast_map)).
    pub fn broadcast(name: impl Into<String>) -> Self {
        InputInfo { name: name.into(), broadcast: true }
    }

    /// The node whose output feeds this input: `op`, or `op.NAME` for a side
    /// output.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the input is broadcast (`broadcast` in the job file).
    pub fn is_broadcast(&self) -> bool {
        self.broadcast
    }
}

/// `(name, broadcast)`, as the WIT record lists its fields.
impl<S: Into<String>> From<(S, bool)> for InputInfo {
    fn from((name, broadcast): (S, bool)) -> Self {
        InputInfo { name: name.into(), broadcast }
    }
}

/// A partitioned input of this name.
impl From<&str> for InputInfo {
    fn from(name: &str) -> Self {
        InputInfo::new(name)
    }
}

/// A partitioned input of this name.
impl From<String> for InputInfo {
    fn from(name: String) -> Self {
        InputInfo::new(name)
    }
}

impl OperatorInfo {
    /// Subtask 0 of 1, owning every key group of [`DEFAULT_MAX_PARALLELISM`],
    /// with one partitioned input named [`DEFAULT_INPUT`], no side outputs
    /// and no configuration. Change it with the `with_*` methods (useful with
    /// [`testing::Harness`](crate::testing::Harness)).
    pub fn new(name: impl Into<String>) -> Self {
        OperatorInfo {
            name: name.into(),
            subtask_index: 0,
            parallelism: 1,
            max_parallelism: DEFAULT_MAX_PARALLELISM,
            key_groups: Some(0..DEFAULT_MAX_PARALLELISM as u16),
            config: BTreeMap::new(),
            inputs: vec![InputInfo::new(DEFAULT_INPUT)],
            side_outputs: Vec::new(),
        }
    }

    /// Sets the subtask index and the operator's parallelism.
    pub fn with_subtask(mut self, subtask_index: u32, parallelism: u32) -> Self {
        self.subtask_index = subtask_index;
        self.parallelism = parallelism;
        self
    }

    /// Sets the number of key groups (does not change [`Self::key_groups`]).
    pub fn with_max_parallelism(mut self, max_parallelism: u32) -> Self {
        self.max_parallelism = max_parallelism;
        self
    }

    /// Sets the key groups this subtask owns; `None` for an unkeyed input.
    pub fn with_key_groups(mut self, key_groups: Option<Range<u16>>) -> Self {
        self.key_groups = key_groups;
        self
    }

    /// Adds one entry of the `[operators.config]` table.
    pub fn with_config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.config.insert(key.into(), value.into());
        self
    }

    /// Sets the operator's inputs, in job-file order (replacing the default
    /// single input). Each is an [`InputInfo`], a name (a partitioned input)
    /// or a `(name, broadcast)` pair.
    ///
    /// ```
    /// # use weir_guest::{InputInfo, OperatorInfo};
    /// let info = OperatorInfo::new("join")
    ///     .with_inputs([InputInfo::new("orders"), InputInfo::broadcast("prices")])
    ///     .with_side_outputs(["unpriced", "bad"]);
    /// assert_eq!(info.inputs()[1].name(), "prices");
    /// assert!(info.inputs()[1].is_broadcast());
    /// assert_eq!(info.side_output_index("bad"), Some(1));
    /// assert_eq!(info, info.clone().with_inputs([("orders", false), ("prices", true)]));
    /// ```
    pub fn with_inputs<I: Into<InputInfo>>(mut self, inputs: impl IntoIterator<Item = I>) -> Self {
        self.inputs = inputs.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the side outputs the job file declares (`side_outputs`), in
    /// order: [`Context::emit_to`](crate::Context::emit_to) accepts these
    /// names only.
    pub fn with_side_outputs<S: Into<String>>(mut self, side_outputs: impl IntoIterator<Item = S>) -> Self {
        self.side_outputs = side_outputs.into_iter().map(Into::into).collect();
        self
    }

    /// The operator's name in the job file.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// This subtask's index, from 0 to `parallelism() - 1`.
    pub fn subtask_index(&self) -> u32 {
        self.subtask_index
    }

    /// The number of parallel subtasks of this operator.
    pub fn parallelism(&self) -> u32 {
        self.parallelism
    }

    /// The number of key groups keys are hashed into.
    pub fn max_parallelism(&self) -> u32 {
        self.max_parallelism
    }

    /// The key groups this subtask owns (`start` inclusive, `end` exclusive);
    /// `None` when the operator's input is not keyed.
    pub fn key_groups(&self) -> Option<Range<u16>> {
        self.key_groups.clone()
    }

    /// The operator's inputs, in job-file order: [`Event::input`](crate::Event::input)
    /// is an index into this list.
    pub fn inputs(&self) -> &[InputInfo] {
        &self.inputs
    }

    /// The declared side outputs, in order (the WIT `side-outputs`).
    pub fn side_outputs(&self) -> &[String] {
        &self.side_outputs
    }

    /// The index of side output `name`: its output tag in a version 2 batch
    /// (`wit/FRAMING.md`).
    pub fn side_output_index(&self, name: &str) -> Option<u16> {
        // Tags stop below 0xFFFF, the main output's: a side output past it
        // (no host declares 65535 of them) cannot be addressed.
        let index = self.side_outputs.iter().position(|declared| declared == name)?;
        u16::try_from(index).ok().filter(|&tag| tag != weir_wire::batch::MAIN_OUTPUT)
    }

    /// One entry of the operator's `[operators.config]` table.
    pub fn config(&self, key: &str) -> Option<&str> {
        self.config.get(key).map(String::as_str)
    }

    /// One config entry parsed with `FromStr`: `Ok(None)` when absent, an
    /// error naming the key and the text when it does not parse.
    ///
    /// ```
    /// # use weir_guest::OperatorInfo;
    /// let info = OperatorInfo::new("op").with_config("window", "10").with_config("bad", "x");
    /// assert_eq!(info.parse_config::<u32>("window")?, Some(10));
    /// assert_eq!(info.parse_config::<u32>("missing")?, None);
    /// assert!(info.parse_config::<u32>("bad").unwrap_err().to_string().contains("config `bad`"));
    /// # Ok::<(), weir_guest::Error>(())
    /// ```
    pub fn parse_config<T>(&self, key: &str) -> Result<Option<T>>
    where
        T: FromStr,
        T::Err: Display,
    {
        self.config(key)
            .map(|text| text.parse().map_err(|e| Error::msg(format!("config `{key}` = {text:?} is not valid: {e}"))))
            .transpose()
    }

    /// Every config entry, sorted by key.
    pub fn config_entries(&self) -> impl Iterator<Item = (&str, &str)> {
        self.config.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}
