//! The kernel's and the firmware's one-value text files (`/sys`, `/proc`, `/etc`), read the way
//! every collector needs them: trimmed, and `None` rather than an error when a file is missing or
//! unreadable. Both the periodic collection and the inventory read through here, so neither
//! depends on the other for it.

use std::fs;
use std::path::Path;

/// A DMI field, unless it is missing, unreadable or one of the vendors' placeholders.
pub fn dmi_value(path: &str) -> Option<String> {
    read_trimmed(path).filter(|s| !is_placeholder(s))
}

/// Whole physical (or virtual machine) disks by kernel name; loop, RAM, zram, device-mapper,
/// md, optical and network block devices are not disks.
pub fn is_physical_disk(name: &str) -> bool {
    const LOGICAL: &[&str] = &["loop", "ram", "zram", "dm-", "md", "sr", "fd", "nbd", "rbd"];
    !LOGICAL.iter().any(|p| name.starts_with(p))
}

/// Vendors fill DMI fields they do not care about with these.
fn is_placeholder(value: &str) -> bool {
    const PLACEHOLDERS: &[&str] = &[
        "none",
        "not specified",
        "not applicable",
        "to be filled by o.e.m.",
        "default string",
        "system serial number",
        "0123456789",
        "n/a",
        "0",
    ];
    PLACEHOLDERS.contains(&value.to_ascii_lowercase().as_str())
}

/// A file's text without surrounding white space; `None` when it is missing, unreadable or empty.
pub fn read_trimmed(path: impl AsRef<Path>) -> Option<String> {
    let text = fs::read_to_string(path).ok()?;
    let t = text.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dmi_placeholders_are_not_serials() {
        assert!(is_placeholder("To Be Filled By O.E.M."));
        assert!(is_placeholder("Not Specified"));
        assert!(!is_placeholder("PF2ABC12"));
    }
}
