//! The benchmark's fleet: what each computer reports, worked out from its index alone so the
//! ingested sample and the bulk-seeded rest follow one distribution.
//!
//! Software: 1,000 package slots per computer. Slot 0 is openssl (absent on 1 in 16 machines,
//! versions spread over 3.0.x so `version < 3.0.7` picks about 3 in 16); slots 1–799 are the
//! common base (three versions each, most machines on the newest); slots 800–999 hold rarer
//! tools, each on about 1 in 16 machines. The package in a slot is chosen by [`variant`], which
//! the bulk seeding computes again in SQL.

use atalaya_shared::{
    CpuInventory, Hardware, HostFacts, Inventory, NetworkInterface, PhysicalDisk, Report, Sample,
    ServiceUnit, SmartHealth, SoftwarePackage, Volume, PROTOCOL_VERSION,
};
use chrono::{DateTime, TimeZone, Utc};

pub const SLOTS: i64 = 1000;
pub const COMMON_SLOTS: i64 = 800;
pub const VARIANTS: i64 = 16;
pub const SERVICES_PER_COMPUTER: usize = 50;
pub const GIB: u64 = 1 << 30;

/// The SQL twin of [`variant`] for a computer CI `c` and a slot row `s` (see `seed.rs`).
pub const VARIANT_SQL: &str = "((c.id * 2654435761) % 1000003 + s.n * 7919) % 16";

/// Which of the [`VARIANTS`] packages of `slot` a machine with `key` has.
pub fn variant(key: i64, slot: i64) -> i64 {
    ((key * 2_654_435_761) % 1_000_003 + slot * 7919) % VARIANTS
}

/// A well-spread small hash of a number, for per-machine choices.
fn spread(n: u64, salt: u64) -> u64 {
    let mut x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ salt.wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    x ^= x >> 29;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^ (x >> 32)
}

const OPENSSL: [Option<&str>; 16] = [
    None,
    Some("3.0.2-0ubuntu1.15"),
    Some("3.0.2-0ubuntu1.15"),
    Some("3.0.5-1"),
    Some("3.0.7-1"),
    Some("3.0.9-1~deb12u1"),
    Some("3.0.9-1~deb12u1"),
    Some("3.0.11-1~deb12u2"),
    Some("3.0.11-1~deb12u2"),
    Some("3.0.11-1~deb12u2"),
    Some("3.0.13-1~deb12u1"),
    Some("3.0.13-1~deb12u1"),
    Some("3.0.14-1"),
    Some("3.0.15-1~deb12u1"),
    Some("3.0.15-1~deb12u1"),
    Some("3.0.15-1~deb12u1"),
];

const COMMON_NAMES: [&str; 24] = [
    "openssl",
    "bash",
    "coreutils",
    "libc6",
    "systemd",
    "curl",
    "libcurl4",
    "openssh-server",
    "openssh-client",
    "python3",
    "perl-base",
    "tar",
    "gzip",
    "sudo",
    "vim-tiny",
    "zlib1g",
    "libssl3",
    "ca-certificates",
    "tzdata",
    "apt",
    "dpkg",
    "login",
    "passwd",
    "util-linux",
];

/// The package a machine has in `slot` when it drew `variant`; `None` when it has none there.
pub fn package(slot: i64, variant: i64) -> Option<SoftwarePackage> {
    let (name, version) = if slot == 0 {
        (
            "openssl".to_string(),
            OPENSSL[variant as usize]?.to_string(),
        )
    } else if slot < COMMON_SLOTS {
        let name = match COMMON_NAMES.get(slot as usize) {
            Some(n) => n.to_string(),
            None => format!("lib-common{slot:03}"),
        };
        let patch = match variant {
            0..=9 => 8,
            10..=13 => 5,
            _ => 3,
        };
        (name, format!("{}.{}.{patch}-1", slot % 7 + 1, slot % 13))
    } else {
        (
            format!("tool-{slot}-{variant}"),
            format!("0.{variant}.{slot}"),
        )
    };
    Some(SoftwarePackage {
        name,
        version,
        architecture: Some("amd64".into()),
        source: "dpkg".into(),
    })
}

/// Every package any machine can have, with its slot and variant.
pub fn catalogue() -> Vec<(i64, i64, SoftwarePackage)> {
    (0..SLOTS)
        .flat_map(|slot| (0..VARIANTS).map(move |v| (slot, v)))
        .filter_map(|(slot, v)| package(slot, v).map(|p| (slot, v, p)))
        .collect()
}

