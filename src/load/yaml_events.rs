//! The fast path of [`super::yaml::parse`]: a [`Node`] tree composed straight from the parser's
//! events (granit-parser, the parser inside serde-saphyr).
//!
//! serde-saphyr stays the reference: it is what decides every file this composer is not sure
//! of. Going through serde's data model costs about twice the parse itself on a large file
//! (measured on the 1000-service benchmark project: 8 ms of events, 24 ms through serde), so
//! the plain shape of a compose file — mappings with scalar keys, sequences, scalars, anchors,
//! aliases and `<<` merges — is composed here, and anything else gives up (`None`) so the
//! caller parses the file again with serde-saphyr: a syntax error, a tag, a duplicate key, a
//! complex or null key, a merge of something not a mapping, a scalar whose type is not plain,
//! and a file near one of serde-saphyr's budgets. Then the errors, and the limits, are
//! serde-saphyr's own. The unit tests check both paths give the same tree, locations included.

use crate::load::yaml::YamlMap;
use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::Arc;

use serde_saphyr::granit_parser::{Event, Options, Parser, ScalarStyle, Span, StrInput};

use super::yaml::{Node, Value};
use crate::diag::Loc;

/// Well inside serde-saphyr's budgets (64 levels, 250,000 nodes, 50,000 aliases and anchors,
/// 10,000 merge keys, 1,024 documents, 200,000 replayed events as wharf sets it): a file that
/// comes near one is left to serde-saphyr, which refuses it with its own message or accepts it.
const MAX_DEPTH: usize = 60;
const MAX_NODES: usize = 200_000;
const MAX_ALIASES: usize = 40_000;
const MAX_MERGES: usize = 8_000;
const MAX_DOCUMENTS: usize = 1_000;
const MAX_REPLAYED: usize = 150_000;

/// Every document of `text` that is not empty, or `None` when serde-saphyr must decide.
pub fn documents(text: &str, file: &Arc<PathBuf>) -> Option<Vec<Node>> {
    let mut c = Composer {
        parser: Parser::new_from_str_with_options(text, {
            let mut o = Options::default();
            o.emit_comments = false;
            o
        }),
        file,
        anchors: Vec::new(),
        nodes: 0,
        aliases: 0,
        merges: 0,
        replayed: 0,
    };
    let mut docs = Vec::new();
    loop {
        let (ev, _) = c.next()?;
        match ev {
            Event::StreamStart | Event::DocumentEnd => {}
            Event::StreamEnd => return Some(docs),
            Event::DocumentStart(..) => {
                if docs.len() >= MAX_DOCUMENTS {
                    return None;
                }
                // Anchors are per document.
                c.anchors.clear();
                let (ev, span) = c.next()?;
                // An empty document (or one of comments only) is no document.
                if !matches!(ev, Event::DocumentEnd) {
                    let doc = c.node(ev, span, 0)?;
                    if !doc.is_null() {
                        docs.push(doc);
                    }
                }
            }
            _ => return None,
        }
    }
}

struct Composer<'a> {
    parser: Parser<'a, StrInput<'a>>,
    file: &'a Arc<PathBuf>,
    /// Anchor ids are small and dense: the n-th anchor of the stream has id n.
    anchors: Vec<Option<Node>>,
    nodes: usize,
    aliases: usize,
    merges: usize,
    replayed: usize,
}

impl<'a> Composer<'a> {
    fn next(&mut self) -> Option<(Event<'a>, Span)> {
        self.parser.next_event()?.ok()
    }

    fn loc(&self, span: &Span) -> Loc {
        Loc::new(self.file, span.start.line(), span.start.col() + 1)
    }

    fn anchor(&mut self, id: usize, node: &Node) {
        if id == 0 {
            return;
        }
        if self.anchors.len() <= id {
            self.anchors.resize(id + 1, None);
        }
        self.anchors[id] = Some(node.clone());
    }

    fn node(&mut self, ev: Event<'a>, span: Span, depth: usize) -> Option<Node> {
        self.nodes += 1;
        if depth > MAX_DEPTH || self.nodes > MAX_NODES {
            return None;
        }
        let loc = self.loc(&span);
        match ev {
            Event::Scalar(text, style, anchor, None) => {
                let node = Node::new(scalar(text, style)?, loc);
                self.anchor(anchor, &node);
                Some(node)
            }
            Event::SequenceStart(_, anchor, None) => {
                let mut items = Vec::new();
                loop {
                    let (ev, span) = self.next()?;
                    if matches!(ev, Event::SequenceEnd) {
                        break;
                    }
                    items.push(self.node(ev, span, depth + 1)?);
                }
                let node = Node::new(Value::Seq(items), loc);
                self.anchor(anchor, &node);
                Some(node)
            }
            Event::MappingStart(_, anchor, None) => {
                let node = Node::new(Value::Map(self.mapping(depth)?), loc);
                self.anchor(anchor, &node);
                Some(node)
            }
            Event::Alias(id) => {
                self.aliases += 1;
                let mut node = self.anchors.get(id)?.as_ref()?.clone();
                self.replayed += size(&node);
                // serde-saphyr replays an alias where it is used: every node of it is placed
                // there.
                relocate(&mut node, &loc);
                if self.aliases > MAX_ALIASES || self.replayed > MAX_REPLAYED {
                    return None;
                }
                Some(node)
            }
            _ => None,
        }
    }

