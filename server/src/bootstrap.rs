//! First start: tenant `default`, an MSP-wide admin token, an enrollment token for `default` and
//! the default rule pack. The two secrets are printed once and written, mode 0600, to
//! `<data-dir>/initial-admin-token` and `<data-dir>/initial-enrollment-token`. And, on any start
//! without an MSP admin (a new installation, or one from before people), the first MSP admin
//! with a random password, written to `<data-dir>/initial-admin-password`.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::people::{users, NewUser, Role};
use crate::store::rules::RuleSpec;
use crate::store::tokens::NewEnrollmentToken;
use crate::store::{Store, StoreResult, TenantScope};

pub const DEFAULT_TENANT: &str = "default";
pub const ADMIN_TOKEN_FILE: &str = "initial-admin-token";
pub const ENROLLMENT_TOKEN_FILE: &str = "initial-enrollment-token";
pub const ADMIN_PASSWORD_FILE: &str = "initial-admin-password";

/// The first MSP admin, made on a start without one.
pub struct FirstAdmin {
    pub email: String,
    pub password: String,
    pub password_path: PathBuf,
}

/// Make the first MSP admin, `email`, if there is no MSP admin yet; their password (random, to
/// be changed) is written, mode 0600, to `<data-dir>/initial-admin-password`.
pub async fn first_admin(
    store: &Store,
    data_dir: &Path,
    email: &str,
) -> anyhow::Result<Option<FirstAdmin>> {
    if store.count_users_with_role(Role::MspAdmin.as_str()).await? > 0 {
        return Ok(None);
    }
    let password = crate::secrets::generate("");
    users::create(
        store,
        &NewUser {
            email: email.to_string(),
            display_name: "Administrator".into(),
            role: Role::MspAdmin,
            tenant: None,
            password: Some(password.clone()),
        },
        crate::store::now_ms(),
    )
    .await?;
    std::fs::create_dir_all(data_dir)?;
    let password_path = data_dir.join(ADMIN_PASSWORD_FILE);
    write_secret(&password_path, &password)?;
    Ok(Some(FirstAdmin {
        email: email.to_string(),
        password,
        password_path,
    }))
}

/// The secrets created on first start.
pub struct FirstStart {
    pub admin_token: String,
    pub enrollment_token: String,
    pub admin_token_path: PathBuf,
    pub enrollment_token_path: PathBuf,
}