const SERVICE_POOL: [&str; 30] = [
    "ssh.service",
    "cron.service",
    "rsyslog.service",
    "systemd-journald.service",
    "systemd-logind.service",
    "systemd-networkd.service",
    "systemd-resolved.service",
    "systemd-timesyncd.service",
    "systemd-udevd.service",
    "dbus.service",
    "nginx.service",
    "postgresql.service",
    "redis-server.service",
    "docker.service",
    "containerd.service",
    "chrony.service",
    "unattended-upgrades.service",
    "atalaya-agent.service",
    "polkit.service",
    "getty@tty1.service",
    "apparmor.service",
    "auditd.service",
    "fail2ban.service",
    "postfix.service",
    "haproxy.service",
    "memcached.service",
    "php8.2-fpm.service",
    "mariadb.service",
    "prometheus-node-exporter.service",
    "snapd.service",
];
const SERVICE_POOL_SIZE: usize = 80;

fn service_name(n: usize) -> String {
    match SERVICE_POOL.get(n) {
        Some(name) => name.to_string(),
        None => format!("app-{n:02}.service"),
    }
}

/// One computer of the fleet.
pub struct Machine {
    pub index: u64,
}

/// The first report time; report `seq` is collected a minute after `seq - 1`.
pub fn collected_at(seq: u64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + seq as i64 * 60, 0)
        .single()
        .unwrap_or_default()
}

impl Machine {
    fn pick(&self, salt: u64, n: u64) -> u64 {
        spread(self.index, salt) % n
    }

    /// The key [`variant`] draws from (the bulk seeding uses the computer's CI id instead).
    pub fn key(&self) -> i64 {
        self.index as i64 + 1
    }

    pub fn hostname(&self) -> String {
        format!("host-{:05}", self.index)
    }

    pub fn memory_bytes(&self) -> u64 {
        // 20 % at 4 GiB, 30 % at 8, 30 % at 16, 10 % at 32, 10 % at 64.
        let gib = match self.pick(1, 10) {
            0..=1 => 4,
            2..=4 => 8,
            5..=7 => 16,
            8 => 32,
            _ => 64,
        };
        gib * GIB
    }

    pub fn host(&self) -> HostFacts {
        // Half Debian, a third Ubuntu, the rest Rocky Linux.
        let (os, version, kernel) = match self.pick(2, 20) {
            0..=9 => ("Debian GNU/Linux", "12", "6.1.0-28-amd64"),
            10..=16 => ("Ubuntu", "22.04", "5.15.0-126-generic"),
            _ => ("Rocky Linux", "9.4", "5.14.0-427.el9.x86_64"),
        };
        HostFacts {
            hostname: self.hostname(),
            machine_id: Some(format!("{:016x}{:016x}", spread(self.index, 3), self.index)),
            hardware_uuid: Some(format!(
                "4c4c4544-{:04x}-{:04x}-8000-{:012x}",
                self.pick(4, 0x10000),
                self.pick(5, 0x10000),
                self.index
            )),
            serial_number: Some(format!("SN{:08}", self.index)),
            os_name: Some(os.into()),
            os_version: Some(version.into()),
            kernel_version: Some(kernel.into()),
            architecture: Some("x86_64".into()),
            cpu_model: Some("Intel(R) Xeon(R) Silver 4314 CPU @ 2.40GHz".into()),
            cpu_cores: Some(2 << self.pick(6, 4)),
            memory_total_bytes: Some(self.memory_bytes()),
            boot_time: Some(collected_at(0) - chrono::Duration::hours(self.pick(7, 2000) as i64)),
        }
    }

    pub fn samples(&self, seq: u64) -> Vec<Sample> {
        let at = collected_at(seq);
        let memory = self.memory_bytes() as f64;
        vec![
            Sample {
                metric: "cpu.usage_percent".into(),
                value: (self.pick(8 + seq, 1000) as f64) / 10.0,
                at,
            },
            Sample {
                metric: "memory.used_bytes".into(),
                value: (memory * (20 + self.pick(9, 70)) as f64 / 100.0).round(),
                at,
            },
            Sample {
                metric: "load.1m".into(),
                value: self.pick(10 + seq, 400) as f64 / 100.0,
                at,
            },
        ]
    }

    /// Four volumes; about one in twenty-five is more than 90 % full.
    pub fn volumes(&self) -> Vec<Volume> {
        [
            ("/", "/dev/sda1", 50 * GIB),
            ("/boot", "/dev/sda2", GIB),
            ("/var", "/dev/sda3", 200 * GIB),
            ("/home", "/dev/sda4", 500 * GIB),
        ]
        .into_iter()
        .enumerate()
        .map(|(i, (mount, device, total))| {
            let used_percent = match self.pick(20 + i as u64, 100) {
                0..=3 => 91 + self.pick(30 + i as u64, 9),
                n => 10 + (n * 79) / 100,
            };
            Volume {
                mount_point: mount.into(),
                device: Some(device.into()),
                filesystem: Some("ext4".into()),
                total_bytes: total,
                available_bytes: total - total / 100 * used_percent,
                read_only: false,
            }
        })
        .collect()
    }

