//! [`Order`]: a fingerprint of the sequence of message ids one client saw.
//!
//! The contract promises every member one and the same order. Comparing whole
//! id lists across thousands of clients would cost memory per delivery, so each
//! client folds its ids into a 64-bit hash as they arrive; equal hashes mean
//! (short of a 2^-64 accident) equal sequences. It also counts any id that
//! does not increase, which the contract forbids outright.

/// FNV-1a's starting value and multiplier, applied to whole ids: cheap, and
/// the multiply after each xor makes the result depend on the order.
const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME: u64 = 0x0000_0100_0000_01b3;

/// The running fingerprint of one client's ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Order {
    hash: u64,
    last: u64,
    backwards: u64,
}

impl Default for Order {
    fn default() -> Order {
        Order { hash: OFFSET, last: 0, backwards: 0 }
    }
}

impl Order {
    /// Takes the next id seen.
    pub fn push(&mut self, id: u64) {
        if id <= self.last {
            self.backwards += 1;
        }
        self.last = id;
        self.hash = (self.hash ^ id).wrapping_mul(PRIME);
    }

    /// The fingerprint of every id pushed so far, in order.
    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// How many ids were not greater than the one before.
    pub fn backwards(&self) -> u64 {
        self.backwards
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(ids: &[u64]) -> Order {
        let mut order = Order::default();
        ids.iter().for_each(|&id| order.push(id));
        order
    }

    #[test]
    fn same_sequence_same_hash() {
        assert_eq!(order(&[1, 2, 5, 9]).hash(), order(&[1, 2, 5, 9]).hash());
        assert_eq!(order(&[1, 2, 5, 9]).backwards(), 0);
    }

    #[test]
    fn any_difference_changes_the_hash() {
        let base = order(&[1, 2, 3, 4]).hash();
        for other in [&[2, 1, 3, 4][..], &[1, 2, 4, 3], &[1, 2, 3], &[1, 2, 3, 4, 5], &[1, 3, 4]] {
            assert_ne!(order(other).hash(), base, "{other:?}");
        }
        assert_ne!(order(&[]).hash(), order(&[0]).hash());
    }

    #[test]
    fn counts_ids_that_do_not_increase() {
        assert_eq!(order(&[1, 3, 2, 2, 4]).backwards(), 2);
        assert_eq!(order(&[0]).backwards(), 1, "ids start at 1");
    }
}
