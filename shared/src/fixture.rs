//! Fixed values of the wire types, some fields present and some absent, for the golden tests of
//! the report envelope and the inventory hash (changing them changes the golden values).

use crate::protocol::*;
use chrono::{DateTime, TimeZone, Utc};

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_767_225_600 + secs, 0)
        .single()
        .expect("valid")
}

pub fn report() -> Report {
    Report {
        protocol: 1,
        agent_id: "5f0c1a52-4a8e-4b8e-9d0e-2a7e1c9b3f11".into(),
        seq: 42,
        agent_version: "0.1.0".into(),
        collected_at: at(0),
        host: HostFacts {
            hostname: "pc-07".into(),
            machine_id: Some("0123abcd".into()),
            hardware_uuid: None,
            serial_number: Some("SN-1".into()),
            os_name: Some("Debian GNU/Linux".into()),
            os_version: Some("12".into()),
            kernel_version: Some("6.1.0-18-amd64".into()),
            architecture: Some("x86_64".into()),
            cpu_model: Some("AMD Ryzen 5 5600G".into()),
            cpu_cores: Some(6),
            memory_total_bytes: Some(16 << 30),
            boot_time: Some(at(-86_400)),
        },
        metrics: vec![
            Sample {
                metric: metric::CPU_USAGE_PERCENT.into(),
                value: 12.5,
                at: at(0),
            },
            Sample {
                metric: metric::LOAD_1.into(),
                value: 0.0,
                at: at(0),
            },
        ],
        volumes: vec![Volume {
            mount_point: "/".into(),
            device: Some("/dev/nvme0n1p2".into()),
            filesystem: Some("ext4".into()),
            total_bytes: 500 << 30,
            available_bytes: 120 << 30,
            read_only: false,
        }],
        dropped_since_last: 3,
    }
}

pub fn inventory() -> Inventory {
    Inventory {
        hash: String::new(),
        hardware: Some(Hardware {
            vendor: Some("Dell Inc.".into()),
            model: Some("OptiPlex 7090".into()),
            serial_number: Some("SN-1".into()),
            uuid: Some("4c4c4544-0042".into()),
            bios_vendor: Some("Dell Inc.".into()),
            bios_version: Some("1.2.3".into()),
            bios_date: Some("03/14/2024".into()),
            board_vendor: None,
            board_model: None,
            chassis_type: Some("Desktop".into()),
        }),
        cpu: Some(CpuInventory {
            model: Some("AMD Ryzen 5 5600G".into()),
            vendor: Some("AuthenticAMD".into()),
            sockets: Some(1),
            cores: Some(6),
            threads: Some(12),
            max_frequency_mhz: Some(4464),
        }),
        time_zone: Some("Europe/Madrid".into()),
        network_interfaces: vec![NetworkInterface {
            name: "eno1".into(),
            mac_address: Some("aa:bb:cc:dd:ee:ff".into()),
            addresses: vec!["192.0.2.10/24".into(), "2001:db8::1/64".into()],
            oper_state: Some("up".into()),
            speed_mbps: Some(1000),
            mtu: Some(1500),
            is_virtual: false,
        }],
        disks: vec![PhysicalDisk {
            name: "nvme0n1".into(),
            model: Some("Samsung SSD 980 PRO 1TB".into()),
            serial_number: Some("S5GXNF0R".into()),
            size_bytes: 1_000_204_886_016,
            kind: "nvme".into(),
            removable: false,
            smart: SmartHealth {
                available: true,
                reason: None,
                passed: Some(true),
                temperature_celsius: Some(41),
                power_on_hours: Some(8123),
                reallocated_sectors: None,
                pending_sectors: None,
                wear_percent: Some(7),
            },
        }],
        services: vec![
            ServiceUnit {
                name: "nginx.service".into(),
                description: Some("A high performance web server".into()),
                load_state: Some("loaded".into()),
                active_state: Some("active".into()),
                sub_state: Some("running".into()),
                enabled_state: Some("enabled".into()),
                watched: true,
            },
            ServiceUnit {
                name: "ssh.service".into(),
                description: None,
                load_state: Some("loaded".into()),
                active_state: Some("failed".into()),
                sub_state: Some("failed".into()),
                enabled_state: Some("enabled".into()),
                watched: false,
            },
        ],
        software: vec![SoftwarePackage {
            name: "openssl".into(),
            version: "3.0.11-1~deb12u2".into(),
            architecture: Some("amd64".into()),
            source: "dpkg".into(),
        }],
        logged_in_users: vec![LoggedInUser {
            name: "ana".into(),
            terminal: Some("tty2".into()),
            remote_host: None,
            since: Some(at(-3_600)),
        }],
        memory_modules: vec![MemoryModule {
            locator: "DIMM_A1".into(),
            bank_locator: Some("BANK 0".into()),
            size_bytes: 8 << 30,
            memory_type: Some("DDR4".into()),
            speed_mts: Some(3200),
            manufacturer: Some("Micron".into()),
            serial_number: None,
            part_number: Some("8ATF1G64AZ".into()),
        }],
        reboot_required: Some(true),
        unavailable: [("logged_in_users".to_owned(), "utmp unreadable".to_owned())]
            .into_iter()
            .collect(),
    }
}

pub fn service_states() -> Vec<ServiceState> {
    vec![
        ServiceState {
            name: "nginx.service".into(),
            active_state: Some("active".into()),
            sub_state: Some("running".into()),
            watched: true,
        },
        ServiceState {
            name: "ssh.service".into(),
            active_state: Some("failed".into()),
            sub_state: None,
            watched: false,
        },
    ]
}

pub fn volume_inodes() -> Vec<VolumeInodes> {
    vec![VolumeInodes {
        mount_point: "/".into(),
        inodes_total: 32_768_000,
        inodes_free: 30_000_000,
    }]
}

pub fn disk_io() -> Vec<DiskIo> {
    vec![
        DiskIo {
            device: "nvme0n1".into(),
            read_bytes_per_sec: Some(1_048_576.0),
            write_bytes_per_sec: Some(0.5),
            reads_per_sec: Some(12.0),
            writes_per_sec: Some(3.25),
            smart_healthy: Some(true),
            smart_checked_at: Some(at(-420)),
            temperature_celsius: Some(41),
            reallocated_sectors: Some(0),
            pending_sectors: Some(0),
            wear_percent: Some(7),
        },
        DiskIo {
            device: "sda".into(),
            ..DiskIo::default()
        },
    ]
}
