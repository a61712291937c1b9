//! `commit`, `export` and `attach` on a service's container: arguments in, a call to
//! [`crate::ops::containers`], the image ID or the archive or the output written out.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Args;
use futures::StreamExt;

use crate::cli::context::runtime;
use crate::cli::{CliError, GlobalArgs};
use crate::ops::containers;

#[derive(Debug, Args)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short, long)]
    pub author: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short, long)]
    pub change: Vec<String>,
    /// Index of the container if service has multiple replicas
    #[arg(long, default_value_t = 1)]
    pub index: u32,
    /// Commit message
    #[arg(short, long)]
    pub message: Option<String>,
    /// Pause container during commit
    #[arg(short, long, default_value_t = true, action = clap::ArgAction::Set)]
    pub pause: bool,
    pub service: String,
    /// REPOSITORY[:TAG]
    pub reference: Option<String>,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Index of the container if service has multiple replicas
    #[arg(long, default_value_t = 1)]
    pub index: u32,
    /// Write to a file, instead of STDOUT
    #[arg(short, long)]
    pub output: Option<std::path::PathBuf>,
    pub service: String,
}

#[derive(Debug, Args)]
pub struct AttachArgs {
    /// Index of the container if service has multiple replicas
    #[arg(long, default_value_t = 1)]
    pub index: u32,
    /// Do not attach STDIN
    #[arg(long)]
    pub no_stdin: bool,
    /// Proxy all received signals to the process
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub sig_proxy: bool,
    /// Override the key sequence for detaching from a container
    #[arg(long)]
    pub detach_keys: Option<String>,
    pub service: String,
}

/// `commit SERVICE [REPOSITORY[:TAG]]`: prints the new image's ID.
pub fn commit(g: &GlobalArgs, a: &CommitArgs) -> Result<ExitCode, CliError> {
    let project = g.load(std::slice::from_ref(&a.service), false)?.project;
    let commit = crate::engine::Commit {
        reference: a.reference.clone(),
        author: a.author.clone(),
        message: a.message.clone(),
        changes: a.change.clone(),
        pause: a.pause,
    };
    runtime()?.block_on(async {
        let id = containers::commit(&g.engine().await?, &project, &a.service, a.index, &commit).await?;
        println!("{id}");
        Ok(ExitCode::SUCCESS)
    })
}

/// `export SERVICE`: the container's filesystem as a tar archive, to `-o FILE` or stdout (not
/// to a terminal).
pub fn export(g: &GlobalArgs, a: &ExportArgs) -> Result<ExitCode, CliError> {
    if a.output.is_none() && std::io::stdout().is_terminal() {
        return Err(CliError::Message {
            message: "refusing to write a tar archive to a terminal".into(),
            hint: Some("use `-o FILE`, or redirect the output".into()),
            code: 1,
        });
    }
    let project = g.load(std::slice::from_ref(&a.service), false)?.project;
    runtime()?.block_on(async {
        let engine = g.engine().await?;
        if let (true, Some(p)) = (g.dry_run, &a.output) {
            // The one write that is not the engine's: the host's file.
            let c = containers::replica(&engine, &project, &a.service, a.index).await?;
            let what = format!("export container {} to {}", c.name, p.display());
            println!("{what:<48} (dry run)");
            return Ok(ExitCode::SUCCESS);
        }
        let mut tar = containers::export(&engine, &project, &a.service, a.index).await?;
        let mut file = match &a.output {
            Some(p) => Some(
                std::fs::File::create(p).map_err(|e| CliError::msg(format!("cannot write `{}`: {e}", p.display())))?,
            ),
            None => None,
        };
        while let Some(chunk) = tar.next().await {
            let chunk = chunk?;
            match file.as_mut() {
                Some(f) => std::io::Write::write_all(f, &chunk)
                    .map_err(|e| CliError::msg(format!("writing the archive: {e}")))?,
                None => crate::cli::output::write(&chunk)?,
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `attach SERVICE`: the container's output on ours (stdout and stderr apart), our stdin to
/// its (unless `--no-stdin`); the container's exit code when it exits.
pub fn attach(g: &GlobalArgs, a: &AttachArgs) -> Result<ExitCode, CliError> {
    let project = g.load(std::slice::from_ref(&a.service), false)?.project;
    runtime()?.block_on(async {
        let engine = g.engine().await?;
        let input = (!a.no_stdin).then(|| {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
            crate::cli::terminal::read_stdin(tx);
            rx
        });
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<crate::engine::LogChunk>();
        let printer = tokio::spawn(async move {
            while let Some(c) = rx.recv().await {
                super::attach::write_chunk(&c);
            }
        });
        let t = crate::engine::Terminal { input, output: tx, size: None };
        let code = containers::attach(&engine, &project, &a.service, a.index, t).await;
        let _ = printer.await;
        Ok(ExitCode::from(code?.clamp(0, 255) as u8))
    })
}
