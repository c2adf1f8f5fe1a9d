//! One simulated machine: its identity, what it reports and how that drifts, and the scripted
//! events of the run (a volume crossing the critical threshold, going offline, an inventory
//! change). Everything is derived from the fleet seed and the machine's index, so the same seed
//! always produces the same fleet and the same story.

use atalaya_shared::{
    metric, CpuInventory, DiskIo, Hardware, HostFacts, Inventory, LoggedInUser, NetworkInterface,
    PhysicalDisk, Report, ReportEnvelope, Sample, ServiceState, ServiceUnit, SmartHealth, Volume,
    VolumeInodes, PROTOCOL_VERSION,
};
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::catalog::installed_software;

/// The default rule opens a critical incident above this share (bootstrap's "Volume nearly full").
pub const CRITICAL_PERCENT: f64 = 95.0;
/// Ordinary volumes stay below the rule's recovery level (80%) and so below its warning (85%):
/// only the scripted breaches open incidents.
const ORDINARY_MAX_PERCENT: f64 = 79.0;

const AGENT_VERSION: &str = "0.1.0";
const GIB: u64 = 1 << 30;
const DAY_SECS: u64 = 86_400;

const CUSTOMERS: &[&str] = &[
    "acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "wonka", "tyrell",
    "soylent",
];
const ROLES: &[(&str, u32)] = &[
    ("ws", 45),
    ("lt", 30),
    ("srv", 12),
    ("db", 3),
    ("web", 5),
    ("pos", 5),
];
const OSES: &[(&str, &str, &str, u32)] = &[
    ("Debian GNU/Linux", "12", "6.1.0-28-amd64", 45),
    ("Ubuntu", "22.04", "5.15.0-126-generic", 30),
    ("Ubuntu", "24.04", "6.8.0-49-generic", 25),
];
const CPUS: &[(&str, &str, u32)] = &[
    (
        "Intel(R) Core(TM) i5-10500 CPU @ 3.10GHz",
        "GenuineIntel",
        6,
    ),
    ("Intel(R) Core(TM) i7-1165G7 @ 2.80GHz", "GenuineIntel", 4),
    (
        "AMD Ryzen 5 PRO 5650G with Radeon Graphics",
        "AuthenticAMD",
        6,
    ),
    (
        "Intel(R) Xeon(R) Silver 4214R CPU @ 2.40GHz",
        "GenuineIntel",
        12,
    ),
    ("AMD EPYC 7302P 16-Core Processor", "AuthenticAMD", 16),
];
const MODELS: &[(&str, &str, &str)] = &[
    ("Dell Inc.", "OptiPlex 7090", "Desktop"),
    ("LENOVO", "ThinkPad T14 Gen 2", "Notebook"),
    ("HP", "EliteDesk 800 G6", "Desktop"),
    ("Supermicro", "SYS-5019C-M", "Rack Mount Chassis"),
    ("QEMU", "Standard PC (Q35 + ICH9, 2009)", "Other"),
];
const MEMORY_GIB: &[u64] = &[4, 8, 16, 16, 32, 64];
const ROOT_SIZES_GIB: &[u64] = &[64, 128, 256, 256, 512, 1024];
const TIME_ZONES: &[&str] = &[
    "Europe/Madrid",
    "Europe/Lisbon",
    "Europe/London",
    "America/Mexico_City",
    "America/Bogota",
    "Etc/UTC",
];
const SERVICES: &[(&str, &str)] = &[
    (
        "cron.service",
        "Regular background program processing daemon",
    ),
    ("dbus.service", "D-Bus System Message Bus"),
    ("ssh.service", "OpenBSD Secure Shell server"),
    ("systemd-journald.service", "Journal Service"),
    ("systemd-logind.service", "User Login Management"),
    ("systemd-networkd.service", "Network Configuration"),
    ("systemd-resolved.service", "Network Name Resolution"),
    ("systemd-timesyncd.service", "Network Time Synchronization"),
    (
        "systemd-udevd.service",
        "Rule-based Manager for Device Events and Files",
    ),
    ("rsyslog.service", "System Logging Service"),
    (
        "unattended-upgrades.service",
        "Unattended Upgrades Shutdown",
    ),
    ("atalaya-agent.service", "Atalaya agent"),
    ("polkit.service", "Authorization Manager"),
    ("getty@tty1.service", "Getty on tty1"),
    ("apt-daily.service", "Daily apt download activities"),
    (
        "fstrim.service",
        "Discard unused blocks on filesystems from /etc/fstab",
    ),
    (
        "smartmontools.service",
        "Self Monitoring and Reporting Technology (SMART) Daemon",
    ),
    ("cups.service", "CUPS Scheduler"),
    ("NetworkManager.service", "Network Manager"),
    ("docker.service", "Docker Application Container Engine"),
    ("postgresql.service", "PostgreSQL RDBMS"),
    (
        "nginx.service",
        "A high performance web server and a reverse proxy server",
    ),
];
const USERS: &[&str] = &["ana", "luis", "marta", "admin", "jorge", "sofia"];

