//! The project as `docker compose config --format json` prints it. wharf's model keeps values in
//! the types the rest of wharf works with (sizes as numbers, modes as integers, unset fields
//! absent); compose's printer has conventions of its own, which `config` reproduces here so its
//! output can be diffed against compose's (`tests/config_conformance.rs` checks that it is):
//! - `command` and `entrypoint` are always present (`null` when unset);
//! - every network has an `ipam` object (without `options`), a service no `x-*` keys;
//! - byte sizes are strings of bytes; file modes are octal strings (`"0440"`);
//! - a `false` that compose's types omit when false is left out;
//! - `extra_hosts` entries are sorted;
//! - `blkio_config` device entries use compose's capitalised field names;
//! - the `exec` of a watch rule that has none is `{command: null}`;
//! - a `deploy` always has `resources` and `placement` objects.
//!
//! compose's YAML rendering (`config` without `--format json`) differs from its JSON: empty
//! structures and null commands are left out, blkio fields are in lower case, and `x-*` keys
//! below the top level and the top-level `models` are shown. [`yaml_form`] turns the JSON form
//! into that one.

use serde_json::{Map, Value};

/// Keys whose `false` compose does not print, per object kind.
const SERVICE_FALSE_OMITTED: &[&str] =
    &["privileged", "read_only", "stdin_open", "tty", "oom_kill_disable", "use_api_socket"];
const BUILD_FALSE_OMITTED: &[&str] = &["no_cache", "pull", "privileged"];
const NETWORK_FALSE_OMITTED: &[&str] = &["internal", "attachable"];

/// Rewrites `project` (wharf's serialisation of a [`super::Project`]) into compose's printed form.
pub(super) fn apply(project: &mut Value) {
    let Some(top) = project.as_object_mut() else { return };
    if let Some(services) = top.get_mut("services").and_then(Value::as_object_mut) {
        for svc in services.values_mut() {
            if let Some(s) = svc.as_object_mut() {
                service(s);
            }
        }
    }
    if let Some(networks) = top.get_mut("networks").and_then(Value::as_object_mut) {
        for net in networks.values_mut() {
            if let Some(n) = net.as_object_mut() {
                n.entry("ipam").or_insert_with(|| Value::Object(Map::new()));
                // compose's IPAM type has no `options`: it reads them and does not print them.
                if let Some(ipam) = n.get_mut("ipam").and_then(Value::as_object_mut) {
                    ipam.remove("options");
                }
                omit_false(n, NETWORK_FALSE_OMITTED);
            }
        }
    }
}

fn service(s: &mut Map<String, Value>) {
    // A service's own `x-*` keys are kept in the model but compose does not print them.
    s.retain(|k, _| !k.starts_with("x-"));
    for k in ["command", "entrypoint"] {
        s.entry(k).or_insert(Value::Null);
    }
    omit_false(s, SERVICE_FALSE_OMITTED);
    for k in ["mem_limit", "mem_reservation", "memswap_limit", "mem_swappiness", "shm_size"] {
        bytes_as_string(s.get_mut(k));
    }
    if let Some(b) = s.get_mut("build").and_then(Value::as_object_mut) {
        bytes_as_string(b.get_mut("shm_size"));
        omit_false(b, BUILD_FALSE_OMITTED);
        if let Some(Value::Array(h)) = b.get_mut("extra_hosts") {
            sort_strings(h);
        }
    }
    if let Some(Value::Array(h)) = s.get_mut("extra_hosts") {
        sort_strings(h);
    }
    if let Some(Value::Array(vols)) = s.get_mut("volumes") {
        for v in vols.iter_mut().filter_map(Value::as_object_mut) {
            omit_false(v, &["read_only"]);
            if let Some(t) = v.get_mut("tmpfs").and_then(Value::as_object_mut) {
                bytes_as_string(t.get_mut("size"));
            }
            if let Some(b) = v.get_mut("bind").and_then(Value::as_object_mut) {
                omit_false(b, &["create_host_path"]);
            }
            if let Some(b) = v.get_mut("volume").and_then(Value::as_object_mut) {
                omit_false(b, &["nocopy"]);
            }
        }
    }
    for k in ["secrets", "configs"] {
        if let Some(Value::Array(refs)) = s.get_mut(k) {
            for r in refs.iter_mut().filter_map(Value::as_object_mut) {
                if let Some(m) = r.get_mut("mode")
                    && let Some(n) = m.as_i64()
                {
                    *m = Value::String(format!("0{n:o}"));
                }
            }
        }
    }
    if let Some(d) = s.get_mut("deploy").and_then(Value::as_object_mut) {
        for k in ["resources", "placement"] {
            d.entry(k).or_insert_with(|| Value::Object(Map::new()));
        }
    }
    if let Some(res) = s.get_mut("deploy").and_then(|d| d.get_mut("resources")).and_then(Value::as_object_mut) {
        for which in ["limits", "reservations"] {
            if let Some(r) = res.get_mut(which).and_then(Value::as_object_mut) {
                bytes_as_string(r.get_mut("memory"));
            }
        }
    }
    if let Some(b) = s.get_mut("blkio_config").and_then(Value::as_object_mut) {
        blkio(b);
    }
    if let Some(Value::Array(rules)) = s.get_mut("develop").and_then(|d| d.get_mut("watch")) {
        for r in rules.iter_mut().filter_map(Value::as_object_mut) {
            r.entry("exec").or_insert_with(|| {
                let mut e = Map::new();
                e.insert("command".into(), Value::Null);
                Value::Object(e)
            });
        }
    }
}

