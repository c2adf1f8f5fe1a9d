//! Installed memory modules from the SMBIOS "Memory Device" structures (type 17) the kernel
//! exposes as `/sys/firmware/dmi/entries/17-*/raw` (readable by root only). Layout: DMTF
//! DSP0134 §7.18; the formatted area is followed by the structure's NUL-terminated strings.

use std::fs;
use std::io::ErrorKind;
use std::path::Path;

use atalaya_shared::protocol::MemoryModule;

pub const ENTRIES: &str = "/sys/firmware/dmi/entries";

const MEMORY_DEVICE: u8 = 17;
const MIB: u64 = 1 << 20;

/// The installed modules, sorted by slot; `Err` says why they cannot be read.
pub fn modules() -> Result<Vec<MemoryModule>, String> {
    modules_in(Path::new(ENTRIES))
}

pub fn modules_in(entries: &Path) -> Result<Vec<MemoryModule>, String> {
    let dir = fs::read_dir(entries).map_err(|e| match e.kind() {
        ErrorKind::NotFound => format!(
            "no SMBIOS tables ({} is missing: no DMI on this machine or container)",
            entries.display()
        ),
        _ => format!("cannot list {}: {e}", entries.display()),
    })?;
    let mut modules = Vec::new();
    let mut denied = None;
    for entry in dir.filter_map(Result::ok) {
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with("17-") {
            continue;
        }
        let raw = entry.path().join("raw");
        match fs::read(&raw) {
            Ok(bytes) => modules.extend(parse_memory_device(&bytes)),
            Err(e) if e.kind() == ErrorKind::PermissionDenied => denied = Some(raw),
            Err(e) => tracing::debug!(path = %raw.display(), error = %e, "SMBIOS entry unreadable"),
        }
    }
    if modules.is_empty() {
        if let Some(path) = denied {
            return Err(format!(
                "SMBIOS memory device entries are readable by root only ({})",
                path.display()
            ));
        }
    }
    modules.sort_by(|a, b| (&a.locator, &a.bank_locator).cmp(&(&b.locator, &b.bank_locator)));
    Ok(modules)
}

/// One type 17 structure; `None` for an empty slot, another type or a truncated structure.
pub fn parse_memory_device(raw: &[u8]) -> Option<MemoryModule> {
    let (&kind, &len) = (raw.first()?, raw.get(1)?);
    let len = usize::from(len);
    if kind != MEMORY_DEVICE || len < 0x15 || raw.len() < len {
        return None;
    }
    let byte = |at: usize| (at < len).then(|| raw[at]);
    let word = |at: usize| (at + 1 < len).then(|| u16::from_le_bytes([raw[at], raw[at + 1]]));
    let dword = |at: usize| {
        (at + 3 < len).then(|| u32::from_le_bytes([raw[at], raw[at + 1], raw[at + 2], raw[at + 3]]))
    };
    let strings: Vec<String> = raw[len..]
        .split(|b| *b == 0)
        .take_while(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).trim().to_owned())
        .collect();
    let string = |at: usize| {
        let index = usize::from(byte(at)?);
        let s = strings.get(index.checked_sub(1)?)?;
        (!s.is_empty() && !is_placeholder(s)).then(|| s.clone())
    };

    let size_bytes = match word(0x0C)? {
        0 | 0xFFFF => return None,
        0x7FFF => u64::from(dword(0x1C)? & 0x7FFF_FFFF) * MIB,
        s if s & 0x8000 != 0 => u64::from(s & 0x7FFF) * 1024,
        s => u64::from(s) * MIB,
    };
    let speed = match word(0x15) {
        Some(0xFFFF) => dword(0x54).filter(|s| *s > 0),
        Some(s) if s > 0 => Some(u32::from(s)),
        _ => None,
    };
    Some(MemoryModule {
        locator: string(0x10).unwrap_or_else(|| "unknown".into()),
        bank_locator: string(0x11),
        size_bytes,
        memory_type: byte(0x12).and_then(memory_type_name).map(str::to_owned),
        speed_mts: speed,
        manufacturer: string(0x17),
        serial_number: string(0x18),
        part_number: string(0x1A),
    })
}

/// SMBIOS memory type codes (DSP0134 table 76) for the kinds still in service.
fn memory_type_name(code: u8) -> Option<&'static str> {
    Some(match code {
        0x0F => "SDRAM",
        0x12 => "DDR",
        0x13 => "DDR2",
        0x14 => "DDR2 FB-DIMM",
        0x18 => "DDR3",
        0x1A => "DDR4",
        0x1B => "LPDDR",
        0x1C => "LPDDR2",
        0x1D => "LPDDR3",
        0x1E => "LPDDR4",
        0x1F => "Logical non-volatile device",
        0x20 => "HBM",
        0x21 => "HBM2",
        0x22 => "DDR5",
        0x23 => "LPDDR5",
        0x24 => "HBM3",
        _ => return None,
    })
}