    /// The entries of a mapping, its `<<` merges applied: keys written in the mapping win over
    /// merged ones, and of several merged mappings the first one wins.
    fn mapping(&mut self, depth: usize) -> Option<YamlMap> {
        let mut entries: YamlMap = YamlMap::default();
        let mut merged: Vec<Node> = Vec::new();
        loop {
            let (ev, span) = self.next()?;
            let key = match ev {
                Event::MappingEnd => break,
                Event::Scalar(text, style, 0, None) => {
                    if style == ScalarStyle::Plain && matches!(&*text, "" | "~" | "null" | "Null" | "NULL") {
                        return None;
                    }
                    if &*text == "<<" && style != ScalarStyle::Plain {
                        return None;
                    }
                    text.into_owned()
                }
                _ => return None,
            };
            let key_loc = self.loc(&span);
            let (ev, span) = self.next()?;
            let mut value = self.node(ev, span, depth + 1)?;
            if key == "<<" {
                self.merges += 1;
                if self.merges > MAX_MERGES {
                    return None;
                }
                match value.value {
                    Value::Map(_) => merged.push(value),
                    Value::Seq(items) if items.iter().all(|i| matches!(i.value, Value::Map(_))) => merged.extend(items),
                    _ => return None,
                }
                continue;
            }
            // A mapping entry points at its key: that is where a user looks for it.
            value.loc = key_loc;
            if entries.insert(key, value).is_some() {
                return None;
            }
        }
        // A merged entry is placed where its mapping was merged from (the alias, or the inline
        // mapping), as serde-saphyr places it.
        for source in merged {
            if let Value::Map(m) = source.value {
                for (k, mut v) in m {
                    relocate(&mut v, &source.loc);
                    entries.entry(k).or_insert(v);
                }
            }
        }
        Some(entries)
    }
}

fn relocate(n: &mut Node, loc: &Loc) {
    n.loc = loc.clone();
    match &mut n.value {
        Value::Seq(items) => items.iter_mut().for_each(|i| relocate(i, loc)),
        Value::Map(m) => m.values_mut().for_each(|v| relocate(v, loc)),
        _ => {}
    }
}

fn size(n: &Node) -> usize {
    1 + match &n.value {
        Value::Seq(items) => items.iter().map(size).sum(),
        Value::Map(m) => m.values().map(size).sum(),
        _ => 0,
    }
}

