#!/usr/bin/env bash
# Measures atalaya-agent's footprint on this machine and writes the figures to BENCHMARKS.md
# under "## Agent footprint" (that section only; the rest of the file is left alone).
#
#   agent/bench/footprint.sh [--no-build] [--peers] [--seconds N]
#
# - binary size of the release build (as built, and fully stripped);
# - CPU time of one metrics collection: (cost of `collect --repeat 2001` - cost of `--repeat 1`) / 2000;
# - CPU time and peak memory of one full inventory (`collect --json --inventory`, whole process
#   including start-up and the helpers it runs, mean of 10);
# - resident memory while `run --interval 1` reports to a local stub server for N seconds, and
#   the CPU it spent per cycle (collect + spool + upload);
# - with --peers: the same for prometheus-node-exporter (apt-get install), per scrape.
# Needs python3 (the stub server and getrusage-based timing). Loopback traffic only.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
build=1 peers=0 seconds=30
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) build=0 ;;
    --peers) peers=1 ;;
    --seconds) seconds="$2"; shift ;;
    *) echo "usage: $0 [--no-build] [--peers] [--seconds N]" >&2; exit 2 ;;
  esac
  shift
done

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"
if [ "$build" = 1 ]; then
  (cd "$repo" && cargo build --release -p atalaya-agent >&2)
fi
bin="$CARGO_TARGET_DIR/release/atalaya-agent"
[ -x "$bin" ] || { echo "no release binary at $bin (drop --no-build)" >&2; exit 1; }

