//! Peak resident memory (VmHWM) of the host for a job of 8 subtasks. A
//! process's high-water mark covers its whole life, so each figure comes
//! from a fresh `weir-bench memory-job <kind>` process:
//!
//! - `idle`: the engine only (wasmtime engine and pooling reservations, I/O
//!   runtime), no job;
//! - `native`: generator → counter ×8 (key_by) → discard with checkpoints
//!   every second, the counter compiled into the host: the host's own
//!   footprint for the job, without any sandbox;
//! - `wasm`: the same job with the counter component: the difference to
//!   `native` is what the 8 sandboxes cost (linear memories, stores,
//!   instances, the compiled code mapped).

use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::json;

use crate::harness::{Bench, Code, checkpoints, emit, generator, generator_job, median, memory_kib, progress};

const SUBTASKS: u32 = 8;

/// Events of the job: ~15 M events/s here, ten checkpoints or more (100 M
/// took 5-6).
fn events(bench: &Bench) -> u64 {
    bench.size(250_000_000, 100_000)
}

/// Runs the three kinds, `runs` times each, in child processes.
pub fn memory(bench: &Bench) -> Result<()> {
    let exe = std::env::current_exe().context("cannot find the weir-bench executable")?;
    let (mut figures, mut checkpoints) = (Vec::new(), Vec::new());
    for kind in ["idle", "native", "wasm"] {
        progress(&format!("peak memory, {kind}"));
        let (mut peaks, mut taken) = (Vec::new(), Vec::new());
        for _ in 0..bench.runs {
            let mut command = Command::new(&exe);
            command.arg("memory-job").arg(kind).arg("--guests").arg(&bench.guests).arg("--work").arg(&bench.work);
            if bench.quick {
                command.arg("--quick");
            }
            let output = command.output().with_context(|| format!("cannot run {}", exe.display()))?;
            if !output.status.success() {
                bail!("weir-bench memory-job {kind} failed:\n{}", String::from_utf8_lossy(&output.stderr));
            }
            let stdout = String::from_utf8_lossy(&output.stdout);
            let line = stdout.lines().last().unwrap_or_default();
            let result: serde_json::Value =
                serde_json::from_str(line).with_context(|| format!("memory-job {kind} printed {line:?}"))?;
            let peak = result["vmhwm_kib"].as_f64().with_context(|| format!("memory-job {kind} printed {line:?}"))?;
            peaks.push(peak);
            taken.push(result["checkpoints"].as_f64().unwrap_or(0.0));
        }
        figures.push(median(&peaks));
        checkpoints.push(median(&taken));
    }
    emit(json!({
        "scenario": "memory", "subtasks": SUBTASKS, "events": events(bench), "runs": bench.runs,
        "idle_kib": figures[0], "native_kib": figures[1], "wasm_kib": figures[2],
        "checkpoints_native": checkpoints[1], "checkpoints_wasm": checkpoints[2],
    }));
    Ok(())
}

/// The child: runs the job (unless `idle`), prints VmHWM, VmRSS and the
/// checkpoints the job took.
pub fn memory_job(bench: &Bench, kind: &str) -> Result<()> {
    let code = match kind {
        "idle" => None,
        "native" => Some(Code::Native),
        "wasm" => Some(Code::Wasm),
        other => bail!("memory-job: unknown kind '{other}' (idle, native or wasm)"),
    };
    let mut taken = 0;
    if let Some(code) = code {
        let dir = bench.scratch(&format!("checkpoints-memory-{kind}"))?;
        let spec = generator_job(
            "bench-memory",
            generator(events(bench), 10_000, 16),
            vec![bench.operator("counter", code)?.parallelism(SUBTASKS).key_by(true)],
        )
        .checkpoint(checkpoints(&dir, Duration::from_secs(1), false));
        taken = bench.run_to_end(spec)?.checkpoints;
    }
    let (peak, resident) = memory_kib()?;
    emit(json!({ "kind": kind, "vmhwm_kib": peak, "vmrss_kib": resident, "checkpoints": taken }));
    Ok(())
}
