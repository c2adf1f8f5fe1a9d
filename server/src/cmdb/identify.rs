//! Identification rules: which reported values recognise a CI again, in which order, and which
//! values are junk that must never identify anything.
//!
//! For a computer the order is hardware UUID, serial number, machine id, host name (weakest,
//! since hosts get renamed and names repeat). A candidate found through a weaker identifier is
//! rejected when it carries a *different* value of a stronger one: two cloned VMs share a
//! machine id but not a hardware UUID, and must stay two CIs.

use atalaya_shared::HostFacts;

/// An identifier kind with its rank: lower rank is stronger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdentifierKind {
    pub name: &'static str,
    pub rank: u8,
}

pub const HARDWARE_UUID: IdentifierKind = IdentifierKind {
    name: "hardware_uuid",
    rank: 0,
};
pub const SERIAL_NUMBER: IdentifierKind = IdentifierKind {
    name: "serial_number",
    rank: 1,
};
/// Several values at once: the MAC addresses of the machine's physical interfaces.
pub const MAC_ADDRESS: IdentifierKind = IdentifierKind {
    name: "mac_address",
    rank: 2,
};
pub const MACHINE_ID: IdentifierKind = IdentifierKind {
    name: "machine_id",
    rank: 3,
};
pub const HOSTNAME: IdentifierKind = IdentifierKind {
    name: "hostname",
    rank: 4,
};
/// A dependent CI's key within its computer (mount point of a volume, …).
pub const LOCAL_KEY: IdentifierKind = IdentifierKind {
    name: "local_key",
    rank: 0,
};

const COMPUTER_KINDS: [IdentifierKind; 5] = [
    HARDWARE_UUID,
    SERIAL_NUMBER,
    MAC_ADDRESS,
    MACHINE_ID,
    HOSTNAME,
];

impl IdentifierKind {
    /// Whether a CI holds one value of this kind (replaced when it changes) or a set.
    pub fn is_multi_valued(self) -> bool {
        self == MAC_ADDRESS
    }
}

