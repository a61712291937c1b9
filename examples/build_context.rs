//! Times wharf's build-context preparation alone: walk a directory, filter it by its
//! `.dockerignore`, write the tar in chunks as the engine would receive it, and drop the bytes.
//! `bench/build.py` runs it to show what share of a build is wharf's own work.
//!
//! ```sh
//! cargo run --release --example build_context -- DIR [REPS]
//! ```
//! Prints one line per repetition: `files=N bytes=N seconds=S`.

use futures::StreamExt;
use wharf::build::context::{self, Context};
use wharf::build::ignore::DockerIgnore;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().ok_or("usage: build_context DIR [REPS]")?);
    let reps: usize = args.next().map(|r| r.parse()).transpose()?.unwrap_or(1);
    let ignore = match std::fs::read_to_string(dir.join(".dockerignore")) {
        Ok(text) => DockerIgnore::parse(&text).map_err(|e| format!("{}: {e}", dir.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => DockerIgnore::default(),
        Err(e) => return Err(format!("{}/.dockerignore: {e}", dir.display()).into()),
    };
    for _ in 0..reps {
        let started = std::time::Instant::now();
        let ctx = Context { root: dir.clone(), ignore: ignore.clone(), extra: vec![] };
        let (mut stream, done) = context::stream(ctx);
        while let Some(chunk) = stream.next().await {
            chunk?;
        }
        let sent = done.await??;
        println!("files={} bytes={} seconds={:.4}", sent.files, sent.bytes, started.elapsed().as_secs_f64());
    }
    Ok(())
}