/// What the fleet should do during the run, in shares of the fleet.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    /// Reports each agent makes in the run (duration / interval, at least 1).
    pub planned_reports: u64,
    pub breach_share: f64,
    pub offline_share: f64,
    pub inventory_change_share: f64,
    /// Report interval in seconds: where an agent is in its daily inventory schedule.
    pub interval_secs: f64,
}

/// The scripted events of one machine, as report numbers (0 = its first report of the run).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Script {
    /// From this report on, the root volume is above the critical threshold.
    pub breach_at: Option<u64>,
    /// Reports in this range are not made (the machine is off).
    pub offline: Option<std::ops::Range<u64>>,
    /// From this report on, the inventory has changed (upgrades and a new package).
    pub inventory_change_at: Option<u64>,
    /// Seconds into the day at which this agent's scheduled full inventory send falls.
    pub inventory_phase_secs: u64,
}

struct VolumeModel {
    mount_point: &'static str,
    device: String,
    filesystem: &'static str,
    total_bytes: u64,
    used_percent: f64,
}

/// One simulated machine.
pub struct VirtualHost {
    pub index: usize,
    /// The seed of everything about this machine.
    seed: u64,
    rng: ChaCha8Rng,
    pub facts: HostFacts,
    pub script: Script,
    volumes: Vec<VolumeModel>,
    memory_used_share: f64,
    cpu_base: f64,
    processes: f64,
    /// Agent id and credential, once enrolled.
    pub agent_id: String,
    pub credential: String,
    /// The last sequence number handed out.
    pub seq: u64,
    /// Revision of the last inventory the server acknowledged; the server is assumed to hold
    /// revision 0 from before the run (a fleet in its steady state).
    sent_inventory_revision: u32,
}

/// SplitMix64: spreads (seed, index) over the whole seed space.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn weighted<'a, T>(rng: &mut impl Rng, items: &'a [T], weight: impl Fn(&T) -> u32) -> &'a T {
    let total: u32 = items.iter().map(&weight).sum();
    let mut pick = rng.gen_range(0..total.max(1));
    for item in items {
        let w = weight(item);
        if pick < w {
            return item;
        }
        pick -= w;
    }
    &items[items.len() - 1]
}

fn hex_id(rng: &mut impl Rng, bytes: usize) -> String {
    let raw: Vec<u8> = (0..bytes).map(|_| rng.gen()).collect();
    hex::encode(raw)
}

fn mac(rng: &mut impl Rng) -> String {
    let b: [u8; 5] = rng.gen();
    format!(
        "3c:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        b[0], b[1], b[2], b[3], b[4]
    )
}

