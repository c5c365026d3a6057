//! `cargo xtask kafka-broker --port N [--data DIR]` and
//! `cargo xtask nats-server --port N [--data DIR]`: install the server the
//! tests use (see `tools`), then run it in the foreground on loopback port
//! N, for trying the Kafka and NATS sources and sinks by hand.
//!
//! - kafka-broker: nisshi, a Kafka-protocol broker, listening on and
//!   advertising `tcp://127.0.0.1:N`, its data in `DIR/nisshi.db` (SQLite).
//! - nats-server: the NATS server with JetStream on 127.0.0.1:N, its
//!   streams stored in DIR.
//!
//! DIR defaults to `<target>/tools/nisshi-data-N` (or `nats-data-N`),
//! emptied first so that each run starts with no data; a DIR that is given
//! is kept, and created when missing.
//!
//! Once 127.0.0.1:N accepts TCP connections the task prints `ready` on
//! stdout, which carries nothing else: the server's own output goes to
//! stderr. SIGTERM and SIGINT are forwarded to the server, and the task
//! exits when the server does, with its exit code.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// How long a server may take to accept connections once started.
const START_TIMEOUT: Duration = Duration::from_secs(60);

struct Options {
    port: u16,
    /// The data directory given with `--data`, if any.
    data: Option<PathBuf>,
}

fn parse(task: &str, args: &[String]) -> Result<Options> {
    let usage = format!("usage: cargo xtask {task} --port N [--data DIR]");
    let mut port = None;
    let mut data = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name, Some(value.to_owned())),
            None => (arg.as_str(), None),
        };
        let mut value =
            || inline.clone().or_else(|| args.next().cloned()).with_context(|| format!("{name} needs a value"));
        match name {
            "--port" => {
                let value = value()?;
                port = Some(
                    value
                        .parse()
                        .ok()
                        .filter(|&port: &u16| port > 0)
                        .with_context(|| format!("--port {value:?}: expected a TCP port, 1 to 65535"))?,
                );
            }
            "--data" => data = Some(PathBuf::from(value()?)),
            _ => bail!("unknown argument {arg:?} ({usage})"),
        }
    }
    Ok(Options { port: port.with_context(|| format!("--port is required ({usage})"))?, data })
}

/// `cargo xtask kafka-broker`: nisshi on 127.0.0.1:N.
pub fn kafka_broker(args: &[String]) -> Result<()> {
    let options = parse("kafka-broker", args)?;
    // Before an install that may take minutes.
    ensure_port_free(options.port)?;
    let nisshi = crate::tools::ensure_nisshi(&crate::target_dir())?;
    let data = data_dir(&options, "nisshi")?;
    let url = format!("tcp://127.0.0.1:{}", options.port);
    let mut command = Command::new(nisshi);
    command
        .arg("broker")
        .arg("--listener-url")
        .arg(&url)
        .arg("--advertised-listener-url")
        .arg(&url)
        // nisshi resolves a `sqlite://` file against its working directory,
        // whatever the URL says (even `sqlite:///abs/path`), hence current_dir.
        .args(["--storage-engine", "sqlite://nisshi.db"])
        .current_dir(&data);
    serve("nisshi", command, options.port)
}

/// `cargo xtask nats-server`: nats-server with JetStream on 127.0.0.1:N.
pub fn nats_server(args: &[String]) -> Result<()> {
    let options = parse("nats-server", args)?;
    // Before an install that may take minutes.
    ensure_port_free(options.port)?;
    let nats_server = crate::tools::ensure_nats_server()?;
    let data = data_dir(&options, "nats")?;
    let mut command = Command::new(nats_server);
    command.args(["-js", "-a", "127.0.0.1", "-p", &options.port.to_string(), "-sd"]).arg(&data);
    serve("nats-server", command, options.port)
}

/// The data directory, absolute and existing: `--data`'s, or a fresh
/// `<target>/tools/<server>-data-<port>` (the caller checked that the port
/// is free, so no server started by this task uses it and emptying it loses
/// nothing in use).
fn data_dir(options: &Options, server: &str) -> Result<PathBuf> {
    let dir = match &options.data {
        Some(dir) => std::path::absolute(dir).with_context(|| format!("--data {}", dir.display()))?,
        None => {
            let dir = crate::target_dir().join("tools").join(format!("{server}-data-{}", options.port));
            if dir.exists() {
                std::fs::remove_dir_all(&dir).with_context(|| format!("cannot empty {}", dir.display()))?;
            }
            dir
        }
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// Fails when something already listens on 127.0.0.1:`port`: `ready` would
/// then report that other server.
fn ensure_port_free(port: u16) -> Result<()> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, port))
        .map(drop)
        .with_context(|| format!("127.0.0.1:{port} is in use (another server is listening there?)"))
}

