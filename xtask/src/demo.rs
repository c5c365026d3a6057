//! `cargo xtask demo`: build everything, run the word-count example job
//! and show its ten most frequent words.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result};

use crate::{build_guests, build_host, root, run, step};

pub fn run_demo() -> Result<()> {
    build_guests()?;
    let weir = build_host()?;
    let example = root().join("examples/wordcount");
    let out = example.join("out");
    if out.exists() {
        std::fs::remove_dir_all(&out).with_context(|| format!("cannot clear {}", out.display()))?;
    }
    step("running the word count: weir run examples/wordcount/job.toml");
    run(std::process::Command::new(&weir).arg("run").arg(example.join("job.toml")))?;

    let counts = final_counts(&out)?;
    let mut words: Vec<(&String, &u64)> = counts.iter().collect();
    words.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    step(&format!("ten most frequent of {} distinct words (output in {})", counts.len(), out.display()));
    for (word, count) in words.iter().take(10) {
        println!("{count:>8}  {word}");
    }
    Ok(())
}

/// The counter emits a running count per word; a word's final count is the
/// largest one in the committed output files.
fn final_counts(out: &Path) -> Result<HashMap<String, u64>> {
    let mut counts = HashMap::new();
    for entry in std::fs::read_dir(out).with_context(|| format!("cannot list {}", out.display()))? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name.starts_with('.') || name.starts_with('_') {
            continue;
        }
        let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        for line in text.lines() {
            let (word, count) =
                line.split_once('\t').with_context(|| format!("bad line {line:?} in {}", path.display()))?;
            let count: u64 = count.parse().with_context(|| format!("bad count in {line:?}"))?;
            let entry = counts.entry(word.to_owned()).or_insert(0);
            *entry = (*entry).max(count);
        }
    }
    Ok(counts)
}