impl VirtualHost {
    pub fn new(fleet_seed: u64, index: usize, scenario: &Scenario, now: DateTime<Utc>) -> Self {
        let seed = mix(fleet_seed ^ mix(index as u64));
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let customer = CUSTOMERS[rng.gen_range(0..CUSTOMERS.len())];
        let role = weighted(&mut rng, ROLES, |r| r.1).0;
        let (os_name, os_version, kernel, _) = *weighted(&mut rng, OSES, |o| o.3);
        let (cpu_model, _, cores) = CPUS[rng.gen_range(0..CPUS.len())];
        let memory = MEMORY_GIB[rng.gen_range(0..MEMORY_GIB.len())] * GIB;
        let boot_age = ChronoDuration::seconds(rng.gen_range(600..30 * DAY_SECS as i64));
        let facts = HostFacts {
            hostname: format!("{customer}-{role}-{index:06}"),
            machine_id: Some(hex_id(&mut rng, 16)),
            hardware_uuid: Some(
                uuid::Builder::from_random_bytes(rng.gen())
                    .into_uuid()
                    .to_string(),
            ),
            serial_number: Some(format!("SN{}", hex_id(&mut rng, 5).to_uppercase())),
            os_name: Some(os_name.into()),
            os_version: Some(os_version.into()),
            kernel_version: Some(kernel.into()),
            architecture: Some("x86_64".into()),
            cpu_model: Some(cpu_model.into()),
            cpu_cores: Some(cores),
            memory_total_bytes: Some(memory),
            boot_time: Some(now - boot_age),
        };

        let nvme = rng.gen_bool(0.6);
        let disk = if nvme { "/dev/nvme0n1p" } else { "/dev/sda" };
        let mut volumes = vec![VolumeModel {
            mount_point: "/",
            device: format!("{disk}2"),
            filesystem: if rng.gen_bool(0.8) { "ext4" } else { "xfs" },
            total_bytes: ROOT_SIZES_GIB[rng.gen_range(0..ROOT_SIZES_GIB.len())] * GIB,
            used_percent: rng.gen_range(20.0..75.0),
        }];
        if rng.gen_bool(0.5) {
            volumes.push(VolumeModel {
                mount_point: "/boot/efi",
                device: format!("{disk}1"),
                filesystem: "vfat",
                total_bytes: 512 * 1024 * 1024,
                used_percent: rng.gen_range(1.0..8.0),
            });
        }
        if rng.gen_bool(0.3) {
            volumes.push(VolumeModel {
                mount_point: "/home",
                device: format!("{disk}3"),
                filesystem: "ext4",
                total_bytes: rng.gen_range(100..2000) * GIB,
                used_percent: rng.gen_range(10.0..70.0),
            });
        }

        let planned = scenario.planned_reports.max(1);
        let late_half = (planned / 2).max(1);
        let script = Script {
            // A breach comes after at least one ordinary report when the run has room for it.
            breach_at: rng
                .gen_bool(scenario.breach_share.clamp(0.0, 1.0))
                .then(|| {
                    if planned == 1 {
                        0
                    } else {
                        rng.gen_range(1..=late_half)
                    }
                }),
            offline: rng
                .gen_bool(scenario.offline_share.clamp(0.0, 1.0))
                .then(|| {
                    let start = rng.gen_range(1..=late_half);
                    let len = rng.gen_range(2..=(planned / 3).max(2));
                    start..start + len
                }),
            inventory_change_at: rng
                .gen_bool(scenario.inventory_change_share.clamp(0.0, 1.0))
                .then(|| rng.gen_range(1..=late_half)),
            inventory_phase_secs: rng.gen_range(0..DAY_SECS),
        };

        VirtualHost {
            index,
            seed,
            facts,
            script,
            volumes,
            memory_used_share: rng.gen_range(0.2..0.8),
            cpu_base: rng.gen_range(2.0..40.0),
            processes: rng.gen_range(150.0..450.0),
            rng,
            agent_id: String::new(),
            credential: String::new(),
            seq: 0,
            sent_inventory_revision: 0,
        }
    }

    /// Whether report `n` of the run is made at all.
    pub fn online_at(&self, n: u64) -> bool {
        !self.script.offline.as_ref().is_some_and(|r| r.contains(&n))
    }

    /// Whether report `n` is the first with the root volume above the critical threshold.
    pub fn breached_at(&self, n: u64) -> bool {
        self.script.breach_at.is_some_and(|b| n >= b)
    }

    /// Move usage one report interval forward.
    fn drift(&mut self, n: u64) {
        let breached = self.breached_at(n);
        for (i, v) in self.volumes.iter_mut().enumerate() {
            let step = self.rng.gen_range(-0.3..0.35);
            v.used_percent = if i == 0 && breached {
                if v.used_percent < CRITICAL_PERCENT + 0.5 {
                    self.rng.gen_range(96.0..99.5)
                } else {
                    (v.used_percent + step * 0.2).clamp(CRITICAL_PERCENT + 0.5, 99.9)
                }
            } else {
                (v.used_percent + step).clamp(1.0, ORDINARY_MAX_PERCENT)
            };
        }
        self.memory_used_share =
            (self.memory_used_share + self.rng.gen_range(-0.03..0.03)).clamp(0.1, 0.95);
        self.processes = (self.processes + self.rng.gen_range(-5.0..5.0)).clamp(80.0, 900.0);
    }

