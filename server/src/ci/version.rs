//! Version ordering for package versions: `3.0.10` sorts after `3.0.9`, `1:2.0` (Debian epoch)
//! after `9.0`. A version becomes a key whose plain string order is the version order, so the
//! database compares versions with an ordinary index.

/// Width of a numeric segment in the key; longer numbers keep their digits (still ordered among
/// themselves by length first via the prefix).
const WIDTH: usize = 10;

/// The sortable key of a version string.
///
/// Segments are runs of digits or of letters; digits are zero-padded, letters kept (lowercase),
/// separators dropped. A Debian epoch (`N:`) leads; without one the epoch is 0.
pub fn version_key(version: &str) -> String {
    let version = version.trim();
    let (epoch, rest) = match version.split_once(':') {
        Some((e, r)) if !e.is_empty() && e.chars().all(|c| c.is_ascii_digit()) => (e, r),
        _ => ("0", version),
    };
    let mut key = String::with_capacity(rest.len() * 3 + WIDTH);
    push_number(&mut key, epoch);
    let mut chars = rest.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_ascii_digit() {
            let mut digits = String::new();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                digits.push(d);
                chars.next();
            }
            key.push('.');
            push_number(&mut key, &digits);
        } else if c.is_alphabetic() {
            // Letters sort *before* digits at the same position ("1.0rc1" < "1.0.1") by using a
            // separator that is smaller than '.'.
            key.push('-');
            while let Some(&l) = chars.peek().filter(|l| l.is_alphabetic()) {
                key.extend(l.to_lowercase());
                chars.next();
            }
        } else {
            chars.next();
        }
    }
    key
}

fn push_number(key: &mut String, digits: &str) {
    let trimmed = digits.trim_start_matches('0');
    if trimmed.len() > WIDTH {
        // Absurdly long numbers: a marker that sorts after any padded number, then the digits.
        key.push('~');
        key.push_str(trimmed);
    } else {
        key.push_str(&format!("{trimmed:0>WIDTH$}"));
    }
}

#[cfg(test)]
mod tests {
    use super::version_key as k;

    #[test]
    fn numeric_segments_order_numerically() {
        assert!(k("3.0.10") > k("3.0.9"));
        assert!(k("3.0.7") > k("3.0.2"));
        assert!(k("10.0") > k("9.9.9"));
        assert_eq!(k("3.0.7"), k("3.0.07"));
    }

    #[test]
    fn debian_versions() {
        assert!(k("1:2.0") > k("9.0"), "epoch wins");
        assert!(k("3.0.11-1~deb12u2") > k("3.0.11-1~deb12u1"));
        assert!(k("3.0.11-1") > k("3.0.9-1"));
        assert!(k("1.0rc1") < k("1.0.1"));
    }

    #[test]
    fn order_is_total_and_consistent_with_sorting() {
        let mut versions = vec!["3.0.10", "3.0.9", "1:0.1", "3.0", "3.0.9a", "2.10", "2.9"];
        versions.sort_by_key(|v| k(v));
        assert_eq!(
            versions,
            ["2.9", "2.10", "3.0", "3.0.9", "3.0.9a", "3.0.10", "1:0.1"]
        );
    }
}