/// Runs the server in the foreground: prints `ready` once 127.0.0.1:`port`
/// accepts connections, forwards SIGTERM and SIGINT to it, and exits when
/// it exits.
fn serve(name: &str, mut command: Command, port: u16) -> Result<()> {
    // Again: the install may have taken minutes.
    ensure_port_free(port)?;
    let line = format!("{command:?}");
    // stdout is for `ready` alone.
    command.stdin(Stdio::null()).stdout(std::io::stderr());
    signals::forward();
    let mut child = command.spawn().with_context(|| format!("cannot run {line}"))?;
    signals::set_child(&child);
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().with_context(|| format!("cannot wait for {name}"))? {
            if signals::forwarded() {
                std::process::exit(exit_code(status));
            }
            bail!("{name} exited before accepting connections on {address} ({status}): {line}");
        }
        if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
            break;
        }
        if Instant::now() > deadline {
            stop(&mut child);
            bail!("{name} did not accept connections on {address} within {} s ({line})", START_TIMEOUT.as_secs());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut stdout = std::io::stdout();
    writeln!(stdout, "ready").and_then(|()| stdout.flush()).context("cannot write to stdout")?;
    let status = child.wait().with_context(|| format!("cannot wait for {name}"))?;
    if status.success() {
        return Ok(());
    }
    // Told to stop: its exit code is the answer, there is no error to report.
    if signals::forwarded() {
        std::process::exit(exit_code(status));
    }
    bail!("{name} exited ({status})");
}

/// The shell's convention: the exit code, or 128 + the signal that ended it.
fn exit_code(status: ExitStatus) -> i32 {
    #[cfg(unix)]
    if let Some(signal) = std::os::unix::process::ExitStatusExt::signal(&status) {
        return 128 + signal;
    }
    status.code().unwrap_or(1)
}

fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Forwarding SIGTERM and SIGINT to the server. The standard library has no
/// signal handling and xtask takes no dependency for it: the C library's
/// `signal` and `kill` (which std links anyway) are declared here.
///
/// The handler only reads and writes atomics and calls `kill`, which is
/// async-signal-safe. A signal that arrives before the server is spawned is
/// kept and sent as soon as it is.
#[cfg(unix)]
mod signals {
    use std::ffi::c_int;
    use std::process::Child;
    use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

    // The same numbers on every Unix.
    const SIGINT: c_int = 2;
    const SIGTERM: c_int = 15;

    /// The server's pid, 0 before it is spawned.
    static CHILD: AtomicI32 = AtomicI32::new(0);
    /// Whether a signal was received.
    static RECEIVED: AtomicBool = AtomicBool::new(false);
    /// A signal received before the server was spawned, 0 if none.
    static PENDING: AtomicI32 = AtomicI32::new(0);

    unsafe extern "C" {
        // `sighandler_t signal(int, sighandler_t)`: glibc, musl and the
        // BSDs give it BSD semantics (the handler stays, SA_RESTART).
        fn signal(signum: c_int, handler: extern "C" fn(c_int)) -> usize;
        fn kill(pid: i32, signum: c_int) -> c_int;
    }

    extern "C" fn handler(signum: c_int) {
        RECEIVED.store(true, Ordering::SeqCst);
        let pid = CHILD.load(Ordering::SeqCst);
        if pid > 0 {
            // SAFETY: kill is async-signal-safe; pid is our child's, not
            // yet reaped (CHILD is set before waiting and never reset).
            unsafe { kill(pid, signum) };
        } else {
            PENDING.store(signum, Ordering::SeqCst);
        }
    }

    /// Installs the handler (the default action would end this process and
    /// leave the server running).
    pub fn forward() {
        for signum in [SIGTERM, SIGINT] {
            // SAFETY: `handler` is an `extern "C" fn(c_int)` that touches
            // only atomics and `kill`. A child's handlers are reset on exec.
            unsafe { signal(signum, handler) };
        }
    }

    /// Records the server, sending it a signal that came before.
    pub fn set_child(child: &Child) {
        let pid = i32::try_from(child.id()).expect("a pid fits in pid_t");
        CHILD.store(pid, Ordering::SeqCst);
        // The handler runs on this thread (xtask has no other): it either
        // saw the pid, and sent the signal itself, or left it in PENDING.
        let early = PENDING.swap(0, Ordering::SeqCst);
        if early != 0 {
            // SAFETY: as in `handler`.
            unsafe { kill(pid, early) };
        }
    }

    /// Whether a signal was received (and so forwarded).
    pub fn forwarded() -> bool {
        RECEIVED.load(Ordering::SeqCst)
    }
}

/// Elsewhere Ctrl-C reaches the whole console, the server included.
#[cfg(not(unix))]
mod signals {
    pub fn forward() {}
    pub fn set_child(_: &std::process::Child) {}
    pub fn forwarded() -> bool {
        false
    }
}
