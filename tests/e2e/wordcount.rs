//! The word count through the real binary, compared with running counts
//! computed here independently.

use std::collections::{BTreeMap, HashMap};

use crate::support::*;

/// Deterministic text: words drawn from a skewed vocabulary, separated by
/// irregular whitespace, with blank lines and non-ASCII words.
fn generated_input(lines: usize, seed: u64) -> String {
    let vocabulary: Vec<String> = (0..300)
        .map(|i| match i % 7 {
            0 => format!("wörd{i}"),
            1 => format!("Word{i}"),
            _ => format!("w{i}"),
        })
        .collect();
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 33) as usize
    };
    let mut text = String::new();
    for _ in 0..lines {
        let words = next() % 12;
        for w in 0..words {
            // Squaring skews the distribution: low indices are frequent.
            let r = next() % 300;
            text += &vocabulary[r * r / 300];
            text += [" ", "  ", "\t", " \t "][(next() + w) % 4];
        }
        text += if next() % 10 == 0 { "\r\n" } else { "\n" };
    }
    text
}

/// Every (word, running count) line the word count must produce, sorted.
fn expected_lines(input: &str) -> Vec<String> {
    let mut counts: HashMap<&str, u64> = HashMap::new();
    let mut lines = Vec::new();
    for word in input.split_whitespace() {
        let count = counts.entry(word).or_insert(0);
        *count += 1;
        lines.push(format!("{word}\t{count}"));
    }
    lines.sort();
    lines
}

fn check_wordcount(tokenizers: u32, counters: u32) {
    let job = JobDir::new();
    let input = generated_input(4000, u64::from(tokenizers * 10 + counters));
    job.write("input.txt", &input);
    job.write("job.toml", wordcount_job(tokenizers, counters));

    let output = job.run("job.toml");
    assert_success(&output);

    let files = committed_files(&job.path("out"));
    assert_eq!(files.len(), counters as usize, "one committed file per counter subtask: {:?}", files.keys());
    let mut all_lines: Vec<String> = Vec::new();
    let mut owner: HashMap<String, String> = HashMap::new();
    for (name, contents) in &files {
        // Within one subtask a word's counts arrive in order: 1, 2, 3...
        let mut last: BTreeMap<&str, u64> = BTreeMap::new();
        for line in contents.lines() {
            let (word, count) = line.split_once('\t').expect("key<TAB>value");
            let count: u64 = count.parse().expect("decimal count");
            let previous = last.insert(word, count).unwrap_or(0);
            assert_eq!(count, previous + 1, "{name}: {word} jumped from {previous} to {count}");
            if let Some(other) = owner.insert(word.to_owned(), name.clone()) {
                assert_eq!(&other, name, "{word} reached two counter subtasks");
            }
            all_lines.push(line.to_owned());
        }
    }
    all_lines.sort();
    let expected = expected_lines(&input);
    assert!(expected.len() > 10_000, "the generated input is too small to test anything");
    assert_eq!(all_lines.len(), expected.len(), "wrong number of output events");
    assert!(all_lines == expected, "output differs from the independently computed running counts");
}

#[test]
fn wordcount_one_tokenizer_one_counter_is_exact() {
    check_wordcount(1, 1);
}

#[test]
fn wordcount_two_tokenizers_three_counters_is_exact() {
    check_wordcount(2, 3);
}

#[test]
fn the_embedding_example_runs_the_same_job_through_the_library() {
    let job = JobDir::new();
    let input = job.write("input.txt", "a b a\nb a c\n");
    let output = example("embed").arg(&input).env("WEIR_GUEST_DIR", guest_dir()).output().expect("run embed");
    assert_success(&output);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("6 words in"), "{stdout}");
}

#[test]
fn a_generator_job_counts_every_event() {
    let job = JobDir::new();
    job.write(
        "job.toml",
        format!(
            r#"
            [job]
            name = "gen"
            batch_size = 64
            [source]
            type = "generator"
            count = 20000
            keys = 500
            value_size = 8
            seed = 7
            [[operators]]
            name = "counter"
            component = "{}"
            parallelism = 3
            key_by = true
            [sink]
            type = "files"
            path = "out"
            "#,
            guest("counter").display()
        ),
    );
    assert_success(&job.run("job.toml"));
    let files = committed_files(&job.path("out"));
    let mut finals: HashMap<String, u64> = HashMap::new();
    for contents in files.values() {
        for line in contents.lines() {
            let (key, count) = line.split_once('\t').expect("key<TAB>value");
            let count: u64 = count.parse().expect("count");
            let entry = finals.entry(key.to_owned()).or_insert(0);
            *entry = (*entry).max(count);
        }
    }
    assert_eq!(finals.values().sum::<u64>(), 20000);
    assert!(finals.len() > 400 && finals.len() <= 500, "{} distinct keys", finals.len());
}
