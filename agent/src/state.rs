//! The agent's durable identity: where its state lives, the credential from enrollment and the
//! report sequence counter, which must never go backwards for a machine (not across restarts,
//! not across re-enrollment).

use std::fmt;
use std::fs::{self, File};
use std::io;
use std::path::PathBuf;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::AgentError;
use crate::fsio;

/// `/var/lib/atalaya-agent` for root; otherwise the user's data directory.
pub fn default_dir() -> PathBuf {
    if rustix::process::geteuid().is_root() {
        return PathBuf::from("/var/lib/atalaya-agent");
    }
    let data_home = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        // No HOME at all (a bare service environment): fall back to the working directory.
        .unwrap_or_else(|| PathBuf::from("."));
    data_home.join("atalaya-agent")
}

/// The state directory and the names of the files in it.
#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    #[cfg(test)]
    pub fn root(&self) -> &std::path::Path {
        &self.root
    }

    /// Creates the directory with mode 0700: it holds a secret.
    pub fn ensure(&self) -> Result<()> {
        fsio::create_private_dir(&self.root)
            .with_context(|| format!("creating state directory {}", self.root.display()))
    }

    pub fn credential_path(&self) -> PathBuf {
        self.root.join("credential.json")
    }

    pub fn inventory_state_path(&self) -> PathBuf {
        self.root.join("inventory.json")
    }

    /// The last agent config fetched from the server.
    pub fn agent_config_path(&self) -> PathBuf {
        self.root.join("agent_config.json")
    }

    pub fn seq_path(&self) -> PathBuf {
        self.root.join("seq")
    }

    pub fn spool_dir(&self) -> PathBuf {
        self.root.join("spool")
    }

    /// Takes the state directory's lock so two `run`s never hand out the same sequence number.
    /// The lock lasts as long as the returned file stays open.
    pub fn lock_exclusive(&self) -> Result<File> {
        let path = self.root.join("lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(file),
            Err(e) if e == rustix::io::Errno::WOULDBLOCK => anyhow::bail!(
                "another atalaya-agent is already running with state directory {}",
                self.root.display()
            ),
            Err(e) => {
                Err(io::Error::from(e)).with_context(|| format!("locking {}", path.display()))
            }
        }
    }
}

/// What `enroll` obtained from the server; everything `run` needs to report.
#[derive(Clone, Serialize, Deserialize)]
pub struct Credential {
    /// Base URL without a trailing slash.
    pub server_url: String,
    pub agent_id: String,
    /// The bearer secret; never logged (see the `Debug` impl).
    pub credential: String,
    pub tenant: String,
    pub report_interval_secs: u64,
    /// Absolute path of the PEM file trusted for the server's certificate, if any.
    #[serde(default)]
    pub ca_cert: Option<PathBuf>,
    pub enrolled_at: DateTime<Utc>,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("server_url", &self.server_url)
            .field("agent_id", &self.agent_id)
            .field("credential", &"<redacted>")
            .field("tenant", &self.tenant)
            .field("report_interval_secs", &self.report_interval_secs)
            .field("ca_cert", &self.ca_cert)
            .finish()
    }
}

impl Credential {
    /// Loads the credential, or fails with [`AgentError::NotEnrolled`] if there is none.
    pub fn load(dir: &StateDir) -> Result<Credential> {
        let path = dir.credential_path();
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(AgentError::NotEnrolled(path).into())
            }
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "{} is not a valid credential file; enroll again",
                path.display()
            )
        })
    }

    /// Replaces the credential atomically (mode 0600). The sequence counter is a separate file
    /// and is left alone, so a re-enrolled machine keeps counting up.
    pub fn save(&self, dir: &StateDir) -> Result<()> {
        dir.ensure()?;
        let path = dir.credential_path();
        let json = serde_json::to_vec_pretty(self).context("serialising the credential")?;
        fsio::write_atomic(&path, &json, 0o600)
            .with_context(|| format!("writing {}", path.display()))
    }
}

/// The last sequence number handed out, persisted before it is used.
#[derive(Debug)]
pub struct SeqCounter {
    path: PathBuf,
    last: u64,
}

impl SeqCounter {
    /// Makes sure the counter file exists (at 0 for a new machine). `enroll` calls this, so that
    /// later a missing file can only mean damage to the state directory.
    pub fn create_if_missing(dir: &StateDir) -> Result<()> {
        let path = dir.seq_path();
        if path.exists() {
            return Ok(());
        }
        fsio::write_atomic(&path, b"0\n", 0o600)
            .with_context(|| format!("writing {}", path.display()))
    }

