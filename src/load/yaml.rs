//! YAML → [`Node`]: a source tree where every value remembers its file, line and column.
//!
//! serde-saphyr does the parsing: anchors, aliases and `<<` merge keys (nested and lists) are
//! applied, duplicate keys are refused, and alias expansion has a budget so an alias bomb is
//! refused in bounded memory. We keep YAML tags, because compose gives `!reset` and `!override`
//! a meaning in multi-file merges.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use indexmap::IndexMap;

/// A YAML mapping, in file order. Hashed with foldhash: the loader looks keys up in every
/// mapping of every file, and SipHash was an eighth of `config`'s instructions.
pub type YamlMap = IndexMap<String, Node, foldhash::fast::RandomState>;
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Spanned, Tagged};

use crate::diag::{Diagnostic, Loc};

/// A compose merge tag (`13-merge.md` of the Compose Specification).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tag {
    /// `!reset`: the value is cleared, whatever earlier files said.
    Reset,
    /// `!override`: the value replaces the earlier one wholesale instead of being merged.
    Override,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(YamlMap),
}

/// A value with the place it was written. For a mapping entry, `loc` is where its key is.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub value: Value,
    pub loc: Loc,
    pub tag: Option<Tag>,
}

impl Node {
    pub fn new(value: Value, loc: Loc) -> Self {
        Node { value, loc, tag: None }
    }
    pub fn str(s: impl Into<String>, loc: Loc) -> Self {
        Node::new(Value::Str(s.into()), loc)
    }
    pub fn map(loc: Loc) -> Self {
        Node::new(Value::Map(YamlMap::default()), loc)
    }
    pub fn as_map(&self) -> Option<&YamlMap> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }
    pub fn as_map_mut(&mut self) -> Option<&mut YamlMap> {
        match &mut self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }
    pub fn as_seq(&self) -> Option<&Vec<Node>> {
        match &self.value {
            Value::Seq(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?.get(key)
    }
    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }
    /// A scalar as the string compose would see (numbers and booleans as written in YAML 1.2).
    pub fn scalar_string(&self) -> Option<String> {
        match &self.value {
            Value::Str(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(format_float(*f)),
            Value::Bool(b) => Some(b.to_string()),
            Value::Null | Value::Seq(_) | Value::Map(_) => None,
        }
    }
    /// A short name of the node's kind, for "expected X, found Y" messages.
    pub fn kind(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    /// Converts to JSON, dropping locations and tags.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map(J::Number).unwrap_or(J::Null),
            Value::Str(s) => J::String(s.clone()),
            Value::Seq(s) => J::Array(s.iter().map(Node::to_json).collect()),
            Value::Map(m) => J::Object(m.iter().map(|(k, v)| (k.clone(), v.to_json())).collect()),
        }
    }

    /// Builds a node tree from JSON, every node at `loc`.
    pub fn from_json(v: &serde_json::Value, loc: &Loc) -> Node {
        use serde_json::Value as J;
        let value = match v {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(*b),
            J::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(0.0)),
            },
            J::String(s) => Value::Str(s.clone()),
            J::Array(a) => Value::Seq(a.iter().map(|x| Node::from_json(x, loc)).collect()),
            J::Object(o) => Value::Map(o.iter().map(|(k, x)| (k.clone(), Node::from_json(x, loc))).collect()),
        };
        Node::new(value, loc.clone())
    }
}

pub fn format_float(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 { format!("{}", f as i64) } else { f.to_string() }
}

/// Parses one compose file. An empty document is an empty mapping.
pub fn parse(text: &str, file: &Arc<PathBuf>) -> Result<Node, Diagnostic> {
    if text.trim().is_empty() {
        return Ok(Node::map(Loc::new(file, 1, 1)));
    }
    // Several documents (`---`) in one file are merged in order, as compose does, like files
    // given with `-f` one after the other. A document of comments only is as empty as an
    // empty one.
    let docs = match super::yaml_events::documents(text, file) {
        Some(docs) => docs,
        None => documents_with_serde(text, file)?,
    };
    Ok(docs.into_iter().reduce(crate::load::merge::merge_files).unwrap_or_else(|| Node::map(Loc::new(file, 1, 1))))
}

