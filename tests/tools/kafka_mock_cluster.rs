//! librdkafka's mock cluster as a process of its own, for the tests of the
//! Kafka sink's transactions: no broker that installs here implements them
//! (FACTS.md), the mock cluster does, and it must outlive the `weir`
//! processes that the tests kill.
//!
//! `kafka-mock-cluster TOPIC:PARTITIONS...` creates the topics on a
//! three-broker cluster, prints `bootstrap HOST:PORT,...` and serves until
//! its standard input closes (the test that started it dropped the pipe or
//! died).

use std::io::{BufRead, Write};

use rdkafka::mocking::MockCluster;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cluster = MockCluster::new(3)?;
    for topic in std::env::args().skip(1) {
        let (name, partitions) = topic.split_once(':').ok_or("topics are NAME:PARTITIONS")?;
        cluster.create_topic(name, partitions.parse()?, 1)?;
    }
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "bootstrap {}", cluster.bootstrap_servers())?;
    stdout.flush()?;
    drop(stdout);
    // Serve until stdin closes.
    let mut line = String::new();
    while std::io::stdin().lock().read_line(&mut line)? > 0 {
        line.clear();
    }
    Ok(())
}