/// A scalar's value, typed as serde-saphyr types it (YAML 1.2 core schema with strict
/// booleans), or `None` for a spelling whose type is not plainly a string, `null`, a boolean
/// or a decimal integer: serde-saphyr decides those.
fn scalar(text: Cow<'_, str>, style: ScalarStyle) -> Option<Value> {
    if style != ScalarStyle::Plain {
        return Some(Value::Str(text.into_owned()));
    }
    let t: &str = &text;
    match t {
        "" | "~" | "null" | "Null" | "NULL" => return Some(Value::Null),
        "true" | "True" | "TRUE" => return Some(Value::Bool(true)),
        "false" | "False" | "FALSE" => return Some(Value::Bool(false)),
        _ => {}
    }
    let unsigned = t.strip_prefix(['+', '-']).unwrap_or(t);
    let numeric_start = unsigned.starts_with(|c: char| c.is_ascii_digit() || c == '.');
    // Characters a YAML 1.2 number can be written with (radix prefixes, hex digits,
    // exponents, underscores, `.inf` and `.nan`).
    let number_like = t.bytes().all(|b| b.is_ascii_hexdigit() || b"+-._xXoOiInNE".contains(&b));
    if !numeric_start || !number_like {
        return Some(Value::Str(text.into_owned()));
    }
    let decimal = !unsigned.is_empty()
        && unsigned.len() <= 18
        && unsigned.bytes().all(|b| b.is_ascii_digit())
        && (unsigned == "0" || !unsigned.starts_with('0'));
    if decimal {
        return t.parse::<i64>().ok().map(Value::Int);
    }
    let non_finite = matches!(unsigned, ".inf" | ".Inf" | ".INF" | ".nan" | ".NaN" | ".NAN");
    if !non_finite && !t.bytes().any(|b| b.is_ascii_digit()) {
        return Some(Value::Str(text.into_owned()));
    }
    // A float, a radix or a leading zero: one scalar, typed by serde-saphyr. What reaches here
    // is made of the characters above only, so it reads back as the same plain scalar (`...`
    // and `---` would not, and are left to serde-saphyr whole).
    if t.starts_with("...") || t.starts_with("---") {
        return None;
    }
    super::yaml::plain_scalar_with_serde(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file() -> Arc<PathBuf> {
        Arc::new(PathBuf::from("/t/compose.yaml"))
    }

    /// The fast path must agree with serde-saphyr on every file it composes.
    fn same(text: &str) {
        let fast = documents(text, &file()).unwrap_or_else(|| panic!("the fast path gave up on:\n{text}"));
        let reference = super::super::yaml::documents_with_serde(text, &file()).expect("serde-saphyr refused it");
        assert_eq!(fast, reference, "on:\n{text}");
    }

    /// Where the fast path composes a file, serde-saphyr reads it the same; it may give up.
    fn agree(text: &str) -> bool {
        let Some(fast) = documents(text, &file()) else { return false };
        let reference = super::super::yaml::documents_with_serde(text, &file());
        assert_eq!(Ok(fast), reference, "on:\n{text}");
        true
    }

    fn gives_up(text: &str) {
        assert!(documents(text, &file()).is_none(), "the fast path should leave this to serde-saphyr:\n{text}");
    }

    #[test]
    fn agrees_with_serde_saphyr_on_plain_shapes() {
        same("services:\n  web:\n    image: nginx\n    ports: [\"80:80\", 8080:80]\n    init: true\n");
        same("a: 1\nb: -2\nc: 0\nd: +3\ne: ''\nf: \"x\\ty\"\ng: |\n  line\n  two\nh: >\n  folded\n  text\ni:\nj: ~\n");
        same("- 1\n- [a, {b: c}]\n- {}\n- []\n- null\n- True\n- FALSE\n- yes\n- 'null'\n");
        same("k: value with spaces\nl: 127.0.0.1:80:80\nm: ${VAR:-x}\nn: -foo\no: .hidden\np: 1-2\n");
        same("80: port\ntrue: t\n'<<x': y\n");
        same("a: 1\n---\nb: 2\n---\n# only a comment\n");
    }

    #[test]
    fn agrees_with_serde_saphyr_on_anchors_and_merges() {
        same(
            "x-a: &a\n  restart: always\n  image: a\nx-b: &b\n  <<: *a\n  init: true\nservices:\n  web:\n    <<: [*b, {cpus: 2}]\n    image: x\n",
        );
        same("x: &x [1, 2]\ny: *x\nz:\n  - *x\n  - &s scalar\n  - *s\n");
        same("base: &base {a: 1, b: 2}\nm:\n  c: 3\n  <<: *base\n  a: 9\n");
        same("first: &f {k: 1}\nsecond: &s {k: 2, j: 3}\nm:\n  <<: [*f, *s]\n");
        same("m:\n  <<: {inline: 1}\n  own: 2\n");
        same("a: &a {x: {y: [1, {z: 2}]}}\nm:\n  <<: [{n: {deep: [1]}}, *a]\nl: [*a, {k: *a}]\n");
    }

    #[test]
    fn agrees_with_serde_saphyr_on_the_test_corpus() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/config");
        let mut composed = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let corpus = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            // The corpus files are `-- path --` sections; the YAML ones are compared.
            for section in corpus.split("\n-- ").skip(1) {
                let Some((name, body)) = section.split_once(" --\n") else { continue };
                if !(name.ends_with(".yaml") || name.ends_with(".yml")) {
                    continue;
                }
                let body = body.split("\n=== ").next().unwrap_or("");
                let reference = super::super::yaml::documents_with_serde(body, &file());
                match (documents(body, &file()), reference) {
                    (Some(fast), Ok(reference)) => {
                        assert_eq!(fast, reference, "on {name}:\n{body}");
                        composed += 1;
                    }
                    (Some(_), Err(e)) => panic!("serde-saphyr refuses {name} ({e:?}), the fast path accepted it"),
                    (None, _) => {}
                }
            }
        }
        assert!(composed > 150, "only {composed} corpus files composed on the fast path");
    }

    #[test]
    fn agrees_with_serde_saphyr_on_numbers_of_every_spelling() {
        for s in [
            "0777",
            "0x1F",
            "0o17",
            "0b101",
            "1_000",
            "1.5",
            "-1.5",
            "1e3",
            "1E-3",
            ".5",
            "+.5",
            ".inf",
            "-.Inf",
            ".NAN",
            "1.",
            "99999999999999999999",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775808",
            "1e999",
            "0",
            "-0",
            "+0",
            "00",
            "1.2.3",
            "0xZZ",
            "1__0",
            "12e",
            "0.0.0.0",
            "3.8",
            ".",
            "-.",
            "1-2",
        ] {
            let text = format!("a: {s}\nb: [{s}]\n");
            // Only what serde-saphyr itself refuses is left to it.
            assert!(agree(&text) || super::super::yaml::documents_with_serde(&text, &file()).is_err(), "{s}");
        }
    }

    #[test]
    fn what_serde_saphyr_refuses_or_types_is_left_to_it() {
        gives_up("a: 1\na: 2\n");
        gives_up("a: !reset []\n");
        gives_up("a: !!str 1\n");
        gives_up("? [complex]\n: key\n");
        gives_up("~: null key\n");
        gives_up("a: *missing\n");
        gives_up("m:\n  <<: scalar\n");
        gives_up("services: [1, 2\n");
        gives_up(&format!("a: {}1{}\n", "[".repeat(70), "]".repeat(70)));
    }
}
