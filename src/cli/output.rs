//! Writing the output the way a Unix tool does: a reader that went away (`wharf logs | head`)
//! ends the command quietly, and any other write error (a full disk, `> /dev/full`) is an error
//! with exit code 1 — never a panic with a backtrace, never output lost behind exit code 0.
//!
//! Rust ignores SIGPIPE (so that a closed socket to the engine is an error, not death), which
//! makes every `println!` into a closed pipe panic. Rather than die by SIGPIPE for every write
//! (the engine socket and credential-helper pipes included), the CLI turns just these panics
//! into the right ending, in one place: a panic hook installed before any verb runs.

use std::io::Write;

use crate::cli::CliError;

/// What `sh` reports for a process ended by SIGPIPE (128 + 13), as `yes | head` gives.
const BROKEN_PIPE: i32 = 141;

/// Installs the hook; the CLI calls it first.
pub fn install() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let msg = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        let failed =
            msg.strip_prefix("failed printing to stdout: ").or_else(|| msg.strip_prefix("failed printing to stderr: "));
        match failed {
            Some(why) if why.contains("Broken pipe") => std::process::exit(BROKEN_PIPE),
            Some(why) => {
                let _ = writeln!(std::io::stderr(), "error: cannot write the output: {why}");
                std::process::exit(1);
            }
            None => default(info),
        }
    }));
}

/// Writes `bytes` to stdout and flushes: a closed pipe ends quietly, another error is one.
pub fn write(bytes: &[u8]) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(BROKEN_PIPE),
        Err(e) => Err(CliError::msg(format!("cannot write the output: {e}"))),
    }
}

/// Flushes what is left of stdout at the end of a command.
pub fn finish() -> Result<(), CliError> {
    write(&[])
}
