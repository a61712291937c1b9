//! The file-watch dev loop from the library: bring a stack with `develop.watch` up, run the
//! loop, change a file on the host, and read it back inside the container.
//!
//! Run it with: `scripts/setup.sh && cargo run --example watch_stack`

use std::time::Duration;

use wharf::stack::Stack;

const COMPOSE: &str = r#"
services:
  app:
    image: wharf-busybox:latest
    init: true
    command: ["sleep", "300"]
    develop:
      watch:
        - {path: ./src, action: sync, target: /srv, initial_sync: true}
"#;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    std::fs::create_dir_all(dir.path().join("src"))?;
    std::fs::write(dir.path().join("compose.yaml"), COMPOSE)?;
    let stack = Stack::builder(dir.path().join("compose.yaml")).up().await?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let edit = async {
        // Whether this lands before the watcher starts or after, it is synced: `initial_sync`
        // sends the tree at start, and every change after that.
        std::fs::write(dir.path().join("src/hello.txt"), "hello from the host\n")?;
        for _ in 0..50 {
            let out = stack.exec("app", &["cat", "/srv/hello.txt"]).await?;
            if out.exit_code == 0 {
                println!("inside the container: {}", out.output.trim());
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = stop.send(());
        Ok::<_, Box<dyn std::error::Error>>(())
    };
    let (watched, edited) = tokio::join!(
        stack.watch(&[], async {
            let _ = stopped.await;
        }),
        edit
    );
    watched?;
    edited?;
    stack.down().await?;
    Ok(())
}
