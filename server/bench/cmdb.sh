#!/usr/bin/env bash
# CMDB benchmark on SQLite and PostgreSQL (issue 4, "Performance"); prints the tables that go in
# BENCHMARKS.md. Needs a local PostgreSQL where ATALAYA_TEST_DATABASE_URL may create databases.
#
#   server/bench/cmdb.sh                  # 10,000 computers, both backends
#   server/bench/cmdb.sh --computers 2000 # smaller fleet (any flag goes to the bench)
set -euo pipefail
cd "$(dirname "$0")/../.."
export ATALAYA_TEST_DATABASE_URL="${ATALAYA_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1/postgres}"

cargo build --release -p atalaya-server --bench cmdb
echo "commit $(git rev-parse --short HEAD), $(nproc) CPUs, $(uname -r), load: $(cut -d' ' -f1-3 /proc/loadavg)"
for backend in sqlite postgres; do
    cargo bench -q -p atalaya-server --bench cmdb -- --backend "$backend" --explain "$@"
done