    /// Opens the counter. `floor` is the highest sequence number known elsewhere (the spool):
    /// the counter never starts below it.
    ///
    /// The file is created at enrollment and replaced atomically, so a missing, unreadable or
    /// corrupt file cannot come from a crash, only from outside damage. Starting again at 1
    /// would make the server ignore every report as an old duplicate; instead we continue above
    /// anything this agent can have used: sequence numbers grow by one per collection, so they
    /// stay far below the current Unix time in milliseconds.
    pub fn open(dir: &StateDir, floor: u64) -> Result<SeqCounter> {
        let path = dir.seq_path();
        let last = match fs::read_to_string(&path) {
            Ok(text) => match text.trim().parse::<u64>() {
                Ok(n) => n.max(floor),
                Err(_) => {
                    let recovered = recovery_seq(floor);
                    tracing::warn!(path = %path.display(), recovered, "sequence file is corrupt; continuing above every number this agent can have used");
                    recovered
                }
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let recovered = recovery_seq(floor);
                tracing::warn!(path = %path.display(), recovered, "sequence file is missing although the agent is enrolled; continuing above every number this agent can have used");
                recovered
            }
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        Ok(SeqCounter { path, last })
    }

    #[cfg(test)]
    pub fn last(&self) -> u64 {
        self.last
    }

    /// Reserves the next sequence number; it is on disk before this returns.
    pub fn next(&mut self) -> Result<u64> {
        let next = self
            .last
            .checked_add(1)
            .context("sequence number overflow")?;
        fsio::write_atomic(&self.path, format!("{next}\n").as_bytes(), 0o600)
            .with_context(|| format!("writing {}", self.path.display()))?;
        self.last = next;
        Ok(next)
    }
}

fn recovery_seq(floor: u64) -> u64 {
    let now_ms = u64::try_from(Utc::now().timestamp_millis()).unwrap_or(0);
    floor.max(now_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    fn credential(id: &str) -> Credential {
        Credential {
            server_url: "https://example.invalid".into(),
            agent_id: id.into(),
            credential: "ata_secret".into(),
            tenant: "default".into(),
            report_interval_secs: 60,
            ca_cert: None,
            enrolled_at: Utc::now(),
        }
    }

    #[test]
    fn credential_file_is_0600_in_a_0700_dir_and_round_trips() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = StateDir::new(tmp.path().join("state"));
        credential("a1").save(&dir).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.credential_path()), 0o600);
        assert_eq!(mode(dir.root()), 0o700);
        let loaded = Credential::load(&dir).unwrap();
        assert_eq!(loaded.agent_id, "a1");
        assert_eq!(loaded.credential, "ata_secret");
        assert!(
            !format!("{loaded:?}").contains("ata_secret"),
            "Debug leaks the secret"
        );
    }

    #[test]
    fn missing_credential_is_not_enrolled() {
        let tmp = tempfile::tempdir().unwrap();
        let err = Credential::load(&StateDir::new(tmp.path().into())).unwrap_err();
        assert!(matches!(
            err.downcast_ref::<AgentError>(),
            Some(AgentError::NotEnrolled(_))
        ));
    }

    #[test]
    fn seq_survives_restart_and_re_enrollment() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = StateDir::new(tmp.path().into());
        credential("first").save(&dir).unwrap();
        SeqCounter::create_if_missing(&dir).unwrap();
        let mut seq = SeqCounter::open(&dir, 0).unwrap();
        assert_eq!(seq.next().unwrap(), 1);
        assert_eq!(seq.next().unwrap(), 2);
        drop(seq);

        // Restart.
        let mut seq = SeqCounter::open(&dir, 0).unwrap();
        assert_eq!(seq.last(), 2);
        assert_eq!(seq.next().unwrap(), 3);
        drop(seq);

        // Re-enroll: a new identity, the same counter.
        credential("second").save(&dir).unwrap();
        SeqCounter::create_if_missing(&dir).unwrap();
        let mut seq = SeqCounter::open(&dir, 0).unwrap();
        assert_eq!(seq.next().unwrap(), 4);
        assert_eq!(Credential::load(&dir).unwrap().agent_id, "second");
    }

    #[test]
    fn seq_never_starts_below_the_spool_and_recovers_from_corruption() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = StateDir::new(tmp.path().into());
        SeqCounter::create_if_missing(&dir).unwrap();
        assert_eq!(SeqCounter::open(&dir, 41).unwrap().next().unwrap(), 42);
        fs::write(dir.seq_path(), "garbage").unwrap();
        let seq = SeqCounter::open(&dir, 42).unwrap();
        assert!(
            seq.last() > 1_600_000_000_000,
            "recovered counter {} is not above any used number",
            seq.last()
        );
        fs::remove_file(dir.seq_path()).unwrap();
        let seq = SeqCounter::open(&dir, 42).unwrap();
        assert!(
            seq.last() > 1_600_000_000_000,
            "a deleted counter must not restart at 1"
        );
    }

    #[test]
    fn second_lock_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = StateDir::new(tmp.path().into());
        let _held = dir.lock_exclusive().unwrap();
        assert!(dir.lock_exclusive().is_err());
    }
}