    pub fn disk(&self) -> PhysicalDisk {
        PhysicalDisk {
            name: "sda".into(),
            model: Some("Samsung SSD 870 EVO".into()),
            serial_number: Some(format!("S6PN{:08}", self.index)),
            size_bytes: 1000 * GIB,
            kind: "ssd".into(),
            removable: false,
            smart: SmartHealth {
                available: true,
                passed: Some(true),
                temperature_celsius: Some(30 + self.pick(11, 15) as i64),
                power_on_hours: Some(self.pick(12, 40_000)),
                reallocated_sectors: Some(0),
                pending_sectors: Some(0),
                wear_percent: Some(self.pick(13, 30)),
                reason: None,
            },
        }
    }

    pub fn interface(&self) -> NetworkInterface {
        let mac = self.index.to_be_bytes();
        NetworkInterface {
            name: "eth0".into(),
            mac_address: Some(format!(
                "52:54:{:02x}:{:02x}:{:02x}:{:02x}",
                mac[4], mac[5], mac[6], mac[7]
            )),
            addresses: vec![format!(
                "10.{}.{}.{}/16",
                self.index >> 16,
                (self.index >> 8) & 255,
                self.index & 255
            )],
            oper_state: Some("up".into()),
            speed_mbps: Some(10_000),
            mtu: Some(1500),
            is_virtual: false,
        }
    }

    pub fn services(&self) -> Vec<ServiceUnit> {
        let offset = self.pick(14, SERVICE_POOL_SIZE as u64) as usize;
        (0..SERVICES_PER_COMPUTER)
            .map(|k| {
                let name = service_name((offset + k) % SERVICE_POOL_SIZE);
                ServiceUnit {
                    description: Some(format!("The {name} unit")),
                    name,
                    load_state: Some("loaded".into()),
                    active_state: Some("active".into()),
                    sub_state: Some("running".into()),
                    enabled_state: Some("enabled".into()),
                    watched: false,
                }
            })
            .collect()
    }

    /// The installed packages; `generation` > 0 upgrades five common packages.
    pub fn software(&self, generation: i64) -> Vec<SoftwarePackage> {
        (0..SLOTS)
            .filter_map(|slot| {
                let mut v = variant(self.key(), slot);
                if (1..=5).contains(&slot) {
                    v = (v + generation * 10) % VARIANTS;
                }
                package(slot, v)
            })
            .collect()
    }

    pub fn hardware(&self) -> Hardware {
        Hardware {
            vendor: Some("Dell Inc.".into()),
            model: Some("PowerEdge R650".into()),
            serial_number: Some(format!("SN{:08}", self.index)),
            uuid: self.host().hardware_uuid,
            bios_vendor: Some("Dell Inc.".into()),
            bios_version: Some("1.13.2".into()),
            bios_date: Some("2024-03-01".into()),
            board_vendor: Some("Dell Inc.".into()),
            board_model: Some("0K9W3Y".into()),
            chassis_type: Some("Rack Mount Chassis".into()),
        }
    }

    pub fn cpu(&self) -> CpuInventory {
        let cores = self.host().cpu_cores;
        CpuInventory {
            model: self.host().cpu_model,
            vendor: Some("GenuineIntel".into()),
            sockets: Some(1),
            cores,
            threads: cores.map(|c| c * 2),
            max_frequency_mhz: Some(3400),
        }
    }

    pub fn inventory_hash(&self, generation: i64) -> String {
        format!("{:016x}{:016x}", spread(self.index, 40), generation)
    }

    pub fn inventory(&self, generation: i64) -> Inventory {
        Inventory {
            hash: self.inventory_hash(generation),
            hardware: Some(self.hardware()),
            cpu: Some(self.cpu()),
            time_zone: Some("Europe/Madrid".into()),
            network_interfaces: vec![self.interface()],
            disks: vec![self.disk()],
            services: self.services(),
            software: self.software(generation),
            reboot_required: Some(false),
            ..Inventory::default()
        }
    }

    pub fn report(&self, agent_id: &str, seq: u64) -> Report {
        Report {
            protocol: PROTOCOL_VERSION,
            agent_id: agent_id.into(),
            seq,
            agent_version: "0.1.0".into(),
            collected_at: collected_at(seq),
            host: self.host(),
            metrics: self.samples(seq),
            volumes: self.volumes(),
            dropped_since_last: 0,
        }
    }
}