fn kind_by_name(name: &str) -> Option<IdentifierKind> {
    COMPUTER_KINDS.iter().copied().find(|k| k.name == name)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identifier {
    pub kind: IdentifierKind,
    pub value: String,
}

/// Values vendors and hypervisors put in DMI fields when there is nothing real to say.
const JUNK: &[&str] = &[
    "",
    "0",
    "none",
    "null",
    "n/a",
    "na",
    "not specified",
    "not available",
    "not applicable",
    "to be filled by o.e.m.",
    "to be filled by oem",
    "default string",
    "system serial number",
    "system product name",
    "chassis serial number",
    "base board serial number",
    "serial",
    "0123456789",
    "123456789",
    "1234567890",
    "00000000",
    "xxxxxxxxxx",
    "unknown",
    "invalid",
    "oem",
];

/// Whether a reported value is a placeholder rather than a real identifier.
pub fn is_junk(value: &str) -> bool {
    let v = value.trim().to_ascii_lowercase();
    if JUNK.contains(&v.as_str()) {
        return true;
    }
    // All-zero or all-F UUIDs, serials and MACs ("00000000-0000-…", "FF:FF:…").
    let significant: Vec<char> = v
        .chars()
        .filter(|c| !matches!(c, '-' | ' ' | ':'))
        .collect();
    significant.len() >= 4
        && (significant.iter().all(|c| *c == '0') || significant.iter().all(|c| *c == 'f'))
}

fn normalise(value: &str) -> String {
    value.trim().to_ascii_lowercase()
}

/// The identifiers of a computer, strongest first, junk removed. `macs` are the MAC addresses
/// of its physical interfaces (known when an inventory arrives).
pub fn computer_identifiers(host: &HostFacts, macs: &[&str]) -> Vec<Identifier> {
    let singles = [
        (HARDWARE_UUID, host.hardware_uuid.as_deref()),
        (SERIAL_NUMBER, host.serial_number.as_deref()),
    ];
    let weaker = [
        (MACHINE_ID, host.machine_id.as_deref()),
        (HOSTNAME, Some(host.hostname.as_str())),
    ];
    let mut macs: Vec<&str> = macs.to_vec();
    macs.sort_unstable();
    macs.dedup();
    singles
        .into_iter()
        .chain(macs.into_iter().map(|m| (MAC_ADDRESS, Some(m))))
        .chain(weaker)
        .filter_map(|(kind, value)| {
            let value = value?;
            (!is_junk(value)).then(|| Identifier {
                kind,
                value: normalise(value),
            })
        })
        .collect()
}

/// The first identifier stronger than `matched` on which the candidate CI disagrees with the
/// report: it holds values of that kind and none of them is among the reported ones. `None`
/// means the candidate may be the reported machine.
pub fn disagreement(
    reported: &[Identifier],
    matched: IdentifierKind,
    candidate: &[(String, String)],
) -> Option<IdentifierKind> {
    COMPUTER_KINDS
        .iter()
        .copied()
        .filter(|kind| kind.rank < matched.rank)
        .find(|&kind| {
            let ours: Vec<&str> = reported
                .iter()
                .filter(|id| id.kind == kind)
                .map(|id| id.value.as_str())
                .collect();
            let held: Vec<&str> = candidate
                .iter()
                .filter(|(k, _)| kind_by_name(k) == Some(kind))
                .map(|(_, v)| v.as_str())
                .collect();
            !ours.is_empty() && !held.is_empty() && !ours.iter().any(|v| held.contains(v))
        })
}

/// Whether a candidate CI found through `matched` may be the reported machine.
pub fn candidate_agrees(
    reported: &[Identifier],
    matched: IdentifierKind,
    candidate: &[(String, String)],
) -> bool {
    disagreement(reported, matched, candidate).is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(
        uuid: Option<&str>,
        serial: Option<&str>,
        machine: Option<&str>,
        name: &str,
    ) -> HostFacts {
        HostFacts {
            hostname: name.into(),
            hardware_uuid: uuid.map(Into::into),
            serial_number: serial.map(Into::into),
            machine_id: machine.map(Into::into),
            ..HostFacts::default()
        }
    }

    #[test]
    fn junk_values_never_identify() {
        for junk in [
            "To be filled by O.E.M.",
            "Default string",
            "0",
            "None",
            "00000000-0000-0000-0000-000000000000",
            "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF",
            "  ",
        ] {
            assert!(is_junk(junk), "{junk:?} should be junk");
        }
        assert!(!is_junk("4C4C4544-0042-3510-8051-B4C04F4E3132"));
        assert!(!is_junk("PF2ABCDE"));
    }

    #[test]
    fn identifiers_come_strongest_first_without_junk() {
        let ids = computer_identifiers(
            &host(
                Some("ABCD-1234"),
                Some("To be filled by O.E.M."),
                Some("f00d"),
                "Web01",
            ),
            &[],
        );
        let kinds: Vec<_> = ids.iter().map(|i| i.kind.name).collect();
        assert_eq!(kinds, ["hardware_uuid", "machine_id", "hostname"]);
        assert_eq!(ids[0].value, "abcd-1234");
        assert_eq!(ids[2].value, "web01");
    }

    #[test]
    fn a_clone_with_another_hardware_uuid_is_not_the_same_machine() {
        let clone =
            computer_identifiers(&host(Some("uuid-b"), None, Some("shared-mid"), "vm2"), &[]);
        let original = vec![
            ("hardware_uuid".to_string(), "uuid-a".to_string()),
            ("machine_id".to_string(), "shared-mid".to_string()),
        ];
        assert!(!candidate_agrees(&clone, MACHINE_ID, &original));
    }

    #[test]
    fn a_renamed_host_is_the_same_machine() {
        let renamed = computer_identifiers(&host(None, None, Some("mid"), "new-name"), &[]);
        let known = vec![
            ("machine_id".to_string(), "mid".to_string()),
            ("hostname".to_string(), "old-name".to_string()),
        ];
        assert!(candidate_agrees(&renamed, MACHINE_ID, &known));
    }

    #[test]
    fn mac_sets_agree_when_they_overlap() {
        let ids = computer_identifiers(
            &host(None, None, Some("mid"), "h"),
            &["AA:BB:CC:00:00:02", "aa:bb:cc:00:00:01"],
        );
        assert_eq!(ids.iter().filter(|i| i.kind == MAC_ADDRESS).count(), 2);
        let held = vec![
            ("mac_address".to_string(), "aa:bb:cc:00:00:01".to_string()),
            ("mac_address".to_string(), "aa:bb:cc:00:00:09".to_string()),
        ];
        assert!(
            candidate_agrees(&ids, MACHINE_ID, &held),
            "one NIC replaced, one kept"
        );
        let other = vec![("mac_address".to_string(), "aa:bb:cc:00:00:09".to_string())];
        assert_eq!(disagreement(&ids, MACHINE_ID, &other), Some(MAC_ADDRESS));
        assert!(is_junk("00:00:00:00:00:00"));
    }

    #[test]
    fn a_candidate_without_the_stronger_identifier_is_accepted() {
        // The agent now runs as root and reads the DMI UUID it could not read before.
        let now_root = computer_identifiers(&host(Some("uuid-a"), None, Some("mid"), "h"), &[]);
        let known = vec![("machine_id".to_string(), "mid".to_string())];
        assert!(candidate_agrees(&now_root, MACHINE_ID, &known));
    }
}
