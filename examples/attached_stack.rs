//! Attached, from the library: bring a stack up, follow its output as `wharf up` (without `-d`)
//! does, and stop when its one-shot job exits (`--abort-on-container-exit`), with the job's
//! exit code. A Ctrl-C stops it gracefully; a second one kills it.
//!
//! Run it with: `scripts/setup.sh && cargo run --example attached_stack`

use futures::StreamExt;
use wharf::ops::attach::{AttachRequest, Shown};
use wharf::stack::Stack;

const COMPOSE: &str = r#"
services:
  web:
    image: wharf-busybox:latest
    init: true
    command: ["sh", "-c", "echo web is up; exec sleep 300"]
  job:
    image: wharf-busybox:latest
    command: ["sh", "-c", "for i in 1 2 3; do echo step $$i; sleep 0.2; done; exit 3"]
    depends_on: [web]
"#;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("compose.yaml"), COMPOSE)?;
    let stack = Stack::builder(dir.path().join("compose.yaml")).up().await?;
    // Ctrl-C as the interrupt stream.
    let interrupts =
        futures::stream::unfold((), |()| async { tokio::signal::ctrl_c().await.ok().map(|_| ((), ())) }).boxed();
    let req = AttachRequest { abort_on_container_exit: true, ..Default::default() };
    let outcome = stack
        .attach(req, interrupts, |shown| match shown {
            Shown::Line(l) => println!("{:<6} | {}", l.short_name, l.text),
            Shown::Exited { short, code, .. } => println!("{short} exited with code {code}"),
            Shown::Note { short, text, .. } => println!("{short} {text}"),
            Shown::Attaching(names) => println!("Attaching to {}", names.join(", ")),
            Shown::Message(m) => println!("{m}"),
            Shown::Joined(_) => {}
        })
        .await?;
    println!("done: exit code {} (interrupted: {})", outcome.code, outcome.interrupted);
    stack.down().await?;
    Ok(())
}
