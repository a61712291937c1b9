//! The command line: clap arguments shaped like `docker compose`, one file per verb under
//! `commands/`. Only this module prints errors and chooses exit codes.

pub mod commands;
pub mod context;
pub mod error;
pub mod output;
pub mod progress;
pub mod terminal;
pub mod yaml_out;

pub use error::CliError;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::load::{LoadOptions, Loaded};

#[derive(Debug, Parser)]
#[command(name = "wharf", version, about = "A Compose-Specification orchestrator for the Docker Engine")]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// The options every verb takes, as `docker compose` has them.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Compose configuration files (repeatable)
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Vec<PathBuf>,
    /// Project name
    #[arg(short = 'p', long = "project-name", value_name = "NAME")]
    pub project_name: Option<String>,
    /// Alternate working directory (default: the directory of the first compose file)
    #[arg(long, global = true, value_name = "DIR")]
    pub project_directory: Option<PathBuf>,
    /// Enable a profile (repeatable)
    #[arg(long = "profile", global = true, value_name = "PROFILE")]
    pub profile: Vec<String>,
    /// Alternate environment file (repeatable)
    #[arg(long = "env-file", global = true, value_name = "FILE")]
    pub env_file: Vec<PathBuf>,
    /// Progress output
    #[arg(long, global = true, value_enum, env = "COMPOSE_PROGRESS", default_value = "auto")]
    pub progress: Progress,
    /// Control when to print ANSI control characters
    #[arg(long, global = true, value_enum, env = "COMPOSE_ANSI", default_value = "auto")]
    pub ansi: Ansi,
    /// Print what would be done, change nothing
    #[arg(long, global = true)]
    pub dry_run: bool,
    /// Include all resources, even those not used by services
    #[arg(long, global = true)]
    pub all_resources: bool,
    /// Run compose in backward compatibility mode (v1 container names)
    #[arg(long, global = true)]
    pub compatibility: bool,
    /// Maximum engine calls in flight (-1: unlimited)
    #[arg(long, global = true, env = "COMPOSE_PARALLEL_LIMIT", default_value_t = -1, allow_negative_numbers = true)]
    pub parallel: i64,
    /// Where progress goes (chosen from `--progress` once the arguments are parsed).
    #[arg(skip)]
    pub shown: progress::Shown,
    /// The verb works on containers that exist and creates none: the file is loaded without
    /// the checks compose makes only where it creates (two services sharing a `container_name`).
    #[arg(skip)]
    pub existing_only: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Progress {
    Auto,
    Tty,
    Plain,
    Json,
    Quiet,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Ansi {
    Never,
    Always,
    Auto,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parse, resolve and render the compose file in canonical format
    Config(commands::config::ConfigArgs),
    /// Build or rebuild services
    Build(commands::images::BuildArgs),
    /// Pull service images
    Pull(commands::images::PullArgs),
    /// Push service images
    Push(commands::images::PushArgs),
    /// Create and start containers
    Up(commands::lifecycle::UpArgs),
    /// Create containers without starting them
    Create(commands::lifecycle::UpArgs),
    /// Stop and remove containers and networks (`-v`: volumes too)
    Down(commands::lifecycle::DownArgs),
    /// List containers
    Ps(commands::lifecycle::PsArgs),
    /// Start services
    Start(commands::verbs::ServicesArgs),
    /// Stop services
    Stop(commands::verbs::StopArgs),
    /// Restart service containers
    Restart(commands::verbs::RestartArgs),
    /// Force stop service containers
    Kill(commands::verbs::KillArgs),
    /// Removes stopped service containers
    Rm(commands::verbs::RmArgs),
    /// Pause services
    Pause(commands::verbs::ServicesArgs),
    /// Unpause services
    Unpause(commands::verbs::ServicesArgs),
    /// List running compose projects
    Ls(commands::verbs::LsArgs),
    /// View output from containers
    Logs(commands::attach::LogsArgs),
    /// Block until containers of the services stop, and return the first exit code
    Wait(commands::verbs::WaitArgs),
    /// Bring up a fresh stack, run CMD against it, and always remove the stack
    Test(commands::testenv::TestArgs),
    /// Remove test stacks and pool copies whose owning process is gone
    Gc,
    /// Warm pools: copies of the project kept ready and paused for `wharf test --pool`
    Pool(commands::pool::PoolArgs),
    /// Print the public port for a port binding
    Port(commands::verbs::PortArgs),
    /// Execute a command in a running container
    Exec(commands::verbs::ExecArgs),
    /// Create a new image from a service container's changes
    Commit(commands::capture::CommitArgs),
    /// Export a service container's filesystem as a tar archive
    Export(commands::capture::ExportArgs),
    /// Attach local standard input, output, and error streams to a service's running container
    Attach(commands::capture::AttachArgs),
    /// Run a one-off command on a service
    Run(commands::run::RunArgs),
    /// Display the running processes
    Top(commands::inspect::TopArgs),
    /// Copy files/folders between a service container and the local filesystem
    Cp(commands::copy::CpArgs),
    /// List images used by the created containers
    Images(commands::inspect::ImagesArgs),
    /// Receive real time events from containers
    Events(commands::inspect::EventsArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(commands::inspect::StatsArgs),
    /// Scale services (`SERVICE=NUM`…), without recreating the others
    Scale(commands::lifecycle::ScaleArgs),
    #[command(name = "__reap", hide = true)]
    Reap(commands::testenv::ReapArgs),
    /// Watch build context for service and rebuild/refresh containers when files are updated
    Watch(commands::watch::WatchArgs),
    /// Show the service dependency graph (tree, DOT, Mermaid or JSON)
    Graph(commands::graph::GraphArgs),
    /// Find secrets written into the compose files, build contexts and images, and common mistakes
    Lint(commands::lint::LintArgs),
    /// Deploy the compose file to a Docker Swarm cluster, as `docker stack` does
    Stack(commands::stack::StackArgs),
    /// Show the wharf version
    Version(commands::version::VersionArgs),
}

/// Runs the command line; the binary's whole `main`.
pub fn run() -> ExitCode {
    output::install();
    let mut cli = Cli::parse();
    cli.global.shown = progress::Shown::new(cli.global.progress_mode());
    cli.global.existing_only = matches!(
        cli.command,
        Command::Down(_)
            | Command::Ps(_)
            | Command::Start(_)
            | Command::Stop(_)
            | Command::Restart(_)
            | Command::Kill(_)
            | Command::Rm(_)
            | Command::Pause(_)
            | Command::Unpause(_)
            | Command::Logs(_)
            | Command::Wait(_)
            | Command::Port(_)
            | Command::Exec(_)
            | Command::Commit(_)
            | Command::Export(_)
            | Command::Attach(_)
            | Command::Top(_)
            | Command::Cp(_)
            | Command::Images(_)
            | Command::Events(_)
            | Command::Stats(_)
    );
    let result = match &cli.command {
        Command::Config(a) => commands::config::run(&cli.global, a),
        Command::Version(a) => commands::version::run(a),
        Command::Graph(a) => commands::graph::run(&cli.global, a),
        Command::Lint(a) => commands::lint::run(&cli.global, a),
        Command::Build(a) => commands::images::build(&cli.global, a),
        Command::Pull(a) => commands::images::pull(&cli.global, a),
        Command::Push(a) => commands::images::push(&cli.global, a),
        Command::Up(a) => commands::lifecycle::up(&cli.global, a, false),
        Command::Create(a) => commands::lifecycle::up(&cli.global, a, true),
        Command::Down(a) => commands::lifecycle::down_cmd(&cli.global, a),
        Command::Ps(a) => commands::lifecycle::ps(&cli.global, a),
        Command::Start(a) => commands::verbs::start(&cli.global, a),
        Command::Stop(a) => commands::verbs::stop(&cli.global, a),
        Command::Restart(a) => commands::verbs::restart(&cli.global, a),
        Command::Kill(a) => commands::verbs::kill(&cli.global, a),
        Command::Rm(a) => commands::verbs::rm(&cli.global, a),
        Command::Pause(a) => commands::verbs::pause(&cli.global, a, true),
        Command::Unpause(a) => commands::verbs::pause(&cli.global, a, false),
        Command::Ls(a) => commands::verbs::ls(&cli.global, a),
        Command::Logs(a) => commands::attach::logs(&cli.global, a),
        Command::Wait(a) => commands::verbs::wait(&cli.global, a),
        Command::Test(a) => commands::testenv::test(&cli.global, a),
        Command::Gc => commands::testenv::gc(&cli.global),
        Command::Pool(a) => commands::pool::run(&cli.global, a),
        Command::Port(a) => commands::verbs::port(&cli.global, a),
        Command::Exec(a) => commands::verbs::exec(&cli.global, a),
        Command::Commit(a) => commands::capture::commit(&cli.global, a),
        Command::Export(a) => commands::capture::export(&cli.global, a),
        Command::Attach(a) => commands::capture::attach(&cli.global, a),
        Command::Run(a) => commands::run::run(&cli.global, a),
        Command::Top(a) => commands::inspect::top(&cli.global, a),
        Command::Cp(a) => commands::copy::cp(&cli.global, a),
        Command::Images(a) => commands::inspect::images(&cli.global, a),
        Command::Events(a) => commands::inspect::events(&cli.global, a),
        Command::Stats(a) => commands::inspect::stats(&cli.global, a),
        Command::Scale(a) => commands::lifecycle::scale(&cli.global, a),
        Command::Reap(a) => commands::testenv::reap(a),
        Command::Watch(a) => commands::watch::watch(&cli.global, a),
        Command::Stack(a) => commands::stack::run(&cli.global, a),
    };
    cli.global.shown.finish();
    context::finish_trace();
    let result = result.and_then(|code| output::finish().map(|()| code));
    match result {
        Ok(code) => code,
        Err(e) => {
            eprint!("{}", e.render());
            ExitCode::from(e.exit_code())
        }
    }
}

impl GlobalArgs {
    /// The progress rendering: `auto` is `tty` when stderr is a terminal, else `plain`.
    pub fn progress_mode(&self) -> progress::Mode {
        use progress::Mode;
        match self.progress {
            Progress::Tty => Mode::Tty,
            Progress::Plain => Mode::Plain,
            Progress::Json => Mode::Json,
            Progress::Quiet => Mode::Quiet,
            Progress::Auto if self.ansi == Ansi::Never => Mode::Plain,
            Progress::Auto if std::io::IsTerminal::is_terminal(&std::io::stderr()) => Mode::Tty,
            Progress::Auto => Mode::Plain,
        }
    }

    /// The reporter verbs pass down to the library.
    pub fn report(&self) -> crate::progress::Report {
        self.shown.report()
    }

    /// Whether to colour output: `--ansi`, then `NO_COLOR`, then whether stdout is a terminal.
    pub fn color(&self) -> bool {
        match self.ansi {
            Ansi::Always => true,
            Ansi::Never => false,
            Ansi::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::io::IsTerminal::is_terminal(&std::io::stdout())
            }
        }
    }

    pub fn load_options(&self, services: &[String], no_interpolate: bool) -> LoadOptions {
        LoadOptions {
            files: self.file.clone(),
            project_name: self.project_name.clone(),
            project_directory: self.project_directory.clone(),
            profiles: self.profile.clone(),
            env_files: self.env_file.clone(),
            services: services.to_vec(),
            no_interpolate,
            all_resources: self.all_resources,
            compatibility: self.compatibility,
            skip_container_name_check: self.existing_only,
            ..LoadOptions::from_process()
        }
    }

    /// Loads the project, printing warnings to stderr.
    pub fn load(&self, services: &[String], no_interpolate: bool) -> Result<Loaded, CliError> {
        self.load_with(self.load_options(services, no_interpolate))
    }

    /// Loads the project with `opts`, printing warnings to stderr.
    pub fn load_with(&self, opts: LoadOptions) -> Result<Loaded, CliError> {
        let loaded = crate::load::load(&opts).map_err(CliError::Load)?;
        if !loaded.warnings.0.is_empty() {
            eprint!("{}", loaded.warnings.render());
        }
        Ok(loaded)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_verb_has_consistent_arguments() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
