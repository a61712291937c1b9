//! Feeds arbitrary bytes to the loader as a compose file, as a `.env` file, or as an included
//! file: it must answer with a project or with diagnostics, never panic or hang, and whatever
//! loads must also hash and serialise.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;

const COMPOSE_WITH_ENV: &str = "services:\n  web:\n    image: ${IMAGE:-busybox}\n    environment:\n      A: ${A}\n    ports: [\"${PORT:-80}:80\"]\n";

fn dir() -> PathBuf {
    // One directory per fuzzing process, on tmpfs where there is one.
    let base = if std::path::Path::new("/dev/shm").is_dir() { PathBuf::from("/dev/shm") } else { std::env::temp_dir() };
    let d = base.join(format!("wharf-fuzz-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&d);
    d
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else { return };
    let d = dir();
    let _ = std::fs::remove_file(d.join(".env"));
    let _ = std::fs::remove_file(d.join("other.yaml"));
    match mode % 3 {
        0 => std::fs::write(d.join("compose.yaml"), body).unwrap(),
        1 => {
            std::fs::write(d.join("compose.yaml"), COMPOSE_WITH_ENV).unwrap();
            std::fs::write(d.join(".env"), body).unwrap();
        }
        _ => {
            std::fs::write(d.join("compose.yaml"), "include: [other.yaml]\nservices:\n  base:\n    image: busybox\n").unwrap();
            std::fs::write(d.join("other.yaml"), body).unwrap();
        }
    }
    let mut opts = wharf::LoadOptions { cwd: d.clone(), ..Default::default() };
    opts.environment.insert("HOME".into(), "/home/fuzz".into());
    match wharf::load(&opts) {
        Ok(l) => {
            for s in l.project.services.values() {
                let _ = wharf::hash::service_hash(s);
            }
            let _ = l.project.to_json();
        }
        Err(diags) => assert!(diags.has_errors(), "a refused load must say why"),
    }
});
