//! A hash map split into many small maps, so that growing it never stops the SIP task.
//!
//! UDP server transactions linger for Timer J (32 s) after their final response, so at
//! 1,000 calls/s the transaction tables hold hundreds of thousands of entries. A single
//! `HashMap` doubles by rehashing everything at once, which stalled the SIP task for tens
//! of milliseconds; with [`SHARDS`] maps each growth step moves 1/64 of the entries.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash};

/// How many maps the entries are spread over.
pub const SHARDS: usize = 64;

/// A `HashMap` in [`SHARDS`] parts chosen by a keyed hash of the key.
#[derive(Debug)]
pub struct ShardedMap<K, V> {
    pick: RandomState,
    shards: Vec<HashMap<K, V>>,
    len: usize,
}

impl<K: Hash + Eq, V> Default for ShardedMap<K, V> {
    fn default() -> Self {
        ShardedMap {
            pick: RandomState::new(),
            shards: (0..SHARDS).map(|_| HashMap::new()).collect(),
            len: 0,
        }
    }
}

impl<K: Hash + Eq, V> ShardedMap<K, V> {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    fn index(&self, key: &K) -> usize {
        (self.pick.hash_one(key) as usize) % SHARDS
    }

    /// The value for `key`.
    pub fn get(&self, key: &K) -> Option<&V> {
        self.shards.get(self.index(key))?.get(key)
    }

    /// The value for `key`, to change it.
    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        let i = self.index(key);
        self.shards.get_mut(i)?.get_mut(key)
    }

    /// Whether `key` is present.
    pub fn contains_key(&self, key: &K) -> bool {
        self.get(key).is_some()
    }

    /// Inserts, returning the value `key` had before.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        let i = self.index(&key);
        let old = self.shards.get_mut(i)?.insert(key, value);
        if old.is_none() {
            self.len += 1;
        }
        old
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        let i = self.index(key);
        let old = self.shards.get_mut(i)?.remove(key);
        if old.is_some() {
            self.len -= 1;
        }
        old
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every key, in no particular order.
    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.shards.iter().flat_map(HashMap::keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Behaves exactly like one `HashMap` under any sequence of inserts and removes.
        #[test]
        fn matches_a_plain_hashmap(ops in proptest::collection::vec((any::<bool>(), 0u16..300, any::<u32>()), 0..2000)) {
            let mut sharded = ShardedMap::new();
            let mut plain = HashMap::new();
            for (insert, k, v) in ops {
                if insert {
                    prop_assert_eq!(sharded.insert(k, v), plain.insert(k, v));
                } else {
                    prop_assert_eq!(sharded.remove(&k), plain.remove(&k));
                }
                prop_assert_eq!(sharded.len(), plain.len());
            }
            for (k, v) in &plain {
                prop_assert_eq!(sharded.get(k), Some(v));
                prop_assert!(sharded.contains_key(k));
            }
            let mut keys: Vec<_> = sharded.keys().copied().collect();
            keys.sort_unstable();
            let mut expected: Vec<_> = plain.keys().copied().collect();
            expected.sort_unstable();
            prop_assert_eq!(keys, expected);
        }
    }

    #[test]
    fn spreads_entries_over_the_shards() {
        let mut m = ShardedMap::new();
        for i in 0..64_000u32 {
            m.insert(i, ());
        }
        let biggest = m.shards.iter().map(HashMap::len).max().unwrap_or(0);
        assert!(
            biggest < 64_000 / SHARDS * 2,
            "largest shard holds {biggest}"
        );
        if let Some(v) = m.get_mut(&7) {
            *v = ();
        }
        assert_eq!(m.remove(&7), Some(()));
        assert!(!m.contains_key(&7));
        assert_eq!(m.len(), 63_999);
    }
}
