//! A serde `Deserializer` over a [`Node`] tree, so the typed model is read from the tree itself
//! instead of a JSON copy of it.
//!
//! It presents values as `serde_json::Value` presents them (what the model was written
//! against): a non-negative integer is a `u64`, a negative one an `i64`, a float that is not
//! finite is `null`, `null` is `None` for an option, an enum is a string or a mapping of one
//! entry. `x-*` extension keys are skipped in every mapping except those whose keys are the
//! user's ([`USER_KEYED`]), where a key starting with `x-` is data.

use std::fmt;

use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};

use super::yaml::{Node, Value};

/// Maps whose keys are the user's (variables, labels, options, names), where a key starting with
/// `x-` is data, not an extension.
pub const USER_KEYED: &[&str] = &[
    "environment",
    "labels",
    "annotations",
    "sysctls",
    "driver_opts",
    "args",
    "extra_hosts",
    "options",
    "additional_contexts",
    "storage_opt",
    "depends_on",
    "networks",
    "ulimits",
    "models",
    "aux_addresses",
];

#[derive(Debug)]
pub struct Error(pub String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

/// A node, and whether its keys are the user's.
#[derive(Clone, Copy)]
pub struct NodeDe<'a> {
    node: &'a Node,
    user_keyed: bool,
}

impl<'a> NodeDe<'a> {
    pub fn new(node: &'a Node) -> Self {
        NodeDe { node, user_keyed: false }
    }
}

impl<'de, 'a> de::Deserializer<'de> for NodeDe<'a> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        match &self.node.value {
            Value::Null => v.visit_unit(),
            Value::Bool(b) => v.visit_bool(*b),
            Value::Int(i) if *i >= 0 => v.visit_u64(*i as u64),
            Value::Int(i) => v.visit_i64(*i),
            Value::Float(f) if f.is_finite() => v.visit_f64(*f),
            Value::Float(_) => v.visit_unit(),
            Value::Str(s) => v.visit_str(s),
            Value::Seq(items) => {
                let mut seq = Items { iter: items.iter() };
                let value = v.visit_seq(&mut seq)?;
                match seq.iter.len() {
                    0 => Ok(value),
                    n => Err(de::Error::invalid_length(items.len() - n, &"fewer elements in the list")),
                }
            }
            Value::Map(m) => {
                let mut map = Entries { iter: m.iter(), value: None, user_keyed: self.user_keyed };
                let value = v.visit_map(&mut map)?;
                match map.iter.len() {
                    0 => Ok(value),
                    _ => Err(de::Error::custom("a mapping with more entries than expected")),
                }
            }
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        match &self.node.value {
            Value::Null => v.visit_none(),
            Value::Float(f) if !f.is_finite() => v.visit_none(),
            _ => v.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, v: V) -> Result<V::Value, Error> {
        v.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Error> {
        match &self.node.value {
            Value::Str(s) => v.visit_enum(s.as_str().into_deserializer()),
            Value::Map(m)
                if m.len() == 1
                    && let Some((k, value)) = m.first() =>
            {
                v.visit_enum(Variant { name: k, value: NodeDe { node: value, user_keyed: false } })
            }
            Value::Map(_) => Err(de::Error::invalid_value(de::Unexpected::Map, &"a mapping with a single key")),
            other => Err(de::Error::invalid_type(unexpected(other), &"a string or a mapping")),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

fn unexpected(v: &Value) -> de::Unexpected<'_> {
    match v {
        Value::Null => de::Unexpected::Unit,
        Value::Bool(b) => de::Unexpected::Bool(*b),
        Value::Int(i) if *i >= 0 => de::Unexpected::Unsigned(*i as u64),
        Value::Int(i) => de::Unexpected::Signed(*i),
        Value::Float(f) => de::Unexpected::Float(*f),
        Value::Str(s) => de::Unexpected::Str(s),
        Value::Seq(_) => de::Unexpected::Seq,
        Value::Map(_) => de::Unexpected::Map,
    }
}

struct Items<'a> {
    iter: std::slice::Iter<'a, Node>,
}

impl<'de, 'a> SeqAccess<'de> for &mut Items<'a> {
    type Error = Error;
    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Error> {
        match self.iter.next() {
            Some(n) => seed.deserialize(NodeDe::new(n)).map(Some),
            None => Ok(None),
        }
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

struct Entries<'a> {
    iter: indexmap::map::Iter<'a, String, Node>,
    value: Option<NodeDe<'a>>,
    user_keyed: bool,
}

impl<'de, 'a> MapAccess<'de> for &mut Entries<'a> {
    type Error = Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        for (k, v) in self.iter.by_ref() {
            if !self.user_keyed && k.starts_with("x-") {
                continue;
            }
            // The entries of a user-keyed map are objects again (`networks.front.aliases`).
            let user_keyed = !self.user_keyed && USER_KEYED.contains(&k.as_str());
            self.value = Some(NodeDe { node: v, user_keyed });
            return seed.deserialize(k.as_str().into_deserializer()).map(Some);
        }
        Ok(None)
    }
    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, Error> {
        match self.value.take() {
            Some(v) => seed.deserialize(v),
            None => Err(de::Error::custom("a value without a key")),
        }
    }
}

struct Variant<'a> {
    name: &'a str,
    value: NodeDe<'a>,
}

impl<'de, 'a> de::EnumAccess<'de> for Variant<'a> {
    type Error = Error;
    type Variant = NodeDe<'a>;
    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, NodeDe<'a>), Error> {
        let name = seed.deserialize(self.name.into_deserializer())?;
        Ok((name, self.value))
    }
}

impl<'de, 'a> de::VariantAccess<'de> for NodeDe<'a> {
    type Error = Error;
    fn unit_variant(self) -> Result<(), Error> {
        de::Deserialize::deserialize(self)
    }
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        seed.deserialize(self)
    }
    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, v: V) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_seq(self, v)
    }
    fn struct_variant<V: Visitor<'de>>(self, _fields: &'static [&'static str], v: V) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_map(self, v)
    }
}