    /// Make report `n` of the run (collected at `at`, `elapsed_secs` into the run); returns the
    /// JSON body, and the revision of the inventory it carries if any.
    pub fn make_report(
        &mut self,
        n: u64,
        at: DateTime<Utc>,
        elapsed_secs: f64,
        scenario: &Scenario,
        inventory_on_start: bool,
    ) -> (Vec<u8>, Option<u32>) {
        self.drift(n);
        self.seq += 1;
        let memory = self.facts.memory_total_bytes.unwrap_or(8 * GIB) as f64;
        let boot = self.facts.boot_time.unwrap_or(at);
        let cpu = (self.cpu_base + self.rng.gen_range(-10.0..25.0)).clamp(0.0, 100.0);
        let sample = |metric: &str, value: f64| Sample {
            metric: metric.into(),
            value,
            at,
        };
        let metrics = vec![
            sample(metric::CPU_USAGE_PERCENT, cpu),
            sample(metric::LOAD_1, cpu / 25.0),
            sample(
                metric::MEMORY_USED_BYTES,
                (memory * self.memory_used_share).round(),
            ),
            sample(metric::MEMORY_TOTAL_BYTES, memory),
            sample(metric::SWAP_USED_BYTES, 0.0),
            sample(metric::SWAP_TOTAL_BYTES, (2 * GIB) as f64),
            sample(
                metric::UPTIME_SECONDS,
                (at - boot).num_seconds().max(0) as f64,
            ),
            sample(metric::PROCESS_COUNT, self.processes.round()),
        ];
        let volumes = self
            .volumes
            .iter()
            .map(|v| {
                let used = (v.total_bytes as f64 * v.used_percent / 100.0) as u64;
                Volume {
                    mount_point: v.mount_point.into(),
                    device: Some(v.device.clone()),
                    filesystem: Some(v.filesystem.into()),
                    total_bytes: v.total_bytes,
                    available_bytes: v.total_bytes.saturating_sub(used),
                    read_only: false,
                }
            })
            .collect();
        let report = Report {
            protocol: PROTOCOL_VERSION,
            agent_id: self.agent_id.clone(),
            seq: self.seq,
            agent_version: AGENT_VERSION.into(),
            collected_at: at,
            host: self.facts.clone(),
            metrics,
            volumes,
            dropped_since_last: 0,
        };

        // Like the agent: the full inventory when its hash changed, on the daily schedule, and
        // (optionally) on the first report after enrollment.
        let interval = scenario.interval_secs.max(0.001);
        let phase = self.script.inventory_phase_secs as f64;
        let day_now = ((elapsed_secs + phase) / DAY_SECS as f64).floor();
        let day_before = ((elapsed_secs - interval + phase) / DAY_SECS as f64).floor();
        let scheduled = day_now > day_before;
        let revision = u32::from(self.script.inventory_change_at.is_some_and(|c| n >= c));
        let first = n == 0 && inventory_on_start;
        // The inventory is a function of its revision, so a new revision is a new hash.
        let due = first || scheduled || revision != self.sent_inventory_revision;
        let inventory = due.then(|| self.inventory(revision));
        let envelope = self.envelope(report, inventory, at);
        let body = serde_json::to_vec(&envelope).unwrap_or_default(); // plain data: cannot fail
        (body, due.then_some(revision))
    }

