//! C guests: operators written in C against `wit/v0.1/operator.wit` (the
//! first version of the world, which the host keeps running),
//! `wit/FRAMING.md` and `wit/STATE.md` alone (no SDK, no generated
//! bindings), compiled to a core WebAssembly module by `zig cc` and turned
//! into a component here with `wit-component`.
//!
//! - [`ensure_zig`]: a virtual environment at `<target>/tools/ziglang-venv`
//!   holding the pinned `ziglang` package from PyPI (Zig's toolchain as a
//!   wheel; `python -m ziglang cc` is clang with a bundled wasm linker).
//! - [`build_c_guests`]: builds every example of [`C_GUESTS`] into
//!   `<target>/wasm32-wasip2/release/<name>.wasm` and copies it to the
//!   documented directory, like the Rust guests. A guest whose inputs (its
//!   sources, the WIT files, the compiler version and flags) hash as at the
//!   last build is not rebuilt.
//!
//! The C is compiled for `wasm32-freestanding` with `-nostdlib`: the module
//! brings its own allocator and imports nothing, so the component imports
//! nothing either (not even WASI). `wit-component` then embeds the world's
//! type information (`embed_component_metadata`) and wraps the module
//! (`ComponentEncoder`), checking its exports against the WIT.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use weir_build::{Digest, WORLD, add_files, digest_tree, files_under};

use crate::tools::quiet;

/// The `ziglang` release (PyPI) the C guests are compiled with.
pub const ZIGLANG_VERSION: &str = "0.17.1";

/// C guests: the example's directory under `examples/` (its `src/*.c` are
/// compiled together) and the name of the `.wasm` it is built into.
pub const C_GUESTS: &[(&str, &str)] = &[("counter-c", "counter-c")];

/// The WIT the C guests target: `weir:operator@0.1.0`. Kept there so that
/// the suite goes on proving that components built before 0.2.0 still run.
const C_WIT_DIR: &str = "wit/v0.1";

/// `zig cc` arguments before the sources and output: freestanding (no libc,
/// no WASI), bulk memory so that `memcpy` and friends lower to
/// `memory.copy`/`memory.fill`, no entry point (a reactor: the host calls the
/// exports), no debug info. Warnings are errors: the compiler is pinned.
const CFLAGS: &[&str] = &[
    "--target=wasm32-freestanding",
    "-O2",
    "-g0",
    "-nostdlib",
    "-mbulk-memory",
    "-std=c11",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wl,--no-entry",
    "-Wl,--strip-debug",
];

/// Bumped when the way a component is built changes beyond what the inputs
/// record, so that stamps written by an older xtask no longer match.
const RECIPE: &str = "weir-c-guest-1";

