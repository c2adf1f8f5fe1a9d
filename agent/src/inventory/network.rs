//! Network interfaces: addresses and MACs through `sysinfo` (getifaddrs), link state, speed and
//! whether the interface is virtual from `/sys/class/net`.

use std::fs;
use std::path::Path;

use atalaya_shared::protocol::NetworkInterface;
use sysinfo::Networks;

pub fn interfaces() -> Vec<NetworkInterface> {
    let networks = Networks::new_with_refreshed_list();
    let mut out: Vec<NetworkInterface> = networks
        .list()
        .iter()
        .map(|(name, data)| {
            let sys = Path::new("/sys/class/net").join(name);
            let read = |f: &str| {
                fs::read_to_string(sys.join(f))
                    .ok()
                    .map(|s| s.trim().to_owned())
            };
            let mut addresses: Vec<String> = data
                .ip_networks()
                .iter()
                .map(|n| format!("{}/{}", n.addr, n.prefix))
                .collect();
            addresses.sort();
            addresses.dedup();
            let mac = data.mac_address();
            NetworkInterface {
                name: name.clone(),
                mac_address: (!mac.is_unspecified()).then(|| mac.to_string()),
                addresses,
                oper_state: read("operstate"),
                // -1 (or an error) when the link is down or the driver does not say.
                speed_mbps: read("speed")
                    .and_then(|s| s.parse::<i64>().ok())
                    .and_then(|s| u64::try_from(s).ok()),
                mtu: u32::try_from(data.mtu()).ok().filter(|m| *m > 0),
                // Physical NICs have a `device` link to their bus device; lo, bridges, veth… do not.
                is_virtual: !sys.join("device").exists(),
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    /// Independent source: `ip -j addr` (iproute2, netlink) on the same machine.
    #[test]
    fn interfaces_match_ip_addr() {
        let Ok(out) = std::process::Command::new("ip")
            .args(["-j", "addr"])
            .output()
        else {
            eprintln!("SKIPPED: `ip` is not installed");
            return;
        };
        let ip: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let mut expected: BTreeMap<String, (Option<String>, BTreeSet<String>)> = BTreeMap::new();
        for link in ip.as_array().unwrap() {
            let name = link["ifname"].as_str().unwrap().to_owned();
            let mac = link["address"]
                .as_str()
                .filter(|m| *m != "00:00:00:00:00:00")
                .map(str::to_owned);
            let addrs = link["addr_info"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|i| format!("{}/{}", i["local"].as_str().unwrap(), i["prefixlen"]))
                        .collect()
                })
                .unwrap_or_default();
            expected.insert(name, (mac, addrs));
        }
        let ours = interfaces();
        let names: BTreeSet<_> = ours.iter().map(|i| i.name.clone()).collect();
        assert_eq!(names, expected.keys().cloned().collect(), "interface names");
        for i in &ours {
            let (mac, addrs) = &expected[&i.name];
            let ours_addrs: BTreeSet<String> = i.addresses.iter().cloned().collect();
            assert_eq!(&ours_addrs, addrs, "addresses of {}", i.name);
            if i.name != "lo" {
                assert_eq!(&i.mac_address, mac, "MAC of {}", i.name);
            }
        }
        assert!(ours.iter().any(|i| i.name == "lo" && i.is_virtual));
    }
}
