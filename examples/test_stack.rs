//! Using wharf as a library from a test suite: bring `examples/hello` up under a unique project
//! name, wait until it is healthy, talk to it, and tear it down (also on drop, and — with the
//! reaper — even if this process is killed).
//!
//! Run it with: `scripts/setup.sh && cargo run --example test_stack`

use wharf::stack::Stack;

#[tokio::main]
async fn main() -> Result<(), wharf::stack::Error> {
    let compose = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/hello/compose.yaml");
    let stack = Stack::builder(compose)
        .env("GREETING", "hi from the library")
        // Removes the stack if this process dies before `down` (needs a wharf binary).
        .reaper(concat!(env!("CARGO_MANIFEST_DIR"), "/target/debug/wharf"))
        .up()
        .await?;
    println!("project {} is up", stack.name());
    let port = stack.host_port("web", 8080).await?;
    println!("web listens on 127.0.0.1:{port}");
    let state = stack.exec("web", &["wget", "-qO-", "http://db:5432/state"]).await?;
    println!("web reaches db: {}", state.output.trim());
    // A one-off container of a service (as `wharf run --rm web …`), removed afterwards.
    let one = stack.run("web", &["sh", "-c", "echo greeting: $GREETING"]).await?;
    println!("one-off exited with {}: {}", one.exit_code, one.text().trim());
    stack.down().await?;
    println!("torn down");
    Ok(())
}
