#!/usr/bin/env bash
# Install everything maillab needs on a Debian 12 or 13 machine (README: Supported platforms).
#
# Idempotent: on a provisioned machine it checks, changes nothing and ends in
# seconds. Used by lab.sh (the README's commands), by .ci/run and by the
# Vagrantfile, so all three set a machine up the same way.
#
#   lab/provision.sh            system packages + virtualenv + `maillab` on PATH
#   lab/provision.sh --vagrant  also Debian's vagrant (for the Vagrantfile test)
#   lab/provision.sh --cluster-node
#                               a server that holds part of a lab started elsewhere
#                               (`maillab run --cluster`): Mininet, Open vSwitch, sshd,
#                               sudo and the virtualenv, none of the peers and browsers
#
# openssh-server and sudo come with every mode (a lab spread over servers logs in to
# them; its tests run a private sshd on 127.0.0.2), but the system's sshd is never
# turned on here: a machine that had none keeps having none.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$here/.venv"
say() { printf '[provision] %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
    echo "provision.sh must run as root (Mininet needs it): sudo $0 $*" >&2
    exit 1
fi

packages=(
    mininet            # Mininet 2.3 and mnexec
    bridge-utils iproute2 iputils-ping net-tools procps psmisc ethtool
    iputils-arping     # a created server announces itself (gratuitous ARP), as a booting machine does
    openvswitch-switch # only for `--switch ovs` (userspace datapath where the kernel lacks the module)
    iptables           # blackhole and loss faults (netfilter, NFQUEUE)
    libnetfilter-queue-dev build-essential python3-dev python3-venv
    tcpdump            # pcaps for every run
    bind9-dnsutils     # dig, nsupdate
    swaks              # SMTP test client
    strace             # the tests' check of the servers' fsync order in real system calls
    postfix            # a peer: interop tests, `maillab bench relay`, `maillab run --relay postfix`
    chromium chromium-driver   # headless browser tests of the live page
    openssh-server sudo        # a lab over several servers (`--cluster`), and its tests
)
# what a server holding part of someone else's lab needs (lab/cli/cluster.py checks these)
node_packages=(
    mininet openvswitch-switch iproute2 procps psmisc ethtool iputils-ping iputils-arping
    iptables tcpdump bind9-dnsutils python3-venv openssh-server sudo
)
for arg in "$@"; do
    case "$arg" in
        --vagrant) packages+=(vagrant) ;;
        --cluster-node) packages=("${node_packages[@]}") ;;
        *) echo "provision.sh: unknown option $arg" >&2; exit 2 ;;
    esac
done

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
ssh_unit_was_enabled=no
if command -v systemctl >/dev/null && systemctl is-enabled ssh.service >/dev/null 2>&1; then
    ssh_unit_was_enabled=yes
fi
if [ ${#missing[@]} -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Postfix asks how to configure itself; it is only a peer here, started by
    # maillab with its own configuration, so "No configuration" is right.
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
    # Debian's openssh-server enables and starts the system sshd; a machine that
    # ran none before does not get one from maillab (the lab starts its own)
    if [ "$ssh_unit_was_enabled" = no ] && command -v systemctl >/dev/null \
            && systemctl is-enabled ssh.service >/dev/null 2>&1; then
        say "leaving the system sshd off, as it was (systemctl enable --now ssh turns it on)"
        systemctl disable --now ssh.service ssh.socket >/dev/null 2>&1 || true
    fi
else
    say "Debian packages: all present"
fi

# Postfix is a peer that maillab starts itself; a system instance would hold port 25.
if command -v systemctl >/dev/null && systemctl is-enabled postfix >/dev/null 2>&1; then
    say "disabling the system postfix service (maillab runs its own instances)"
    systemctl disable --now postfix >/dev/null 2>&1 || true
fi

# A process in a lab host cannot reach this machine's DNS server; one that looks
# up the machine's own name (every server: Twisted's SMTP module does at import)
# waits out the resolver's 5 s timeout unless /etc/hosts names it. Debian's
# installer writes this line; debootstrap roots and some images lack it.
if ! getent -s files hosts "$(hostname)" >/dev/null 2>&1; then
    say "adding this machine's name to /etc/hosts (127.0.1.1 $(hostname), as Debian's installer does)"
    printf '127.0.1.1\t%s\n' "$(hostname)" >> /etc/hosts
fi

# The virtualenv is made from Debian's interpreter so that `import mininet`
# (a Debian package) works inside it.
if [ ! -x "$venv/bin/python" ]; then
    say "creating virtualenv $venv"
    /usr/bin/python3 -m venv --system-site-packages "$venv"
fi
stamp="$venv/.maillab-installed"
want=$(cat "$here/setup.cfg" "$here/pyproject.toml" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    say "installing maillab into the virtualenv (editable, with test extras)"
    "$venv/bin/pip" install -q --disable-pip-version-check -e "$here[test]"
    echo "$want" > "$stamp"
else
    say "virtualenv: up to date"
fi

if [ "$(readlink /usr/local/bin/maillab 2>/dev/null)" != "$venv/bin/maillab" ]; then
    say "linking /usr/local/bin/maillab"
    ln -sf "$venv/bin/maillab" /usr/local/bin/maillab
fi
say "ready: $(command -v maillab)"