fn options() -> serde_saphyr::options::Options {
    let mut opts = serde_saphyr::options::Options::default();
    // `yes`/`no`/`on`/`off` stay strings, as in go-yaml v3 which compose uses.
    opts.strict_booleans = true;
    // An alias bomb expands to at most this many events before we refuse it. What is bounded
    // is what aliases expand to, not how many aliases refer to one anchor: a hundred services
    // each merging `<<: *defaults` is how large compose files are written (compose accepts
    // them; the ratio heuristic refused them).
    opts.alias_limits.max_total_replayed_events = 200_000;
    let mut budget = opts.budget.take().unwrap_or_default();
    budget.enforce_alias_anchor_ratio = false;
    opts.budget = Some(budget);
    opts
}

/// Every document of `text` that is not empty, as serde-saphyr reads it: the reference the fast path follows,
/// and the path every file it is not sure of takes.
pub(super) fn documents_with_serde(text: &str, file: &Arc<PathBuf>) -> Result<Vec<Node>, Diagnostic> {
    match serde_saphyr::from_str_multiple_with_options::<Raw, Vec<Raw>>(text, options()) {
        Ok(docs) => Ok(docs.into_iter().map(|raw| convert(raw, file)).filter(|n| !n.is_null()).collect()),
        Err(e) => Err(yaml_error(&e, file)),
    }
}

/// One plain scalar, typed by serde-saphyr (a number in one of YAML's spellings).
pub(super) fn plain_scalar_with_serde(text: &str) -> Option<Value> {
    let raw: RawValue = serde_saphyr::from_str_with_options(text, options()).ok()?;
    match raw {
        RawValue::Null => Some(Value::Null),
        RawValue::Bool(b) => Some(Value::Bool(b)),
        RawValue::Int(i) => Some(Value::Int(i)),
        RawValue::Float(f) => Some(Value::Float(f)),
        RawValue::Str(s) => Some(Value::Str(s)),
        RawValue::Seq(_) | RawValue::Map(_) => None,
    }
}

fn yaml_error(e: &serde_saphyr::Error, file: &Arc<PathBuf>) -> Diagnostic {
    let (line, col) = e.location().map(|l| (l.line() as usize, l.column() as usize)).unwrap_or((0, 0));
    let text = e.without_snippet().to_string();
    let first = text.lines().next().unwrap_or("").to_string();
    // serde-saphyr prefixes "line N column M: "; we show the location ourselves.
    let msg = match first.split_once(": ") {
        Some((pre, rest)) if pre.starts_with("line ") || pre.starts_with("error: line ") => rest.to_string(),
        _ => first.trim_start_matches("error: ").to_string(),
    };
    // Drop serde-saphyr's own position suffix and its advice meant for programmers.
    let msg =
        msg.split(" at line ").next().unwrap_or(&msg).replace(", set DuplicateKeyPolicy in Options if acceptable", "");
    // The parser's internal names, in plain words.
    let msg = match msg.strip_prefix("budget breached: Depth { depth: ") {
        Some(n) => format!(
            "nested more than {} levels deep",
            n.trim_end_matches(" }").trim().parse::<u64>().map(|d| d.saturating_sub(1)).unwrap_or(64)
        ),
        None => msg,
    };
    // The other budgets (nodes, events, scalar bytes…) bound memory on hostile input.
    let msg = match msg.strip_prefix("budget breached: ") {
        Some(what) => {
            let kind = what.split(' ').next().unwrap_or(what).to_ascii_lowercase();
            let n: u64 = what.chars().filter(char::is_ascii_digit).collect::<String>().parse().unwrap_or(1);
            format!("the file holds more than {} {kind}, the most wharf reads from one file", n.saturating_sub(1))
        }
        None => msg,
    };
    let mut d = Diagnostic::error(Loc::new(file, line, col), "", format!("invalid YAML: {msg}"));
    if msg.contains("the most wharf reads from one file") {
        d = d.with_hint(
            "this bounds the memory a file can take; split the project into several files (`include:` or `-f`)",
        );
    }
    if msg.contains("duplicate mapping key") {
        d = d.with_hint("a key may appear only once in a mapping: remove or rename one of them");
    } else if msg.contains("alias") && (msg.contains("limit") || msg.contains("budget")) {
        d = d.with_hint("the file expands aliases beyond wharf's limit (a possible alias bomb)");
    }
    d
}