    /// The machine's systemd services (about 80 % of the catalogue, 2 % of them failed), from a
    /// seed of their own: the inventory lists them and every report carries their states.
    fn services(&self) -> Vec<ServiceUnit> {
        let mut rng = ChaCha8Rng::seed_from_u64(mix(self.seed ^ 0x5e41_1ce5));
        let mut services: Vec<ServiceUnit> = SERVICES
            .iter()
            .filter_map(|(name, description)| {
                if !rng.gen_bool(0.8) {
                    return None;
                }
                let failed = rng.gen_bool(0.02);
                Some(ServiceUnit {
                    name: (*name).into(),
                    description: Some((*description).into()),
                    load_state: Some("loaded".into()),
                    active_state: Some(if failed { "failed" } else { "active" }.into()),
                    sub_state: Some(if failed { "failed" } else { "running" }.into()),
                    enabled_state: Some("enabled".into()),
                    watched: false,
                })
            })
            .collect();
        services.sort_by(|a, b| a.name.cmp(&b.name));
        services
    }

    /// The report as the agent sends it: with the inventory when due, and what the agent adds to
    /// every collection — the state of every service, the volumes' inode use and the whole
    /// disk's I/O rates with its last SMART verdict.
    fn envelope(
        &mut self,
        report: Report,
        inventory: Option<Inventory>,
        at: DateTime<Utc>,
    ) -> ReportEnvelope {
        let service_states = self
            .services()
            .into_iter()
            .map(|s| ServiceState {
                name: s.name,
                active_state: s.active_state,
                sub_state: s.sub_state,
                watched: false,
            })
            .collect();
        let volume_inodes = report
            .volumes
            .iter()
            .map(|v| {
                // ext4's default: one inode per 16 KiB; inode use follows space use, loosely.
                let total = (v.total_bytes / 16_384).max(1);
                let used_share = v.used_bytes() as f64 / v.total_bytes.max(1) as f64 * 0.4;
                VolumeInodes {
                    mount_point: v.mount_point.clone(),
                    inodes_total: total,
                    inodes_free: total - (total as f64 * used_share) as u64,
                }
            })
            .collect();
        let nvme = self
            .volumes
            .first()
            .is_some_and(|v| v.device.contains("nvme"));
        let busy = self.rng.gen_range(0.0..1.0f64).powi(3);
        let disk_io = vec![DiskIo {
            device: if nvme { "nvme0n1" } else { "sda" }.into(),
            read_bytes_per_sec: Some((busy * 80e6).round()),
            write_bytes_per_sec: Some((busy * 40e6).round()),
            reads_per_sec: Some((busy * 900.0).round()),
            writes_per_sec: Some((busy * 400.0).round()),
            smart_healthy: Some(true),
            smart_checked_at: Some(at - ChronoDuration::minutes(7)),
            temperature_celsius: Some(self.rng.gen_range(30..50)),
            reallocated_sectors: Some(0),
            pending_sectors: Some(0),
            wear_percent: nvme.then_some(12),
        }];
        ReportEnvelope {
            report,
            inventory,
            service_states: Some(service_states),
            volume_inodes,
            disk_io,
        }
    }

    /// The server acknowledged a report carrying the inventory of this revision.
    pub fn inventory_acknowledged(&mut self, revision: u32) {
        self.sent_inventory_revision = revision;
    }