/// Builds the C guests that are out of date into
/// `<target>/wasm32-wasip2/release/<name>.wasm` and copies every one to
/// `out_dir` (the documented `target/wasm32-wasip2/release`).
pub fn build_c_guests(root: &Path, out_dir: &Path) -> Result<()> {
    let target_dir = crate::target_dir();
    let built_dir = target_dir.join("wasm32-wasip2").join("release");
    let work = target_dir.join("c-guests");
    let wit = digest_tree(&root.join(C_WIT_DIR), &|path| has_extension(path, "wit"))?;
    let mut zig: Option<PathBuf> = None;
    for &(example, name) in C_GUESTS {
        let dir = root.join("examples").join(example);
        let sources = files_under(&dir.join("src"), &|path| has_extension(path, "c") || has_extension(path, "h"))?;
        let c_files: Vec<&PathBuf> = sources.iter().filter(|path| has_extension(path, "c")).collect();
        if c_files.is_empty() {
            bail!("{} has no .c file to build {name} from", dir.join("src").display());
        }
        let mut digest = Digest::default();
        add_files(&mut digest, &dir, &sources)?;
        let inputs = format!(
            "{RECIPE}\nziglang=={ZIGLANG_VERSION}\ncflags={}\nsources={:016x}\nwit={wit:016x}\n",
            CFLAGS.join(" "),
            digest.finish()
        );
        let built = built_dir.join(format!("{name}.wasm"));
        let stamp = work.join(format!("{name}.inputs"));
        let fresh = built.exists() && std::fs::read_to_string(&stamp).is_ok_and(|s| s == inputs);
        if !fresh {
            if zig.is_none() {
                zig = Some(ensure_zig(&target_dir)?);
            }
            let python = zig.as_ref().expect("set above");
            crate::step(&format!("building C guest {example} (zig cc + wit-component)"));
            std::fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
            let core = work.join(format!("{name}.core.wasm"));
            let mut command = Command::new(python);
            command.args(["-m", "ziglang", "cc"]).args(CFLAGS).arg("-o").arg(&core).args(&c_files);
            // Zig's caches stay in the target directory too.
            command.env("ZIG_GLOBAL_CACHE_DIR", target_dir.join("tools/zig-cache"));
            command.env("ZIG_LOCAL_CACHE_DIR", target_dir.join("tools/zig-cache"));
            quiet(&mut command).with_context(|| format!("zig cc could not compile {}", dir.display()))?;
            let module = std::fs::read(&core).with_context(|| format!("cannot read {}", core.display()))?;
            let component = componentize(root, module)
                .with_context(|| format!("cannot turn {} into a component of the world `{WORLD}`", core.display()))?;
            weir_build::write_atomically(&built, &mut |partial| {
                std::fs::write(partial, &component).map_err(|source| weir_build::Error::Io {
                    action: "write",
                    path: partial.to_owned(),
                    source,
                })
            })?;
            std::fs::write(&stamp, &inputs).with_context(|| format!("cannot write {}", stamp.display()))?;
        }
        crate::copy_if_elsewhere(&built, &out_dir.join(format!("{name}.wasm")))?;
    }
    Ok(())
}

/// Embeds the world's component type in a core module and encodes it as a
/// component, validating both the module's exports against the WIT and the
/// result.
fn componentize(root: &Path, mut module: Vec<u8>) -> Result<Vec<u8>> {
    let wit_dir = root.join(C_WIT_DIR);
    let mut resolve = wit_parser::Resolve::default();
    let (package, _) = resolve.push_dir(&wit_dir).with_context(|| format!("cannot parse {}", wit_dir.display()))?;
    let world = resolve.select_world(&[package], Some(WORLD))?;
    wit_component::embed_component_metadata(&mut module, &resolve, world, wit_component::StringEncoding::UTF8)?;
    wit_component::ComponentEncoder::default().module(&module)?.validate(true).encode()
}

/// Makes sure `<target_dir>/tools/ziglang-venv` holds the pinned `ziglang`;
/// returns the venv's Python, which runs `python -m ziglang cc`. Quiet when
/// there is nothing to do, and idempotent
/// (`weir_build::python::ensure_tool_venv`).
pub fn ensure_zig(target_dir: &Path) -> Result<PathBuf> {
    let venv = target_dir.join("tools").join("ziglang-venv");
    let verify = |python: &Path| {
        let version = quiet(Command::new(python).args(["-m", "ziglang", "version"]))
            .map_err(|e| weir_build::Error::Unexpected(format!("{e:#}")))?;
        let version = String::from_utf8_lossy(&version.stdout).trim().to_owned();
        if version != ZIGLANG_VERSION {
            return Err(weir_build::Error::Unexpected(format!(
                "{} reports zig {version}, expected {ZIGLANG_VERSION}",
                venv.display()
            )));
        }
        Ok(())
    };
    let needed_by = "the C guests (examples/*-c) are compiled with Zig, installed from PyPI's `ziglang` package";
    Ok(weir_build::python::ensure_tool_venv(
        &venv,
        &format!("ziglang=={ZIGLANG_VERSION}"),
        needed_by,
        &crate::step,
        &verify,
    )?)
}

fn has_extension(path: &Path, extension: &str) -> bool {
    path.extension().is_some_and(|e| e == extension)
}
