//! The committed JSON Schemas must match the Rust types: the compose model
//! (`schemas/compose.schema.json`) and the `--progress json` events (`schemas/events.schema.json`).
//! To refresh them after changing the types: `WHARF_UPDATE_SCHEMA=1 cargo test --test schema`.

fn check(schema: schemars::Schema, file: &str) {
    let text = serde_json::to_string_pretty(&schema).unwrap() + "\n";
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas").join(file);
    if std::env::var_os("WHARF_UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &text).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(committed == text, "schemas/{file} is out of date: run `WHARF_UPDATE_SCHEMA=1 cargo test --test schema`");
}

#[test]
fn committed_compose_schema_matches_the_types() {
    check(schemars::schema_for!(wharf::model::Project), "compose.schema.json");
}

#[test]
fn committed_events_schema_matches_the_types() {
    check(schemars::schema_for!(wharf::progress::ProgressEvent), "events.schema.json");
}

#[test]
fn committed_graph_schema_matches_the_types() {
    check(schemars::schema_for!(wharf::graph::view::View), "graph.schema.json");
}

#[test]
fn committed_lint_schema_matches_the_types() {
    check(schemars::schema_for!(wharf::lint::report::Report), "lint.schema.json");
}
