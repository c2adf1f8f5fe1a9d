//! The inventory's content hash. The agent sends the whole inventory only when this changes,
//! and the server skips re-reading an inventory whose hash it has applied, so every producer
//! (the agent, fleet-sim imitating it) must compute it the same way: this one.

use sha2::{Digest, Sha256};

use crate::protocol::Inventory;

impl Inventory {
    /// Hex SHA-256 of this inventory serialised as JSON with an empty `hash`. The collectors
    /// sort every list, so the same machine state always hashes the same.
    pub fn content_hash(&self) -> String {
        let mut unhashed = self.clone();
        unhashed.hash.clear();
        // Serialising plain data (strings, numbers, maps with string keys) cannot fail.
        let bytes = serde_json::to_vec(&unhashed).unwrap_or_default();
        hex::encode(Sha256::digest(bytes))
    }
}

#[cfg(test)]
mod tests {
    use crate::fixture;

    /// Taken from the agent's and fleet-sim's own implementations before they were replaced by
    /// this one: both gave this value for the fixture.
    const FIXTURE_HASH: &str = "20b2c2fd334ad96938e50cd3a5d926e1ba58d6181d278dbcf2cf6f547e4f883b";

    #[test]
    fn a_fixed_inventory_hashes_as_it_always_did() {
        let mut inventory = fixture::inventory();
        assert_eq!(inventory.content_hash(), FIXTURE_HASH);
        // The hash field itself is not part of what is hashed.
        inventory.hash = "anything".into();
        assert_eq!(inventory.content_hash(), FIXTURE_HASH);
    }

    #[test]
    fn any_change_changes_the_hash() {
        let mut inventory = fixture::inventory();
        inventory.reboot_required = Some(false);
        assert_ne!(inventory.content_hash(), FIXTURE_HASH);
    }
}
