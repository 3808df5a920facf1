#!/usr/bin/env bash
# What `make test` needs from Debian beside Python: Chromium for the browser tests (required),
# pgbouncer for the pooler tests, PostgreSQL 15 for a Supabase-shaped cluster (their tests
# skip, saying so, without them) and nginx for the load balancer of the replicas' tests. Installed when missing if run as root; otherwise the exact
# command to run is printed, and only a missing Chromium stops the run.
set -euo pipefail

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/sbin/pgbouncer ] || missing+=(pgbouncer)
[ -x /usr/lib/postgresql/15/bin/initdb ] || missing+=(postgresql-15)
[ -x /usr/sbin/nginx ] || missing+=(nginx-light)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
    echo "make test: installing ${missing[*]} (Debian packages)" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    exit 0
fi

echo "make test: missing Debian packages: ${missing[*]}. Install them with:" >&2
echo "    sudo apt-get install -y ${missing[*]}" >&2
if [ ! -x /usr/bin/chromium ]; then
    echo "then run make test again (the browser tests need Chromium)." >&2
    exit 1
fi
echo "(going on: the tests that need them are skipped, each saying why)" >&2
