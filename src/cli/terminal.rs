//! This terminal: raw mode for a TTY session, keystrokes read on a thread of their own, the
//! size followed through SIGWINCH.

use crate::cli::CliError;

/// Puts the terminal back as it was, also when `exec_tty` returns early.
struct RawMode;

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = crossterm::terminal::disable_raw_mode();
    }
}

/// Reads stdin on a thread of its own (a blocking read) into `tx`, until EOF; the thread ends
/// with the process otherwise.
pub(crate) fn read_stdin(tx: tokio::sync::mpsc::UnboundedSender<Vec<u8>>) {
    use std::io::Read;
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        let mut stdin = std::io::stdin();
        while let Ok(n) = stdin.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
}

/// Runs `f` with this terminal in raw mode: `f` gets the terminal size (rows, columns), the
/// keystrokes as they are typed, and a channel whose bytes are written out as they come.
pub(crate) async fn with_terminal<F, Fut, Er>(f: F) -> Result<i64, CliError>
where
    CliError: From<Er>,
    F: FnOnce(
        tokio::sync::watch::Receiver<(u16, u16)>,
        tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>,
        tokio::sync::mpsc::UnboundedSender<Vec<u8>>,
    ) -> Fut,
    Fut: Future<Output = Result<i64, Er>>,
{
    use std::io::Write;
    let (cols, rows) = crossterm::terminal::size().unwrap_or((80, 24));
    // The size follows the terminal: SIGWINCH re-reads it.
    let (size_tx, size_rx) = tokio::sync::watch::channel((rows, cols));
    let resized = tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut winch) = signal(SignalKind::window_change()) else { return };
        while winch.recv().await.is_some() {
            if let Ok((c, r)) = crossterm::terminal::size() {
                let _ = size_tx.send((r, c));
            }
        }
    });
    let (in_tx, in_rx) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
    let (out_tx, mut out_rx) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
    crossterm::terminal::enable_raw_mode()
        .map_err(|x| CliError::msg(format!("cannot set the terminal to raw mode: {x}")))?;
    let _raw = RawMode;
    read_stdin(in_tx);
    let printer = tokio::spawn(async move {
        let mut out = std::io::stdout();
        while let Some(bytes) = out_rx.recv().await {
            let _ = out.write_all(&bytes);
            let _ = out.flush();
        }
    });
    let code = f(size_rx, in_rx, out_tx).await;
    resized.abort();
    let code = code?;
    let _ = printer.await;
    Ok(code)
}
