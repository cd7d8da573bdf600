//! Finds the line and column of a node in a YAML document by path, so that
//! semantic errors (unknown function, unknown parameter) point at the text
//! just as syntax errors do. It re-reads the document with serde_yaml and
//! stops with an error exactly at the node: serde_yaml marks that error with
//! the node's position.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

#[derive(Debug, Clone)]
pub enum Seg {
    Key(String),
    Index(usize),
}

const MARK: &str = "\u{0}ferry-locate";

/// 1-based (line, column) of the node at `path`, if it exists.
pub fn locate(text: &str, path: &[Seg]) -> Option<(usize, usize)> {
    let de = serde_yaml::Deserializer::from_str(text);
    match (Walk { path }).deserialize(de) {
        Err(e) if e.to_string().contains(MARK) => e.location().map(|l| (l.line(), l.column())),
        _ => None,
    }
}

struct Walk<'p> {
    path: &'p [Seg],
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        if self.path.is_empty() {
            // Failing inside the node's own visit makes serde_yaml mark the
            // error with that node's position.
            return d.deserialize_any(Trip);
        }
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any node")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            match &self.path[0] {
                Seg::Key(k) if *k == key => {
                    return map.next_value_seed(Walk {
                        path: &self.path[1..],
                    });
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0;
        loop {
            match &self.path[0] {
                Seg::Index(n) if *n == i => {
                    return seq
                        .next_element_seed(Walk {
                            path: &self.path[1..],
                        })
                        .map(|_| ());
                }
                _ => {
                    if seq.next_element::<IgnoredAny>()?.is_none() {
                        return Ok(());
                    }
                }
            }
            i += 1;
        }
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

/// Fails on whatever node it is given.
struct Trip;

impl<'de> Visitor<'de> for Trip {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any node")
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(de::Error::custom(MARK))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(de::Error::custom(MARK))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Err(E::custom(MARK))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Err(E::custom(MARK))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Err(E::custom(MARK))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Err(E::custom(MARK))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Err(E::custom(MARK))
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Err(E::custom(MARK))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_nodes() {
        let text = "version: 1\nstages:\n  - name: a\n    function: x@1\n  - name: b\n    params:\n      size: 3\n";
        let at = |p: &[Seg]| locate(text, p);
        assert_eq!(at(&[Seg::Key("version".into())]), Some((1, 10)));
        assert_eq!(
            at(&[
                Seg::Key("stages".into()),
                Seg::Index(0),
                Seg::Key("function".into())
            ]),
            Some((4, 15))
        );
        assert_eq!(
            at(&[
                Seg::Key("stages".into()),
                Seg::Index(1),
                Seg::Key("params".into()),
                Seg::Key("size".into())
            ]),
            Some((7, 13))
        );
        assert_eq!(at(&[Seg::Key("nope".into())]), None);
    }
}