/// Firmware fills the strings of fields it does not know with these.
fn is_placeholder(s: &str) -> bool {
    const PLACEHOLDERS: &[&str] = &[
        "unknown",
        "not specified",
        "none",
        "to be filled by o.e.m.",
        "0000000",
        "00000000",
        "manufacturer00",
        "serialnum00",
        "partnum0",
    ];
    PLACEHOLDERS.contains(&s.to_ascii_lowercase().as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A type 17 structure of SMBIOS 3.2 (length 0x28) as firmware writes it.
    fn device(size: u16, extended_mib: u32, kind: u8, speed: u16, strings: &[&str]) -> Vec<u8> {
        let mut raw = vec![0u8; 0x28];
        raw[0] = 17;
        raw[1] = 0x28;
        raw[0x0C..0x0E].copy_from_slice(&size.to_le_bytes());
        raw[0x10] = 1; // device locator
        raw[0x11] = 2; // bank locator
        raw[0x12] = kind;
        raw[0x15..0x17].copy_from_slice(&speed.to_le_bytes());
        raw[0x17] = 3; // manufacturer
        raw[0x18] = 4; // serial
        raw[0x1A] = 5; // part number
        raw[0x1C..0x20].copy_from_slice(&extended_mib.to_le_bytes());
        for s in strings {
            raw.extend_from_slice(s.as_bytes());
            raw.push(0);
        }
        raw.push(0);
        raw
    }

    #[test]
    fn installed_module_is_parsed() {
        let raw = device(
            16384,
            0,
            0x1A,
            3200,
            &[
                "DIMM_A1",
                "BANK 0",
                "Samsung",
                "H0D5C3A1",
                "M378A2K43DB1-CTD  ",
            ],
        );
        let m = parse_memory_device(&raw).expect("a module");
        assert_eq!(m.locator, "DIMM_A1");
        assert_eq!(m.bank_locator.as_deref(), Some("BANK 0"));
        assert_eq!(m.size_bytes, 16 << 30);
        assert_eq!(m.memory_type.as_deref(), Some("DDR4"));
        assert_eq!(m.speed_mts, Some(3200));
        assert_eq!(m.manufacturer.as_deref(), Some("Samsung"));
        assert_eq!(m.serial_number.as_deref(), Some("H0D5C3A1"));
        assert_eq!(m.part_number.as_deref(), Some("M378A2K43DB1-CTD"));
    }

    #[test]
    fn sizes_in_kib_and_extended_sizes_are_understood() {
        let kib = device(0x8000 | 512, 0, 0x18, 0, &["A", "B", "C", "D", "E"]);
        assert_eq!(
            parse_memory_device(&kib).map(|m| m.size_bytes),
            Some(512 << 10)
        );
        let big = device(0x7FFF, 65536, 0x22, 4800, &["A", "B", "C", "D", "E"]);
        let m = parse_memory_device(&big).expect("a module");
        assert_eq!(m.size_bytes, 64 << 30);
        assert_eq!(m.memory_type.as_deref(), Some("DDR5"));
    }

    #[test]
    fn empty_slots_placeholders_and_garbage_are_skipped() {
        let empty = device(0, 0, 0x02, 0, &["DIMM_B1", "BANK 1", "Unknown", "", ""]);
        assert_eq!(parse_memory_device(&empty), None);
        let unknown_vendor = device(8192, 0, 0x02, 0, &["DIMM_B1", "", "Not Specified"]);
        let m = parse_memory_device(&unknown_vendor).expect("a module");
        assert_eq!(m.manufacturer, None);
        assert_eq!(m.memory_type, None);
        assert_eq!(parse_memory_device(&[17, 0x28, 0, 0]), None, "truncated");
        assert_eq!(parse_memory_device(&[]), None);
        let mut other = device(8192, 0, 0x1A, 0, &["A"]);
        other[0] = 16;
        assert_eq!(parse_memory_device(&other), None, "another structure type");
    }

    #[test]
    fn a_directory_of_entries_is_read_and_missing_tables_say_why() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, raw) in [
            (
                "17-1",
                device(8192, 0, 0x1A, 2666, &["DIMM_B", "", "", "", ""]),
            ),
            (
                "17-0",
                device(8192, 0, 0x1A, 2666, &["DIMM_A", "", "", "", ""]),
            ),
            ("17-2", device(0, 0, 0x02, 0, &["DIMM_C"])),
            ("16-0", vec![16, 4, 0, 0, 0, 0]),
        ] {
            std::fs::create_dir(dir.path().join(name)).expect("mkdir");
            std::fs::write(dir.path().join(name).join("raw"), raw).expect("write");
        }
        let got = modules_in(dir.path()).expect("readable");
        let slots: Vec<_> = got.iter().map(|m| m.locator.as_str()).collect();
        assert_eq!(slots, ["DIMM_A", "DIMM_B"]);

        let why = modules_in(&dir.path().join("missing")).expect_err("no tables");
        assert!(why.contains("no SMBIOS tables"), "{why}");
    }

    /// On this machine: either modules whose sizes add up to no less than the kernel's
    /// MemTotal (the kernel reserves some), or a reason.
    #[test]
    fn this_machines_modules_or_a_reason() {
        match modules() {
            Ok(m) if !m.is_empty() => {
                let installed: u64 = m.iter().map(|m| m.size_bytes).sum();
                let meminfo = std::fs::read_to_string("/proc/meminfo").expect("meminfo");
                let kib: u64 = meminfo
                    .lines()
                    .find_map(|l| l.strip_prefix("MemTotal:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                    .expect("MemTotal");
                assert!(installed >= kib * 1024, "{installed} < MemTotal {kib} KiB");
            }
            Ok(_) => eprintln!("no memory modules listed by SMBIOS here"),
            Err(why) => {
                eprintln!("SKIPPED comparison: memory modules unavailable here ({why})");
                assert!(!why.is_empty());
            }
        }
    }
}
