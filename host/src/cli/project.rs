//! `weir new`, `weir build`, `weir test`: operator projects, through the
//! `weir-build` library. Progress goes to the log; `weir build` prints the
//! component's path on stdout, so that scripts can take it.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use weir_build::{Language, Project, Sdk, Toolbox};

#[derive(clap::Args)]
pub struct NewArgs {
    /// The project's directory (created; its name names the operator).
    path: PathBuf,
    /// The operator's language: rust, python or js.
    #[arg(long, value_name = "LANG")]
    lang: String,
}

#[derive(clap::Args)]
pub struct ProjectArgs {
    /// The operator project (default: the current directory).
    #[arg(default_value = ".")]
    dir: PathBuf,
}

fn progress(line: &str) {
    tracing::info!("{line}");
}

pub fn new(args: NewArgs) -> Result<()> {
    let Some(language) = Language::parse(&args.lang) else {
        bail!("--lang {}: not a language weir builds; use rust, python or js", args.lang);
    };
    let home = weir_build::weir_home()?;
    let sdk = Sdk::install(&home).with_context(|| format!("cannot write the SDKs into {}", home.display()))?;
    let written = weir_build::new_project(&args.path, language, &sdk)?;
    let dir = args.path.display();
    println!("created {dir} ({} files): the operator, its tests, job.toml and a README", written.len());
    println!("next:\n  cd {dir}\n  weir test\n  weir build\n  weir run job.toml");
    Ok(())
}

pub fn build(args: ProjectArgs) -> Result<()> {
    let project = Project::open(&args.dir)?;
    let toolbox = Toolbox::for_user(&progress)?;
    let component = weir_build::build(&project, &toolbox)
        .with_context(|| format!("cannot build the operator project {}", project.dir.display()))?;
    tracing::info!("built {}", component.display());
    println!("{}", component.display());
    Ok(())
}

pub fn test(args: ProjectArgs) -> Result<()> {
    let project = Project::open(&args.dir)?;
    let toolbox = Toolbox::for_user(&progress)?;
    weir_build::test(&project, &toolbox).with_context(|| format!("the tests of {} failed", project.dir.display()))
}