    /// The machine's inventory at `revision` (0 = as enrolled), rebuilt from its seed each time
    /// so that a fleet of 100,000 does not keep 100,000 package lists in memory.
    pub fn inventory(&self, revision: u32) -> Inventory {
        let mut rng = ChaCha8Rng::seed_from_u64(mix(self.seed ^ 0x1a7e_1a7a));
        let (vendor, model, chassis) = MODELS[rng.gen_range(0..MODELS.len())];
        let (cpu_model, cpu_vendor, cores) = CPUS
            .iter()
            .find(|c| Some(c.0) == self.facts.cpu_model.as_deref())
            .copied()
            .unwrap_or(CPUS[0]);
        let mut software = installed_software(&mut rng);
        for r in 1..=revision {
            // An upgrade round: a few packages move to a security update, one new package.
            for _ in 0..5 {
                let i = rng.gen_range(0..software.len().max(1));
                if let Some(p) = software.get_mut(i) {
                    p.version = format!("{}+deb12u{r}", p.version);
                }
            }
            software.push(atalaya_shared::SoftwarePackage {
                name: format!("msp-tool-{r}"),
                version: format!("1.{r}.0"),
                architecture: Some("amd64".into()),
                source: "dpkg".into(),
            });
        }
        software.sort();
        let services = self.services();
        let nvme = self
            .volumes
            .first()
            .is_some_and(|v| v.device.contains("nvme"));
        let disk_size: u64 = self.volumes.iter().map(|v| v.total_bytes).sum();
        let ip = format!(
            "10.{}.{}.{}/24",
            rng.gen_range(0..255),
            rng.gen_range(0..255),
            rng.gen_range(2..254)
        );
        let users = rng.gen_range(0..3);
        let mut logged_in_users: Vec<LoggedInUser> = USERS
            .choose_multiple(&mut rng, users)
            .map(|u| LoggedInUser {
                name: (*u).into(),
                terminal: Some("tty2".into()),
                remote_host: None,
                since: self.facts.boot_time,
            })
            .collect();
        logged_in_users.sort_by(|a, b| a.name.cmp(&b.name));
        let mut inventory = Inventory {
            hash: String::new(),
            hardware: Some(Hardware {
                vendor: Some(vendor.into()),
                model: Some(model.into()),
                serial_number: self.facts.serial_number.clone(),
                uuid: self.facts.hardware_uuid.clone(),
                bios_vendor: Some(vendor.into()),
                bios_version: Some(format!(
                    "1.{}.{}",
                    rng.gen_range(0..30),
                    rng.gen_range(0..9)
                )),
                bios_date: Some("03/14/2024".into()),
                board_vendor: Some(vendor.into()),
                board_model: Some(model.into()),
                chassis_type: Some(chassis.into()),
            }),
            cpu: Some(CpuInventory {
                model: Some(cpu_model.into()),
                vendor: Some(cpu_vendor.into()),
                sockets: Some(1),
                cores: Some(cores),
                threads: Some(cores * 2),
                max_frequency_mhz: Some(rng.gen_range(2400..4800)),
            }),
            time_zone: Some(TIME_ZONES[rng.gen_range(0..TIME_ZONES.len())].into()),
            network_interfaces: vec![
                NetworkInterface {
                    name: if nvme { "enp0s31f6" } else { "eno1" }.into(),
                    mac_address: Some(mac(&mut rng)),
                    addresses: vec![ip],
                    oper_state: Some("up".into()),
                    speed_mbps: Some(1000),
                    mtu: Some(1500),
                    is_virtual: false,
                },
                NetworkInterface {
                    name: "lo".into(),
                    mac_address: None,
                    addresses: vec!["127.0.0.1/8".into(), "::1/128".into()],
                    oper_state: Some("unknown".into()),
                    speed_mbps: None,
                    mtu: Some(65536),
                    is_virtual: true,
                },
            ],
            disks: vec![PhysicalDisk {
                name: if nvme { "nvme0n1" } else { "sda" }.into(),
                model: Some(
                    if nvme {
                        "Samsung SSD 980 PRO 1TB"
                    } else {
                        "ST1000DM010-2EP102"
                    }
                    .into(),
                ),
                serial_number: Some(hex_id(&mut rng, 6).to_uppercase()),
                size_bytes: disk_size,
                kind: if nvme { "nvme" } else { "hdd" }.into(),
                removable: false,
                smart: SmartHealth {
                    available: true,
                    reason: None,
                    passed: Some(true),
                    temperature_celsius: Some(rng.gen_range(28..55)),
                    power_on_hours: Some(rng.gen_range(100..40_000)),
                    reallocated_sectors: Some(0),
                    pending_sectors: Some(0),
                    wear_percent: nvme.then(|| rng.gen_range(0..40)),
                },
            }],
            services,
            software,
            logged_in_users,
            memory_modules: Vec::new(),
            reboot_required: Some(revision > 0),
            unavailable: Default::default(),
        };
        inventory.hash = inventory.content_hash();
        inventory
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario() -> Scenario {
        Scenario {
            planned_reports: 10,
            breach_share: 0.5,
            offline_share: 0.5,
            inventory_change_share: 0.5,
            interval_secs: 60.0,
        }
    }

    #[test]
    fn same_seed_same_fleet_other_seed_other_fleet() {
        let now = Utc::now();
        let a = VirtualHost::new(1, 5, &scenario(), now);
        let b = VirtualHost::new(1, 5, &scenario(), now);
        let c = VirtualHost::new(2, 5, &scenario(), now);
        assert_eq!(a.facts, b.facts);
        assert_eq!(a.script, b.script);
        assert_eq!(a.inventory(0), b.inventory(0));
        assert_ne!(a.facts.machine_id, c.facts.machine_id);
    }

    #[test]
    fn identities_are_unique() {
        let now = Utc::now();
        let mut ids: Vec<_> = (0..500)
            .map(|i| VirtualHost::new(3, i, &scenario(), now).facts.hardware_uuid)
            .collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 500);
    }

