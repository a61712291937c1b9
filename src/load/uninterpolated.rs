//! `config --no-interpolate`: what is printed when variables are left as written.

use serde_json::Value;

/// The canonical tree as `config --no-interpolate` prints it: with the project's name, and only
/// the top-level resources some service uses (compose drops the others, as
/// [`crate::model::Project::retain_used_resources`] does for the typed project, which without
/// interpolation may lack a service whose `${…}` values it cannot type).
pub(super) fn printable(mut tree: Value, name: &str) -> Value {
    let mut used: [(&str, Vec<String>); 4] =
        [("networks", Vec::new()), ("volumes", Vec::new()), ("secrets", Vec::new()), ("configs", Vec::new())];
    for svc in tree.get("services").and_then(Value::as_object).into_iter().flat_map(|s| s.values()) {
        used[0].1.extend(svc.get("networks").and_then(Value::as_object).into_iter().flat_map(|n| n.keys().cloned()));
        for v in svc.get("volumes").and_then(Value::as_array).into_iter().flatten() {
            if v.get("type").and_then(Value::as_str) == Some("volume")
                && let Some(src) = v.get("source").and_then(Value::as_str)
            {
                used[1].1.push(src.to_string());
            }
        }
        let sources = |k: &str| -> Vec<String> {
            let refs = svc.get(k).and_then(Value::as_array).cloned().unwrap_or_default();
            refs.iter().filter_map(|r| r.get("source").and_then(Value::as_str).map(String::from)).collect()
        };
        used[2].1.extend(sources("secrets"));
        used[3].1.extend(sources("configs"));
    }
    if let Some(top) = tree.as_object_mut() {
        top.insert("name".into(), Value::String(name.to_string()));
        for (kind, keys) in used {
            if let Some(section) = top.get_mut(kind).and_then(Value::as_object_mut) {
                section.retain(|k, _| keys.contains(k));
                if section.is_empty() {
                    top.remove(kind);
                }
            }
        }
    }
    tree
}
