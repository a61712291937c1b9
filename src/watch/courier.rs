//! How synced files reach a container. The engine's archive API costs about 50 ms a call on
//! this engine (it starts a helper process each time), so for small batches wharf keeps one
//! shell running in each container (`exec` with stdin open) and hands it a script: delete what
//! went, unpack a base64'd tar of what changed, print a marker with the status. A batch then
//! costs a few milliseconds. Images without `sh`, `base64` and `tar`, large batches, and a
//! shell that died (its container restarted) fall back to the archive API.

use super::Error;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;

use crate::engine::{Engine, ExecSession};

/// Batches larger than this go through the archive API (a shell here-document is not the way
/// to move many megabytes).
const SHELL_LIMIT: usize = 1 << 20;

struct Shell {
    session: ExecSession,
    seq: u64,
}

/// `'…'` for the shell.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The script for one batch; `seq` names its end marker.
pub fn script(deletes: &[String], tar: &[u8], seq: u64) -> String {
    let mut s = String::from("s=0\n");
    if !deletes.is_empty() {
        let args: Vec<String> = deletes.iter().map(|d| quote(d)).collect();
        s.push_str(&format!("rm -rf -- {} || s=$?\n", args.join(" ")));
    }
    if !tar.is_empty() {
        let b64 = base64::engine::general_purpose::STANDARD.encode(tar);
        s.push_str("base64 -d <<'__WHARF_EOF__' | tar -x -C / || s=$?\n");
        for chunk in b64.as_bytes().chunks(76) {
            s.push_str(std::str::from_utf8(chunk).unwrap_or(""));
            s.push('\n');
        }
        s.push_str("__WHARF_EOF__\n");
    }
    s.push_str(&format!("echo \"__wharf_done_{seq} $s\"\n"));
    s
}

impl Shell {
    async fn open<E: Engine>(e: &E, id: &str) -> Option<Shell> {
        let cmd = ["sh".to_string()];
        let mut session = e.exec_session(id, &cmd).await.ok()?;
        let probe = "if command -v base64 >/dev/null && command -v tar >/dev/null; then echo __wharf_ready; else echo __wharf_missing; fi\n";
        session.input.send(probe.as_bytes().to_vec()).ok()?;
        let out = read_until(&mut session, "__wharf_", Duration::from_secs(3)).await?;
        out.contains("__wharf_ready").then_some(Shell { session, seq: 0 })
    }

    /// Runs one batch; `Err` when the shell is gone or the commands failed.
    async fn run(&mut self, deletes: &[String], tar: &[u8]) -> Result<(), Error> {
        self.seq += 1;
        let marker = format!("__wharf_done_{} ", self.seq);
        self.session.input.send(script(deletes, tar, self.seq).into_bytes()).map_err(|_| Error::ShellGone)?;
        let out = read_until(&mut self.session, &marker, Duration::from_secs(30)).await.ok_or(Error::ShellGone)?;
        let (before, after) = out.split_once(&marker).unwrap_or((&out, "1"));
        match after.split_whitespace().next() {
            Some("0") => Ok(()),
            _ => Err(Error::InContainer(before.trim().to_string())),
        }
    }
}

/// Reads the session's output until `needle` and the end of its line; `None` if it ends first
/// or time runs out.
async fn read_until(s: &mut ExecSession, needle: &str, limit: Duration) -> Option<String> {
    let mut buf = String::new();
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(i) = buf.find(needle)
            && buf[i..].contains('\n')
        {
            return Some(buf);
        }
        match tokio::time::timeout_at(deadline, s.output.recv()).await {
            Ok(Some(bytes)) => buf.push_str(&String::from_utf8_lossy(&bytes)),
            _ => return None,
        }
    }
}

/// A container's shell: not tried yet (`None`), running, or absent (`Some(None)`: the image
/// has no shell, so the archive API is used).
type Slot = Arc<tokio::sync::Mutex<Option<Option<Shell>>>>;

/// One shell per container, opened on first use.
#[derive(Default, Clone)]
pub struct Courier {
    shells: Arc<Mutex<HashMap<String, Slot>>>,
}

impl Courier {
    /// Forgets the shell of container `id` (it stopped or restarted).
    pub fn forget(&self, id: &str) {
        if let Ok(mut m) = self.shells.lock() {
            m.remove(id);
        }
    }

    /// Deletes `deletes` and unpacks `tar` at `/` in container `id`.
    pub async fn deliver<E: Engine>(&self, e: &E, id: &str, deletes: &[String], tar: Vec<u8>) -> Result<(), Error> {
        let slot = {
            let mut m = self.shells.lock().unwrap_or_else(|p| p.into_inner());
            m.entry(id.to_string()).or_insert_with(|| Arc::new(tokio::sync::Mutex::new(None))).clone()
        };
        // An archive of nothing is its two end blocks.
        let tar = if tar.len() > 1024 { tar } else { Vec::new() };
        if tar.len() <= SHELL_LIMIT {
            let mut shell = slot.lock().await;
            if shell.is_none() {
                *shell = Some(Shell::open(e, id).await);
            }
            if let Some(Some(sh)) = shell.as_mut() {
                match sh.run(deletes, &tar).await {
                    Ok(()) => return Ok(()),
                    // The shell died (container restarted): try the API, and a new shell next time.
                    Err(Error::ShellGone) => *shell = None,
                    Err(err) => return Err(err),
                }
            }
        }
        archive(e, id, deletes, tar).await
    }
}

/// The same through the engine's exec and archive APIs.
async fn archive<E: Engine>(e: &E, id: &str, deletes: &[String], tar: Vec<u8>) -> Result<(), Error> {
    if !deletes.is_empty() {
        let mut cmd = vec!["rm".to_string(), "-rf".to_string(), "--".to_string()];
        cmd.extend(deletes.iter().cloned());
        let out = e.exec(id, &cmd).await?;
        if out.exit_code != 0 {
            return Err(Error::Delete(out.output.trim().to_string()));
        }
    }
    if !tar.is_empty() {
        e.upload_archive(id, "/", tar).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_quote_paths_and_carry_the_tar_in_base64() {
        let s = script(&["/app/it's here".into(), "/app/b".into()], b"TAR", 7);
        assert_eq!(
            s,
            "s=0\nrm -rf -- '/app/it'\\''s here' '/app/b' || s=$?\nbase64 -d <<'__WHARF_EOF__' | tar -x -C / || s=$?\nVEFS\n__WHARF_EOF__\necho \"__wharf_done_7 $s\"\n"
        );
        assert_eq!(script(&[], &[], 1), "s=0\necho \"__wharf_done_1 $s\"\n");
    }
}