work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# --- helpers ---------------------------------------------------------------------------------
# cost CMD...: prints "<user+sys seconds> <peak RSS KiB>" of the command, by GNU time (a small C
# parent: measuring from python would count python's own memory in the child's peak RSS).
[ -x /usr/bin/time ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null 2>&1
cost() {
  /usr/bin/time -f '%U %S %M' -o "$work/time.out" "$@" >/dev/null 2>&1
  awk '{printf "%.3f %d\n", $1 + $2, $3}' "$work/time.out"
}
# cpu_of PID: user+sys seconds consumed so far by a running process.
cpu_of() {
  python3 -c "
import os,sys
f=open('/proc/$1/stat').read().rsplit(')',1)[1].split()
print((int(f[11])+int(f[12]))/os.sysconf('SC_CLK_TCK'))"
}
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# zabbix_agent2 only accepts ports up to 32767.
free_low_port() {
  python3 -c '
import random, socket
for p in random.sample(range(20000, 32000), 200):
    try:
        s = socket.socket(); s.bind(("127.0.0.1", p)); print(p); break
    except OSError: pass'
}
calc() { python3 -c "print($1)"; }

# The machine may be shared: record how busy it was around the measurements.
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

# --- binary size -----------------------------------------------------------------------------
size_built=$(stat -c %s "$bin")
strip -o "$work/agent-stripped" "$bin" 2>/dev/null || cp "$bin" "$work/agent-stripped"
size_stripped=$(stat -c %s "$work/agent-stripped")

# --- one metrics collection ------------------------------------------------------------------
export ATALAYA_AGENT_STATE_DIR="$work/state"
read -r c1 _ < <(cost "$bin" collect --repeat 1)
read -r cn _ < <(cost "$bin" collect --repeat 2001)
per_collection_ms=$(calc "round(($cn - $c1) / 2000 * 1000, 3)")

# --- one full inventory ----------------------------------------------------------------------
# Ten runs: GNU time counts in 10 ms steps, too coarse for one.
inv_cpu=0 inv_rss=0
for _ in $(seq 10); do
  read -r c m < <(cost "$bin" collect --json --inventory)
  inv_cpu=$(calc "$inv_cpu + $c"); [ "$m" -gt "$inv_rss" ] && inv_rss=$m
done
inv_cpu=$(calc "$inv_cpu / 10")
inv_ms=$(calc "round($inv_cpu * 1000, 1)")
inv_mib=$(calc "round($inv_rss / 1024, 1)")
inventory_summary=$("$bin" collect --inventory 2>/dev/null | grep -E '^inventory|^ +[a-z_]+ unavailable:' | sed 's/^ */  /' || true)

# --- resident memory while running -----------------------------------------------------------
port=$(free_port)
cat > "$work/stub.py" <<'PY'
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
        if self.path.endswith("/enroll"):
            out = {"protocol": 1, "agent_id": "bench", "credential": "ata_bench", "tenant": "bench", "report_interval_secs": 1}
            code = 201
        else:
            out = {"protocol": 1, "seq": body["seq"], "duplicate": False, "config_version": 1, "report_interval_secs": 1}
            code = 200
        b = json.dumps(out).encode()
        self.send_response(code)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)
    def do_GET(self):
        # The agent config the acknowledgements' config_version points at (fetched once; the
        # bench's `run --interval 1` stays a local override of its interval).
        out = {"protocol": 1, "version": 1, "report_interval_secs": 60,
               "inventory_schedule": "0 0 3 * * *", "spool_max_bytes": 67108864, "watched_services": []}
        b = json.dumps(out).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)
    def log_message(self, *a): pass
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
python3 "$work/stub.py" "$port" & pids+=($!)
for _ in $(seq 50); do (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
"$bin" enroll --server "http://127.0.0.1:$port" --token ate_bench >/dev/null 2>&1
"$bin" --log-level warn run --interval 1 >/dev/null 2>&1 & agent=$!; pids+=($agent)
sleep 3   # start-up: first collection, first inventory
cpu_start=$(cpu_of "$agent"); seq_start=$(cat "$work/state/seq")
rss_max=0 rss_sum=0 n=0
for _ in $(seq "$seconds"); do
  sleep 1
  r=$(rss_kib "$agent"); rss_sum=$((rss_sum + r)); n=$((n + 1))
  [ "$r" -gt "$rss_max" ] && rss_max=$r
done
cpu_end=$(cpu_of "$agent"); seq_end=$(cat "$work/state/seq")
kill "$agent"; wait "$agent" 2>/dev/null || true
cycles=$((seq_end - seq_start))
rss_avg_mib=$(calc "round($rss_sum / $n / 1024, 2)")
rss_max_mib=$(calc "round($rss_max / 1024, 2)")
per_cycle_ms=$(calc "round(($cpu_end - $cpu_start) / max($cycles, 1) * 1000, 2)")

# --- peers (optional) ------------------------------------------------------------------------
# Each peer is measured the way it is used: node_exporter per scrape, zabbix_agent2 per round of
# the same ten readings the agent makes (passive checks over its own protocol), and
# fusioninventory-inventory for one full local inventory.
peer_rows=""
ratio() { calc "round($1 / $2, 2) if $2 else 'n/a'"; }
if [ "$peers" = 1 ]; then
  need=()
  command -v prometheus-node-exporter >/dev/null || need+=(prometheus-node-exporter)
  [ -x /usr/sbin/zabbix_agent2 ] || need+=(zabbix-agent2)
  command -v fusioninventory-inventory >/dev/null || need+=(fusioninventory-agent)
  if [ ${#need[@]} -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 || echo "apt-get install ${need[*]} failed" >&2
  fi

  if command -v prometheus-node-exporter >/dev/null; then
    nport=$(free_port)
    prometheus-node-exporter --web.listen-address="127.0.0.1:$nport" >/dev/null 2>&1 & ne=$!; pids+=($ne)
    for _ in $(seq 50); do (echo > "/dev/tcp/127.0.0.1/$nport") 2>/dev/null && break; sleep 0.1; done
    python3 -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$nport/metrics').read()"
    sleep 2
    ne_cpu0=$(cpu_of "$ne")
    python3 -c "
import urllib.request as u
for _ in range(50): u.urlopen('http://127.0.0.1:$nport/metrics').read()"
    ne_cpu1=$(cpu_of "$ne"); ne_rss=$(calc "round($(rss_kib "$ne") / 1024, 2)")
    ne_ms=$(calc "round(($ne_cpu1 - $ne_cpu0) / 50 * 1000, 2)")
    ne_size=$(calc "round($(stat -c %s "$(command -v prometheus-node-exporter)") / 1048576, 1)")
    peer_rows+="| prometheus-node-exporter | ${ne_rss} MiB ($(ratio "$rss_max_mib" "$ne_rss")×) | ${ne_ms} ms per scrape ($(ratio "$per_collection_ms" "$ne_ms")×) | | ${ne_size} MiB |"$'\n'
  fi

  if [ -x /usr/sbin/zabbix_agent2 ]; then
    zport=$(free_low_port)
    cat > "$work/zabbix_agent2.conf" <<ZCONF
Server=127.0.0.1
ListenIP=127.0.0.1
ListenPort=$zport
ServerActive=
Hostname=bench
LogType=console
ControlSocket=$work/zabbix.sock
Include=/etc/zabbix/zabbix_agent2.d/plugins.d/*.conf
ZCONF
    /usr/sbin/zabbix_agent2 -c "$work/zabbix_agent2.conf" -f >"$work/zabbix.log" 2>&1 & za=$!; pids+=($za)
    for _ in $(seq 50); do (echo > "/dev/tcp/127.0.0.1/$zport") 2>/dev/null && break; sleep 0.1; done
    cat > "$work/zget.py" <<'PY'
import socket, struct, sys
port, rounds = int(sys.argv[1]), int(sys.argv[2])
keys = ["system.cpu.util", "system.cpu.load[all,avg1]", "vm.memory.size[used]", "vm.memory.size[total]",
        "system.swap.size[,free]", "system.swap.size[,total]", "system.uptime", "proc.num[]",
        "vfs.fs.size[/,total]", "vfs.fs.size[/,free]"]
for _ in range(rounds):
    for k in keys:
        s = socket.create_connection(("127.0.0.1", port)); b = k.encode()
        s.sendall(b"ZBXD\x01" + struct.pack("<II", len(b), 0) + b)
        while s.recv(65536): pass
        s.close()
PY
    python3 "$work/zget.py" "$zport" 1 || { tail -5 "$work/zabbix.log" >&2; cat "$work/zabbix_agent2.conf" >&2; }; sleep 2
    za_cpu0=$(cpu_of "$za"); python3 "$work/zget.py" "$zport" 50; za_cpu1=$(cpu_of "$za")
    za_rss=$(calc "round($(rss_kib "$za") / 1024, 2)")
    za_ms=$(calc "round(($za_cpu1 - $za_cpu0) / 50 * 1000, 2)")
    za_size=$(calc "round($(stat -c %s /usr/sbin/zabbix_agent2) / 1048576, 1)")
    peer_rows+="| zabbix-agent2 | ${za_rss} MiB ($(ratio "$rss_max_mib" "$za_rss")×) | ${za_ms} ms per round of 10 items ($(ratio "$per_collection_ms" "$za_ms")×) | | ${za_size} MiB |"$'\n'
  fi

  if command -v fusioninventory-inventory >/dev/null; then
    read -r fi_cpu fi_rss < <(cost fusioninventory-inventory)
    fi_ms=$(calc "round($fi_cpu * 1000, 1)"); fi_mib=$(calc "round($fi_rss / 1024, 1)")
    peer_rows+="| fusioninventory-inventory | | | ${fi_ms} ms CPU ($(ratio "$inv_ms" "$fi_ms")×), peak ${fi_mib} MiB ($(ratio "$inv_mib" "$fi_mib")×) | (Perl) |"$'\n'
  fi
fi

# --- report ----------------------------------------------------------------------------------
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
# Whether systemd answers here: without it the per-collection service states cost nothing.
if systemctl list-units --type=service --no-pager >/dev/null 2>&1; then
  services_note="systemd answers here: each collection includes one \`systemctl list-units\` child (counted)."
else
  services_note="systemd is not PID 1 here (container): the agent sees no /run/systemd/system and reads no service states, so the one \`systemctl list-units\` child per collection a systemd host adds is not in these figures."
fi
section="$work/section.md"
{
  echo "## Agent footprint"
  echo
  echo "Measured by \`agent/bench/footprint.sh\` on $(date -u +%Y-%m-%d) ($(nproc) CPUs, $(uname -r), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM), release build, commit $(cd "$repo" && git rev-parse --short HEAD 2>/dev/null || echo '?')."
  echo "Load average (1/5/15 min) before: ${load_before}; after: ${load_after} — the machine is shared, so CPU figures carry that noise. ${services_note}"
  echo
  echo "| figure | value | target (issue 3) |"
  echo "|---|---|---|"
  echo "| resident memory while running (\`run --interval 1\`, ${seconds} s) | max ${rss_max_mib} MiB, mean ${rss_avg_mib} MiB | ≤ 8 MiB |"
  echo "| CPU per metrics collection (\`collect --repeat\`) | ${per_collection_ms} ms | ≤ 2 ms |"
  echo "| CPU per running cycle (collect + spool with fsync + upload), ${cycles} cycles | ${per_cycle_ms} ms | |"
  echo "| full inventory, whole process (\`collect --json --inventory\`) | ${inv_ms} ms CPU, peak ${inv_mib} MiB | ≤ 150 ms, ≤ 16 MiB |"
  echo "| binary size | $(calc "round($size_built / 1048576, 2)") MiB as built, $(calc "round($size_stripped / 1048576, 2)") MiB stripped | |"
  if [ -n "$peer_rows" ]; then
    echo
    echo "Peers, same machine, same run (in brackets: atalaya-agent's figure as a ratio of the peer's; below 1 = smaller):"
    echo
    echo "| peer | resident memory while running | CPU per metrics collection | full inventory | binary |"
    echo "|---|---|---|---|---|"
    printf '%s' "$peer_rows"
  fi
  echo
  echo "Inventory on this machine:"
  echo
  echo '```'
  echo "$inventory_summary"
  echo '```'
  echo
} > "$section"

bench="$repo/BENCHMARKS.md"
[ -f "$bench" ] || printf '# Benchmarks\n\n' > "$bench"
python3 - "$bench" "$section" <<'PY'
import re, sys
path, section = sys.argv[1], open(sys.argv[2]).read()
text = open(path).read()
pattern = re.compile(r"^## Agent footprint\n.*?(?=^## |\Z)", re.S | re.M)
text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
open(path, "w").write(text)
PY
cat "$section"