/// The rules every new installation starts with, MSP-wide, so it is useful at once. A tenant
/// overrides one by creating a rule of the same name. `report_interval_secs` sets how soon an
/// agent counts as offline (three missed reports).
pub fn default_rules(report_interval_secs: u64) -> Vec<RuleSpec> {
    use crate::rules::metrics as m;
    use crate::rules::Direction::{Above, Below};
    const GIB: f64 = 1_073_741_824.0;
    let rule = |name: &str, metric: &str, direction, critical: f64| {
        RuleSpec::new(name, metric, direction, critical)
    };
    let mut rules = Vec::new();

    let mut r = rule("Volume nearly full", m::VOLUME_USED_PERCENT, Above, 95.0);
    r.warning_level = Some(85.0);
    r.recovery_level = Some(80.0);
    r.runbook = Some(
        "Find large files with `du -xh / | sort -h | tail`; clear logs, caches or grow the volume."
            .into(),
    );
    rules.push(r);

    // Percentages mislead on big volumes (5 % of 4 TB is 200 GB): absolute free space too, for
    // volumes large enough that a few GB matter.
    let mut r = rule(
        "Volume low on free space",
        m::VOLUME_FREE_BYTES,
        Below,
        2.0 * GIB,
    );
    r.warning_level = Some(10.0 * GIB);
    r.recovery_level = Some(12.0 * GIB);
    r.scope_query = Some("total_bytes >= 50GB".into());
    rules.push(r);

    let mut r = rule(
        "Volume full within 24 h",
        m::VOLUME_HOURS_TO_FULL,
        Below,
        24.0,
    );
    r.recovery_level = Some(48.0);
    r.for_secs = 900;
    r.runbook = Some("Something is writing fast: check growing logs, dumps and backups.".into());
    rules.push(r);

    let mut r = rule(
        "Volume out of inodes",
        m::VOLUME_INODES_USED_PERCENT,
        Above,
        95.0,
    );
    r.warning_level = Some(90.0);
    r.recovery_level = Some(85.0);
    r.runbook = Some(
        "Many small files: find the directory with `du --inodes -x / | sort -n | tail`, then clear caches, mail queues or session files."
            .into(),
    );
    rules.push(r);

    let mut r = rule("Memory pressure", m::MEMORY_USED_PERCENT, Above, 95.0);
    r.warning_level = Some(90.0);
    r.recovery_level = Some(85.0);
    r.for_secs = 600;
    rules.push(r);

    let mut r = rule("Swap pressure", m::SWAP_USED_PERCENT, Above, 80.0);
    r.recovery_level = Some(60.0);
    r.for_secs = 600;
    r.urgency = 3;
    rules.push(r);

    let mut r = rule("CPU saturated", m::CPU_PERCENT, Above, 95.0);
    r.recovery_level = Some(80.0);
    r.for_secs = 900;
    r.urgency = 3;
    rules.push(r);

    let mut r = rule("Disk SMART failing", m::DISK_SMART_FAILED, Above, 0.5);
    r.impact = 1;
    r.runbook = Some("Back up now and replace the disk.".into());
    rules.push(r);

    let mut r = rule(
        "Disk sectors reallocated",
        m::DISK_REALLOCATED_SECTORS,
        Above,
        100.0,
    );
    r.warning_level = Some(0.0);
    r.auto_resolve = false;
    rules.push(r);

    let mut r = rule("Disk sectors pending", m::DISK_PENDING_SECTORS, Above, 10.0);
    r.warning_level = Some(0.0);
    r.auto_resolve = false;
    rules.push(r);

    // Enabled services, and those the agent config asks to watch (enabled or not).
    let mut r = rule("Enabled service stopped", m::SERVICE_STOPPED, Above, 0.5);
    r.scope_query = Some("enabled_state = enabled or watched = true".into());
    r.for_secs = 120;
    rules.push(r);

    let mut r = rule(
        "Agent offline",
        m::OFFLINE_SECONDS,
        Above,
        (3 * report_interval_secs) as f64,
    );
    r.runbook = Some(
        "Check the machine is on and atalaya-agent is running (`systemctl status atalaya-agent`)."
            .into(),
    );
    rules.push(r);
    rules
}

/// Run the first-start steps if they have not run yet; `None` when they had.
///
/// "Not yet" means no admin token exists, so a start that crashed half-way finishes the job the
/// next time instead of leaving an installation nobody can log in to.
pub async fn first_start(
    store: &Store,
    data_dir: &Path,
    report_interval_secs: u64,
) -> anyhow::Result<Option<FirstStart>> {
    let (tokens,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM api_tokens")
        .fetch_one(store.pool())
        .await?;
    if tokens > 0 {
        return Ok(None);
    }
    store.create_tenant(DEFAULT_TENANT, "Default").await?;
    let tenant = store
        .tenant_by_name(TenantScope::All, DEFAULT_TENANT)
        .await?;
    install_default_rules(store, report_interval_secs).await?;
    let admin_token = store.create_api_token(None, "initial admin").await?;
    let (_, enrollment_token) = store
        .create_enrollment_token(
            tenant.id,
            &NewEnrollmentToken {
                name: "initial".into(),
                ..NewEnrollmentToken::default()
            },
        )
        .await?;
    std::fs::create_dir_all(data_dir)?;
    let admin_token_path = data_dir.join(ADMIN_TOKEN_FILE);
    let enrollment_token_path = data_dir.join(ENROLLMENT_TOKEN_FILE);
    write_secret(&admin_token_path, &admin_token)?;
    write_secret(&enrollment_token_path, &enrollment_token)?;
    Ok(Some(FirstStart {
        admin_token,
        enrollment_token,
        admin_token_path,
        enrollment_token_path,
    }))
}

async fn install_default_rules(store: &Store, report_interval_secs: u64) -> StoreResult<()> {
    let existing = store.list_rules(TenantScope::All).await?;
    for spec in default_rules(report_interval_secs) {
        if !existing
            .iter()
            .any(|r| r.tenant_id.is_none() && r.name == spec.name)
        {
            store.create_rule(None, &spec).await?;
        }
    }
    Ok(())
}

/// Write a secret readable by its owner only, replacing any earlier file atomically.
pub fn write_secret(path: &Path, secret: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp)?;
    #[cfg(unix)]
    {
        // The mode above applies only on creation; a leftover tmp file keeps its old mode.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    writeln!(file, "{secret}")?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}