/// compose's blkio device types carry no JSON names: `Path`, `Weight`, `Rate` (bytes, a string).
fn blkio(b: &mut Map<String, Value>) {
    for (k, rate) in [
        ("weight_device", false),
        ("device_read_bps", true),
        ("device_read_iops", true),
        ("device_write_bps", true),
        ("device_write_iops", true),
    ] {
        let Some(Value::Array(items)) = b.get_mut(k) else { continue };
        for it in items.iter_mut() {
            let Some(o) = it.as_object_mut() else { continue };
            let mut out = Map::new();
            for (field, v) in std::mem::take(o) {
                let name = match field.as_str() {
                    "path" => "Path".to_string(),
                    "weight" => "Weight".to_string(),
                    "rate" if rate => "Rate".to_string(),
                    _ => field,
                };
                out.insert(name, v);
            }
            bytes_as_string(out.get_mut("Rate"));
            *o = out;
        }
    }
}

/// compose's YAML form of a project already in its JSON form (see the module's notes); `extras`:
/// the `x-*` keys below the top level and the top-level `models`, from the loader.
pub fn yaml_form(project: &mut Value, extras: Option<&Value>) {
    let Some(top) = project.as_object_mut() else { return };
    let empty = |v: Option<&Value>| v.is_some_and(|v| v.as_object().is_some_and(Map::is_empty));
    if let Some(services) = top.get_mut("services").and_then(Value::as_object_mut) {
        for s in services.values_mut().filter_map(Value::as_object_mut) {
            for k in ["command", "entrypoint"] {
                if s.get(k) == Some(&Value::Null) {
                    s.remove(k);
                }
            }
            if let Some(d) = s.get_mut("deploy").and_then(Value::as_object_mut) {
                for k in ["resources", "placement"] {
                    if empty(d.get(k)) {
                        d.remove(k);
                    }
                }
            }
            if let Some(Value::Array(rules)) = s.get_mut("develop").and_then(|d| d.get_mut("watch")) {
                for r in rules.iter_mut().filter_map(Value::as_object_mut) {
                    if let Some(e) = r.get_mut("exec").and_then(Value::as_object_mut)
                        && e.get("command") == Some(&Value::Null)
                    {
                        e.remove("command");
                    }
                    if empty(r.get("exec")) {
                        r.remove("exec");
                    }
                }
            }
            if let Some(b) = s.get_mut("blkio_config").and_then(Value::as_object_mut) {
                for items in b.values_mut().filter_map(Value::as_array_mut) {
                    for o in items.iter_mut().filter_map(Value::as_object_mut) {
                        let fields: Vec<(String, Value)> = std::mem::take(o).into_iter().collect();
                        o.extend(fields.into_iter().map(|(k, v)| (k.to_lowercase(), v)));
                    }
                }
            }
        }
    }
    if let Some(networks) = top.get_mut("networks").and_then(Value::as_object_mut) {
        for n in networks.values_mut().filter_map(Value::as_object_mut) {
            if empty(n.get("ipam")) {
                n.remove("ipam");
            }
        }
    }
    if let Some(extras) = extras {
        if let (Some(models), Some(top)) = (extras.get("models"), project.as_object_mut()) {
            top.insert("models".into(), models.clone());
        }
        merge_extensions(project, extras);
    }
}

/// Adds `from`'s `x-*` keys to the objects of `into` at the same places (where `into` has
/// them: what the model left out, an unused network, stays out).
fn merge_extensions(into: &mut Value, from: &Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(k) {
                    Some(existing) => merge_extensions(existing, v),
                    None if k.starts_with("x-") => {
                        a.insert(k.clone(), v.clone());
                    }
                    None => {}
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (x, y) in a.iter_mut().zip(b) {
                merge_extensions(x, y);
            }
        }
        // An object with extensions where the model prints nothing (`networks: {n: null}`).
        (into @ Value::Null, from @ Value::Object(_)) => {
            let mut m = Map::new();
            merge_extensions_into(&mut m, from);
            *into = Value::Object(m);
        }
        _ => {}
    }
}

fn merge_extensions_into(m: &mut Map<String, Value>, from: &Value) {
    let mut v = Value::Object(std::mem::take(m));
    merge_extensions(&mut v, from);
    if let Value::Object(o) = v {
        *m = o;
    }
}

fn omit_false(m: &mut Map<String, Value>, keys: &[&str]) {
    for k in keys {
        if m.get(*k) == Some(&Value::Bool(false)) {
            m.remove(*k);
        }
    }
}

fn bytes_as_string(v: Option<&mut Value>) {
    if let Some(v) = v
        && let Value::Number(n) = v
    {
        *v = Value::String(n.to_string());
    }
}

fn sort_strings(items: &mut [Value]) {
    items.sort_by(|a, b| a.as_str().unwrap_or("").cmp(b.as_str().unwrap_or("")));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn compose_printing_conventions() {
        let mut p = json!({
            "services": {"web": {
                "image": "x", "privileged": false, "tty": true, "mem_limit": 1024,
                "extra_hosts": ["b=1", "a=2"],
                "secrets": [{"source": "s", "mode": 288}],
                "blkio_config": {"device_read_bps": [{"path": "/dev/sda", "rate": 1024}]}
            }},
            "networks": {"default": {"name": "p_default", "internal": false}}
        });
        apply(&mut p);
        assert_eq!(
            p,
            json!({
                "services": {"web": {
                    "image": "x", "tty": true, "mem_limit": "1024", "command": null, "entrypoint": null,
                    "extra_hosts": ["a=2", "b=1"],
                    "secrets": [{"source": "s", "mode": "0440"}],
                    "blkio_config": {"device_read_bps": [{"Path": "/dev/sda", "Rate": "1024"}]}
                }},
                "networks": {"default": {"name": "p_default", "ipam": {}}}
            })
        );
    }
}
