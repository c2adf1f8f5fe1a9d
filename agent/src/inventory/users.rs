//! Logged-in users from the utmp database, parsed directly (glibc's `struct utmp` layout on
//! Linux, 384 bytes per record).

use std::fs;

use atalaya_shared::protocol::LoggedInUser;
use chrono::DateTime;

pub const UTMP: &str = "/var/run/utmp";
const RECORD: usize = 384;
const USER_PROCESS: i16 = 7;

/// `Err` when there is no utmp database to read (minimal containers, systemd without utmp).
pub fn logged_in_users() -> Result<Vec<LoggedInUser>, String> {
    let bytes = fs::read(UTMP).map_err(|e| format!("reading {UTMP}: {e}"))?;
    Ok(parse_utmp(&bytes))
}

/// Records: `ut_type` i16 @0, `ut_pid` @4, `ut_line` [32] @8, `ut_id` [4] @40, `ut_user` [32]
/// @44, `ut_host` [256] @76, exit @332, session @336, `tv_sec` i32 @340 (little-endian on the
/// platforms we build for; native order in general).
pub fn parse_utmp(bytes: &[u8]) -> Vec<LoggedInUser> {
    let mut users: Vec<LoggedInUser> = bytes
        .chunks_exact(RECORD)
        .filter(|r| i16::from_ne_bytes([r[0], r[1]]) == USER_PROCESS)
        .filter_map(|r| {
            let name = c_string(&r[44..76])?;
            let secs = i32::from_ne_bytes([r[340], r[341], r[342], r[343]]);
            Some(LoggedInUser {
                name,
                terminal: c_string(&r[8..40]),
                remote_host: c_string(&r[76..332]),
                since: DateTime::from_timestamp(i64::from(secs), 0).filter(|_| secs > 0),
            })
        })
        .collect();
    users.sort_by(|a, b| (&a.name, &a.terminal).cmp(&(&b.name, &b.terminal)));
    users
}

fn c_string(field: &[u8]) -> Option<String> {
    let end = field.iter().position(|b| *b == 0).unwrap_or(field.len());
    let s = String::from_utf8_lossy(&field[..end]).trim().to_owned();
    (!s.is_empty()).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: i16, user: &str, line: &str, host: &str, secs: i32) -> Vec<u8> {
        let mut r = vec![0u8; RECORD];
        r[0..2].copy_from_slice(&kind.to_ne_bytes());
        r[8..8 + line.len()].copy_from_slice(line.as_bytes());
        r[44..44 + user.len()].copy_from_slice(user.as_bytes());
        r[76..76 + host.len()].copy_from_slice(host.as_bytes());
        r[340..344].copy_from_slice(&secs.to_ne_bytes());
        r
    }

    #[test]
    fn only_user_processes_are_logged_in_users() {
        let mut db = record(2, "reboot", "~", "6.1.0", 1_700_000_000); // BOOT_TIME
        db.extend(record(
            USER_PROCESS,
            "alice",
            "pts/0",
            "192.0.2.7",
            1_700_000_100,
        ));
        db.extend(record(8, "bob", "pts/1", "", 1_700_000_200)); // DEAD_PROCESS
        db.extend(record(USER_PROCESS, "carol", "tty1", "", 1_700_000_300));
        db.extend([0u8; 10]); // a torn trailing record is ignored
        let users = parse_utmp(&db);
        assert_eq!(users.len(), 2);
        assert_eq!(users[0].name, "alice");
        assert_eq!(users[0].terminal.as_deref(), Some("pts/0"));
        assert_eq!(users[0].remote_host.as_deref(), Some("192.0.2.7"));
        assert_eq!(users[0].since.unwrap().timestamp(), 1_700_000_100);
        assert_eq!(users[1].remote_host, None);
    }
}
