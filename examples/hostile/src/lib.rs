//! A hostile operator, for testing that the sandbox contains it. Its
//! `config` chooses the misbehaviour, which starts at the event whose value
//! is `attack` (every other event passes through, so a job can take
//! checkpoints before the attack):
//!
//! | `mode`           | what it does at the attack                                   |
//! |------------------|--------------------------------------------------------------|
//! | `loop`           | spins forever                                                 |
//! | `memory-bomb`    | allocates until something stops it                            |
//! | `panic`          | panics                                                        |
//! | `stack-overflow` | recurses without end                                          |
//! | `flood`          | emits events without end                                      |
//! | `filesystem`     | tries to read `/etc/passwd` and reports what happened         |
//!
//! With `attacks = "N"` it attacks only in the first N attempts of a job
//! (the host passes the restart attempt as config `weir.attempt`), so a job
//! with a restart strategy recovers once the attacks stop.

use weir_guest::{Context, Event, OpenContext, Operator, Result};

pub struct Hostile {
    mode: String,
    /// Whether this attempt attacks at all.
    armed: bool,
}

impl Operator for Hostile {
    fn open(ctx: &mut OpenContext) -> Result<Self> {
        let mode = ctx.info().config("mode").unwrap_or("panic").to_owned();
        let attempt: u64 = ctx.info().parse_config("weir.attempt")?.unwrap_or(0);
        let attacks: u64 = ctx.info().parse_config("attacks")?.unwrap_or(u64::MAX);
        Ok(Hostile { mode, armed: attempt < attacks })
    }

    fn process(&mut self, ctx: &mut Context, event: Event<'_>) -> Result<()> {
        if event.value() != b"attack" || !self.armed {
            ctx.emit(event.key(), event.value());
            return Ok(());
        }
        match self.mode.as_str() {
            "loop" => spin(),
            "memory-bomb" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "panic" => panic!("hostile operator: panicking on purpose"),
            "stack-overflow" => {
                std::hint::black_box(recurse(1));
            }
            "flood" => loop {
                ctx.emit("flood", "x".repeat(1024));
            },
            "filesystem" => match std::fs::read_to_string("/etc/passwd") {
                Ok(text) => ctx.emit("escaped", format!("read {} bytes of /etc/passwd", text.len())),
                Err(e) => return Err(weir_guest::Error::msg(format!("filesystem is closed: {e}"))),
            },
            other => return Err(weir_guest::Error::msg(format!("unknown hostile mode {other:?}"))),
        }
        Ok(())
    }
}

fn spin() -> ! {
    let mut x: u64 = 0;
    loop {
        x = std::hint::black_box(x.wrapping_add(1));
    }
}

#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    let frame = std::hint::black_box([depth; 64]);
    recurse(depth + 1) + frame[0]
}

weir_guest::export_operator!(Hostile);
