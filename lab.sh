#!/usr/bin/env bash
# The two commands of the README. Each installs what is missing first.
#
#   ./lab.sh demo [SCENARIO]   run a failover scenario and explain what happened
#   ./lab.sh test [PYTEST...]  run the whole test suite (unit + lab tests)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "lab.sh needs root (Mininet creates namespaces); run it as root" >&2; exit 1; }
    exec sudo --preserve-env=CI,MAILLAB_FUZZ,MAILLAB_FUZZ_SEED -- "$0" "$@"
fi

what=${1:-}
[ $# -gt 0 ] && shift
case "$what" in
    demo)
        "$here/lab/provision.sh"
        exec "$here/.venv/bin/maillab" demo "$@"
        ;;
    test)
        "$here/lab/provision.sh"
        cd "$here"
        exec "$here/.venv/bin/python" -m pytest "$@"
        ;;
    *)
        sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'
        exit 2
        ;;
esac