    #[test]
    fn breaching_hosts_cross_the_critical_level_and_others_never_warn() {
        let now = Utc::now();
        let s = scenario();
        for i in 0..60 {
            let mut host = VirtualHost::new(9, i, &s, now);
            for n in 0..s.planned_reports {
                let (body, _) = host.make_report(n, now, n as f64 * 60.0, &s, false);
                let report: Report = serde_json::from_slice(&body).expect("valid report");
                let root = report.volumes[0].used_percent();
                if host.breached_at(n) {
                    assert!(root > CRITICAL_PERCENT, "{root}");
                }
                for v in &report.volumes[usize::from(host.breached_at(n))..] {
                    assert!(v.used_percent() < 80.0, "{}", v.used_percent());
                }
            }
        }
    }

    #[test]
    fn inventory_is_sent_when_it_changes_and_first_when_asked() {
        let now = Utc::now();
        let s = scenario();
        let host = (0..100)
            .map(|i| VirtualHost::new(4, i, &s, now))
            .find(|h| h.script.inventory_change_at.is_some())
            .expect("a changing host at share 0.5");
        let mut host = host;
        let change = host.script.inventory_change_at.unwrap_or(1);
        let (_, first) = host.make_report(0, now, 0.0, &s, true);
        let first = first.expect("inventory on the first report");
        host.inventory_acknowledged(first);
        let mut sent = Vec::new();
        for n in 1..s.planned_reports {
            let (body, revision) = host.make_report(n, now, n as f64 * 60.0, &s, true);
            let value: serde_json::Value = serde_json::from_slice(&body).expect("json");
            assert_eq!(value.get("inventory").is_some(), revision.is_some());
            if let Some(r) = revision {
                sent.push((n, value["inventory"]["hash"].clone()));
                host.inventory_acknowledged(r);
            }
        }
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert_eq!(sent[0].0, change);
        assert_ne!(sent[0].1, serde_json::json!(host.inventory(0).hash));
    }

    /// The bodies and inventory hashes of one generated host, taken from fleet-sim's own report
    /// type and hash before it used the shared [`ReportEnvelope`] and
    /// [`Inventory::content_hash`]: the same seed still sends the same bytes.
    #[test]
    fn a_seeded_host_sends_the_same_bytes_as_before_the_shared_envelope() {
        use sha2::{Digest, Sha256};
        let now = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .expect("valid")
            .with_timezone(&Utc);
        let s = scenario();
        let mut host = VirtualHost::new(7, 3, &s, now);
        assert_eq!(
            host.inventory(0).hash,
            "e2c8394d62e66ecb0c4e2a1af8c4817b34eecc0b696a22bf9677aed42dadeb80"
        );
        assert_eq!(
            host.inventory(1).hash,
            "a086426db96a797e0758a5aa3459aa18c338b2f01eea5d2f448654c118dc362d"
        );
        let golden = [
            (
                64926,
                "41a7f8d7812ce6b44bfc868cc86e63cb0e3ddb80427604794054ea3623e24108",
                Some(0),
            ),
            (
                3055,
                "0b7fe9661c158fca2e9576beb76c765c52c37596e9aeb9ffc5a0f4744789bff0",
                None,
            ),
            (
                3060,
                "3be7225c06f8f74f063806606e4474de00319e8b71806cb03400c61102f923b4",
                None,
            ),
        ];
        for (n, (len, digest, revision)) in golden.into_iter().enumerate() {
            let n = n as u64;
            let (body, sent) = host.make_report(n, now, n as f64 * 60.0, &s, true);
            assert_eq!(
                (body.len(), hex::encode(Sha256::digest(&body)), sent),
                (len, digest.to_owned(), revision),
                "report {n}"
            );
        }
    }
}