/// The tree as serde-saphyr hands it over.
struct Raw(Spanned<Tagged<RawValue>>);

enum RawValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Raw>),
    Map(Vec<(Spanned<String>, Raw)>),
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Raw(Spanned::<Tagged<RawValue>>::deserialize(d)?))
    }
}

impl<'de> Deserialize<'de> for RawValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any YAML value")
            }
            fn visit_unit<E>(self) -> Result<RawValue, E> {
                Ok(RawValue::Null)
            }
            fn visit_none<E>(self) -> Result<RawValue, E> {
                Ok(RawValue::Null)
            }
            fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<RawValue, D2::Error> {
                RawValue::deserialize(d)
            }
            fn visit_bool<E>(self, b: bool) -> Result<RawValue, E> {
                Ok(RawValue::Bool(b))
            }
            fn visit_i64<E>(self, i: i64) -> Result<RawValue, E> {
                Ok(RawValue::Int(i))
            }
            fn visit_u64<E>(self, i: u64) -> Result<RawValue, E> {
                Ok(i64::try_from(i).map(RawValue::Int).unwrap_or(RawValue::Float(i as f64)))
            }
            fn visit_i128<E>(self, i: i128) -> Result<RawValue, E> {
                Ok(i64::try_from(i).map(RawValue::Int).unwrap_or(RawValue::Float(i as f64)))
            }
            fn visit_u128<E>(self, i: u128) -> Result<RawValue, E> {
                Ok(i64::try_from(i).map(RawValue::Int).unwrap_or(RawValue::Float(i as f64)))
            }
            fn visit_f64<E>(self, f: f64) -> Result<RawValue, E> {
                Ok(RawValue::Float(f))
            }
            fn visit_str<E>(self, s: &str) -> Result<RawValue, E> {
                Ok(RawValue::Str(s.to_string()))
            }
            fn visit_string<E>(self, s: String) -> Result<RawValue, E> {
                Ok(RawValue::Str(s))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<RawValue, A::Error> {
                let mut v = Vec::new();
                while let Some(x) = a.next_element()? {
                    v.push(x);
                }
                Ok(RawValue::Seq(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<RawValue, A::Error> {
                let mut v = Vec::new();
                while let Some(kv) = a.next_entry()? {
                    v.push(kv);
                }
                Ok(RawValue::Map(v))
            }
        }
        d.deserialize_any(V)
    }
}

fn convert(raw: Raw, file: &Arc<PathBuf>) -> Node {
    let spanned = raw.0;
    let loc = Loc::new(file, spanned.referenced.line() as usize, spanned.referenced.column() as usize);
    let Tagged(value, tag) = spanned.value;
    convert_value(value, tag, loc, file)
}

fn convert_value(value: RawValue, tag: Option<String>, loc: Loc, file: &Arc<PathBuf>) -> Node {
    let tag = match tag.as_deref() {
        Some("!reset") => Some(Tag::Reset),
        Some("!override") => Some(Tag::Override),
        _ => None,
    };
    let value = match value {
        RawValue::Null => Value::Null,
        RawValue::Bool(b) => Value::Bool(b),
        RawValue::Int(i) => Value::Int(i),
        RawValue::Float(f) => Value::Float(f),
        RawValue::Str(s) => Value::Str(s),
        RawValue::Seq(items) => Value::Seq(items.into_iter().map(|r| convert(r, file)).collect()),
        RawValue::Map(entries) => {
            let mut m = YamlMap::with_capacity_and_hasher(entries.len(), Default::default());
            for (k, v) in entries {
                let key_loc = Loc::new(file, k.referenced.line() as usize, k.referenced.column() as usize);
                let mut child = convert(v, file);
                // Point a mapping entry at its key: that is where a user looks for it.
                child.loc = key_loc;
                m.insert(k.value, child);
            }
            Value::Map(m)
        }
    };
    Node { value, loc, tag }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<Node, Diagnostic> {
        parse(text, &Arc::new(PathBuf::from("/t/compose.yaml")))
    }

    #[test]
    fn applies_nested_merge_keys() {
        let n = p("x-a: &a\n  restart: always\nx-b: &b\n  <<: *a\n  init: true\nservices:\n  web:\n    <<: [*b]\n    image: x\n")
            .unwrap();
        let web = n.get("services").unwrap().get("web").unwrap();
        assert_eq!(web.get("restart").unwrap().as_str(), Some("always"));
        assert_eq!(web.get("init").unwrap().value, Value::Bool(true));
        assert_eq!(web.get("image").unwrap().loc.line, 9);
    }

    #[test]
    fn keeps_reset_and_override_tags() {
        let n = p("a: !reset []\nb: !override [1]\n").unwrap();
        assert_eq!(n.get("a").unwrap().tag, Some(Tag::Reset));
        assert_eq!(n.get("b").unwrap().tag, Some(Tag::Override));
    }

    #[test]
    fn yes_stays_a_string() {
        let n = p("a: yes\nb: true\n").unwrap();
        assert_eq!(n.get("a").unwrap().as_str(), Some("yes"));
        assert_eq!(n.get("b").unwrap().value, Value::Bool(true));
    }

    #[test]
    fn duplicate_keys_are_refused_with_a_location() {
        let e = p("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!((e.loc.line, e.loc.col), (3, 1));
        assert!(e.message.contains("duplicate"), "{}", e.message);
    }

    #[test]
    fn syntax_errors_have_a_location() {
        let e = p("services:\n  web: [1, 2\n").unwrap_err();
        assert!(e.loc.line >= 2, "{e:?}");
    }

    #[test]
    fn alias_bomb_is_refused() {
        let mut s = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        let mut prev = 'a';
        for c in 'b'..='k' {
            s.push_str(&format!(
                "{c}: &{c} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
            ));
            prev = c;
        }
        let e = p(&s).unwrap_err();
        assert!(e.message.contains("invalid YAML"), "{e:?}");
    }

    #[test]
    fn regression_many_aliases_of_one_anchor_are_accepted() {
        // Issue 24: 100 services each `<<: *defaults` failed with "budget breached:
        // AliasAnchorRatio { aliases: 100, anchors: 1 }".
        let mut s = String::from("x-defaults: &defaults\n  image: img\n  init: true\nservices:\n");
        for i in 0..300 {
            s.push_str(&format!("  s{i}:\n    <<: *defaults\n    command: [\"run\", \"{i}\"]\n"));
        }
        let doc = p(&s).unwrap();
        let services = doc.as_map().and_then(|m| m.iter().find(|(k, _)| k.as_str() == "services")).map(|(_, v)| v);
        assert_eq!(services.and_then(|v| v.as_map()).map(|m| m.len()), Some(300));
    }

    #[test]
    fn regression_several_documents_in_one_file_are_merged_in_order() {
        // Issue 24: refused with "multiple YAML documents detected; use from_str_multiple";
        // compose merges them.
        let doc = p("services:\n  a: {image: x}\n---\nservices:\n  b: {image: y}\n  a: {image: z}\n").unwrap();
        let services = doc.get("services").and_then(|s| s.as_map()).unwrap();
        assert_eq!(services.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(services["a"].get("image").and_then(|i| i.as_str()), Some("z"));
    }

    #[test]
    fn empty_file_is_an_empty_mapping() {
        assert_eq!(p("\n").unwrap().as_map().map(|m| m.len()), Some(0));
    }
}
