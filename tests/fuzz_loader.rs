//! Property tests: the loader never panics, whatever it is fed; it answers with a project or
//! with diagnostics. These proptest cases run in every `cargo test` (`PROPTEST_CASES=20000` runs a
//! longer campaign); the coverage-guided target in `fuzz/` (`scripts/fuzz.sh`) runs in CI too.

use proptest::prelude::*;
use std::path::Path;

const SEEDS: &[&str] = &[
    include_str!("fixtures/good-full/compose.yaml"),
    include_str!("fixtures/bad-many/compose.yaml"),
    include_str!("../examples/hello/compose.yaml"),
];

fn load_text(dir: &Path, text: &str) {
    std::fs::write(dir.join("compose.yaml"), text).unwrap();
    let mut opts = wharf::LoadOptions { cwd: dir.to_path_buf(), ..Default::default() };
    opts.environment.insert("HOME".into(), "/home/u".into());
    match wharf::load(&opts) {
        Ok(l) => {
            // Whatever loads must also hash and serialise.
            for s in l.project.services.values() {
                let _ = wharf::hash::service_hash(s);
            }
            let _ = l.project.to_json();
        }
        Err(d) => assert!(d.has_errors(), "a failed load must say why"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn mutated_real_files(seed in 0..SEEDS.len(), edits in prop::collection::vec((any::<prop::sample::Index>(), 0u8..4, "[ -~\n]{0,6}"), 1..8)) {
        let mut text: Vec<char> = SEEDS[seed].chars().collect();
        for (idx, op, s) in edits {
            let at = idx.index(text.len() + 1);
            match op {
                0 => { text.splice(at..at, s.chars()); }
                1 => { let end = (at + s.len()).min(text.len()); text.drain(at..end); }
                2 => { if at < text.len() { text[at] = s.chars().next().unwrap_or('$'); } }
                _ => { let line: String = text.iter().collect::<String>().lines().nth(at % 20).unwrap_or("").to_string(); text.extend(format!("\n{line}").chars()); }
            }
        }
        let tmp = tempfile::tempdir().unwrap();
        load_text(tmp.path(), &text.into_iter().collect::<String>());
    }

    #[test]
    fn generated_yaml_shapes(text in "(services:\n(  [a-z]{1,3}:\n(    (image|ports|volumes|environment|depends_on|extends|command|networks|build|healthcheck|profiles|x-a): ([a-z0-9$:{}\\[\\],./ -]{0,12}|\n      - [a-z0-9:/$]{0,8}|&a x|\\*a|<<: \\*a)\n){0,4}){0,3})?(networks|volumes|include|name): ?[a-z0-9{}\\[\\]]{0,6}\n?") {
        let tmp = tempfile::tempdir().unwrap();
        load_text(tmp.path(), &text);
    }
}
