//! The report's named counters, declared once with [`counters!`]: every
//! counter appears in the report, in declaration order, zero or not.

use std::marker::PhantomData;

/// A counter's key; implemented by [`counters!`].
pub trait Counter: Copy + 'static {
    /// Every counter, in report order.
    const ALL: &'static [Self];

    /// Its name in the report, e.g. `blobs-uploaded`.
    fn name(self) -> &'static str;

    /// Its position in [`Self::ALL`].
    fn index(self) -> usize;
}

/// Counters of one function, all starting at zero.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counts<K> {
    values: Vec<u64>,
    key: PhantomData<K>,
}

impl<K: Counter> Counts<K> {
    pub fn new() -> Self {
        Counts {
            values: vec![0; K::ALL.len()],
            key: PhantomData,
        }
    }

    pub fn add(&mut self, key: K, n: u64) {
        self.values[key.index()] += n;
    }

    pub fn get(&self, key: K) -> u64 {
        self.values[key.index()]
    }

    /// As the WIT `counts`: `(name, value)` in declaration order.
    pub fn into_wit(self) -> Vec<(String, u64)> {
        K::ALL
            .iter()
            .map(|k| k.name().to_owned())
            .zip(self.values)
            .collect()
    }
}

impl<K: Counter> Default for Counts<K> {
    fn default() -> Self {
        Self::new()
    }
}

/// Declares a function's counters as an enum implementing [`Counter`],
/// e.g. `pub enum Count { Manifests = "manifests", Blobs = "blobs" }`.
#[macro_export]
macro_rules! counters {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $crate::Counter for $name {
            const ALL: &'static [Self] = &[$( Self::$variant ),+];

            fn name(self) -> &'static str {
                match self {
                    $( Self::$variant => $text ),+
                }
            }

            fn index(self) -> usize {
                self as usize
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::counters! {
        enum Count {
            Manifests = "manifests",
            Blobs = "blobs",
            Referrers = "referrers",
        }
    }

    #[test]
    fn counters_add_up_and_report_in_declaration_order() {
        let mut c = Counts::new();
        c.add(Count::Referrers, 2);
        c.add(Count::Manifests, 1);
        c.add(Count::Referrers, 3);
        assert_eq!(c.get(Count::Referrers), 5);
        assert_eq!(c.get(Count::Blobs), 0);
        assert_eq!(
            c.into_wit(),
            vec![
                ("manifests".to_owned(), 1),
                ("blobs".to_owned(), 0),
                ("referrers".to_owned(), 5)
            ]
        );
    }
}
