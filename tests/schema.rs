//! The committed JSON Schema of the compose model must match the Rust types.
//! To refresh it after changing the model: `WHARF_UPDATE_SCHEMA=1 cargo test --test schema`.

#[test]
fn committed_schema_matches_the_types() {
    let schema = schemars::schema_for!(wharf::model::Project);
    let text = serde_json::to_string_pretty(&schema).unwrap() + "\n";
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/compose.schema.json");
    if std::env::var_os("WHARF_UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &text).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == text,
        "schemas/compose.schema.json is out of date: run `WHARF_UPDATE_SCHEMA=1 cargo test --test schema`"
    );
}
