"""The ways onto a student's laptop (README, "On your laptop"), checked without a VM:
the Vagrantfile as each provider and architecture would read it, the Containerfile,
and the line endings a Windows checkout gets."""
import base64
import json
import os
import re
import shutil
import subprocess

import pytest

from lab import ROOT
from lab.report.whereabouts import read_hints

PROVIDERS = ("virtualbox", "vmware_desktop", "parallels", "libvirt", "qemu")
RECORDER = os.path.join(os.path.dirname(__file__), "vagrantfile_recorder.rb")


def vagrantfile_settings(arch, **env):
    """Every setting the Vagrantfile makes, as (path, args, kw), read by a stand-in for
    Vagrant (vagrantfile_recorder.rb) with MAILLAB_VM_ARCH=arch."""
    if not shutil.which("ruby"):
        pytest.skip("ruby is not installed (Debian's vagrant brings it)")
    env = dict({k: v for k, v in os.environ.items() if k != "MAILLAB_BOX"},
               MAILLAB_VM_ARCH=arch, **env)
    res = subprocess.run(["ruby", RECORDER, os.path.join(ROOT, "Vagrantfile")], cwd=ROOT,
                         capture_output=True, text=True, timeout=60, env=env)
    assert res.returncode == 0, res.stderr
    return [(tuple(e["path"]), e["args"], e["kw"]) for e in map(json.loads, res.stdout.split("\n")[:-1])]


def under(settings, *prefix):
    """The settings whose path starts with ``prefix`` (after vm/define/lab), prefix cut off."""
    out = []
    for path, args, kw in settings:
        rest = path[3:] if path[:3] == ("vm", "define", "lab") else path
        if rest[:len(prefix)] == prefix:
            out.append((rest[len(prefix):], args, kw))
    return out


def box_for(settings, provider):
    boxes = [a[0] for p, a, _ in under(settings, "vm", "provider", provider, "override", "vm", "box")
             if p == ()]
    return boxes[-1] if boxes else [a[0] for p, a, _ in under(settings, "vm", "box") if p == ()][-1]


def synced(settings, prefix=()):
    """{guest path: kw} of the synced folders set at ``prefix``."""
    return {a[1]: kw for p, a, kw in under(settings, *prefix, "vm", "synced_folder") if p == ()}


@pytest.mark.parametrize("arch", ["amd64", "arm64"])
@pytest.mark.needs_cmd("vagrant")      # CI installs it (lab/provision.sh --vagrant)
def test_vagrantfile_validates_for_each_architecture(arch):
    env = dict(os.environ, VAGRANT_CHECKPOINT_DISABLE="1", MAILLAB_VM_ARCH=arch)
    res = subprocess.run(["vagrant", "validate", "--ignore-provider"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120, env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "validated successfully" in res.stdout


@pytest.mark.needs_cmd("vagrant")
def test_vagrantfile_refuses_an_unknown_architecture():
    env = dict(os.environ, VAGRANT_CHECKPOINT_DISABLE="1", MAILLAB_VM_ARCH="mips")
    res = subprocess.run(["vagrant", "validate", "--ignore-provider"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120, env=env)
    assert res.returncode != 0
    assert "MAILLAB_VM_ARCH=mips: say amd64 or arm64" in res.stdout + res.stderr


def test_arm64_hosts_get_an_arm64_box_for_every_provider():
    s = vagrantfile_settings("arm64")
    assert [a for p, a, _ in under(s, "vm", "box_architecture")] == [["arm64"]]
    for provider in PROVIDERS:
        assert box_for(s, provider) == "bento/debian-12", provider
    qemu = {p[0]: a[0] for p, a, _ in under(s, "vm", "provider", "qemu") if len(p) == 1}
    assert qemu["arch"] == "aarch64" and qemu["machine"].startswith("virt,")


def test_amd64_hosts_get_debians_own_box_where_debian_publishes_one():
    s = vagrantfile_settings("amd64")
    assert [a for p, a, _ in under(s, "vm", "box_architecture")] == [["amd64"]]
    assert {p: box_for(s, p) for p in PROVIDERS} == {
        "virtualbox": "debian/bookworm64", "libvirt": "debian/bookworm64",
        "qemu": "debian/bookworm64",
        "vmware_desktop": "bento/debian-12", "parallels": "bento/debian-12"}
    qemu = {p[0]: a[0] for p, a, _ in under(s, "vm", "provider", "qemu") if len(p) == 1}
    assert qemu["arch"] == "x86_64" and qemu["net_device"] == "virtio-net-pci"


def test_every_provider_has_two_cpus_and_4_gib():
    s = vagrantfile_settings("arm64")
    got = {p: {q[0]: a[0] for q, a, _ in under(s, "vm", "provider", p) if len(q) == 1}
           for p in PROVIDERS}
    assert got["virtualbox"]["cpus"] == 2 and got["virtualbox"]["memory"] == 4096
    assert got["parallels"]["cpus"] == 2 and got["parallels"]["memory"] == 4096
    assert got["libvirt"]["cpus"] == 2 and got["libvirt"]["memory"] == 4096
    assert got["qemu"]["smp"] == "2" and got["qemu"]["memory"] == "4G"
    vmx = {q[0]: a[0] for q, a, _ in under(s, "vm", "provider", "vmware_desktop", "vmx")}
    assert vmx == {"[numvcpus]": "2", "[memsize]": "4096"}


def test_reports_are_shared_by_each_providers_own_mechanism_and_nothing_needs_rsync():
    s = vagrantfile_settings("arm64")
    base = synced(s)
    # reports/ both ways, the checkout to copy from; /maillab itself (its .venv) is not shared
    assert set(base) == {"/vagrant", "/maillab-src", "/maillab/reports"}
    assert base["/vagrant"].get("disabled") is True
    assert "type" not in base["/maillab/reports"]     # VMware, Parallels: their own shares
    assert synced(s, ("vm", "provider", "virtualbox", "override"))["/maillab/reports"]["type"] == \
        "virtualbox"
    assert synced(s, ("vm", "provider", "libvirt", "override"))["/maillab/reports"]["type"] == "virtiofs"
    qemu = synced(s, ("vm", "provider", "qemu", "override"))
    assert qemu["/maillab/reports"]["disabled"] is True       # vagrant-qemu knows only SMB
    qemu_args = [a[0] for p, a, _ in under(s, "vm", "provider", "qemu", "extra_qemu_args")]
    assert any("mount_tag=maillab_reports" in arg for arg in qemu_args[0])
    kinds = {kw.get("type") for p, a, kw in under(s) if p and p[-1] == "synced_folder"}
    assert not kinds & {"rsync", "smb", "nfs"}
    libvirt = [a for p, a, _ in under(s, "vm", "provider", "libvirt", "memorybacking")]
    assert ["access"] in libvirt    # virtiofs needs the guest's memory shared


def test_port_7080_moves_aside_when_taken():
    s = vagrantfile_settings("amd64")
    (args, kw), = [(a, kw) for p, a, kw in under(s, "vm", "network") if p == ()]
    assert args == ["forwarded_port"]
    assert kw == {"guest": 7080, "host": 7080, "host_ip": "127.0.0.1", "auto_correct": True}


def test_provisioning_copies_the_checkout_then_runs_provision_sh():
    s = vagrantfile_settings("amd64")
    steps = [(a, kw) for p, a, kw in under(s, "vm", "provision") if p == ()]
    assert [kw["name"] for a, kw in steps] == ["checkout", "maillab", "cluster key"]
    setup = steps[0][1]["inline"]
    res = subprocess.run(["sh", "-n"], input=setup, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "rsync" not in setup
    assert "--exclude=./.venv" in setup and "--exclude=./reports" in setup
    assert steps[1][1]["inline"] == "cd /maillab && ./lab/provision.sh"


# --- a lab over two machines: `vagrant up lab lab2` -------------------------------------
CLUSTER_PROVIDERS = ("virtualbox", "vmware_desktop", "parallels", "libvirt")


def of_machine(settings, name, *prefix):
    """The settings of machine ``name`` (vm/define/NAME) under ``prefix``, both cut off."""
    head = ("vm", "define", name) + prefix
    return [(path[len(head):], args, kw) for path, args, kw in settings
            if path[:len(head)] == head]


def steps_of(settings, name, *prefix):
    return [(a, kw) for p, a, kw in of_machine(settings, name, *prefix, "vm", "provision")
            if p == ()]


def test_lab2_starts_only_when_named():
    s = vagrantfile_settings("amd64")
    defines = {p[2]: kw for p, a, kw in s if p[:2] == ("vm", "define") and len(p) == 3}
    assert defines == {"lab": {"primary": True}, "lab2": {"autostart": False}}
    assert [a for p, a, _ in of_machine(s, "lab2", "vm", "hostname")] == [["maillab2"]]


@pytest.mark.parametrize("arch", ["amd64", "arm64"])
def test_both_machines_are_on_one_private_network_with_fixed_addresses(arch):
    s = vagrantfile_settings(arch)
    for name, ip in (("lab", "192.168.56.10"), ("lab2", "192.168.56.11")):
        for provider in CLUSTER_PROVIDERS:
            nets = [(a, kw) for p, a, kw in of_machine(s, name, "vm", "provider", provider,
                                                        "override", "vm", "network")]
            assert nets == [(["private_network"], {"ip": ip})], (name, provider)
        assert box_for(of_machine(s, name), "libvirt") == box_for(s, "libvirt")
    # lab's own settings outside the providers are what they were: one forwarded port
    assert [a for p, a, _ in under(s, "vm", "network") if p == ()] == [["forwarded_port"]]


def test_on_qemu_the_two_machines_are_joined_by_udp_sockets_and_get_their_addresses():
    s = vagrantfile_settings("amd64")
    nics = {}
    for name in ("lab", "lab2"):
        (qemu_args,), = [a for p, a, _ in of_machine(s, name, "vm", "provider", "qemu",
                                                     "extra_qemu_args")]
        netdev = qemu_args[qemu_args.index("-netdev") + 1]
        device = qemu_args[qemu_args.index("-device") + 1]
        nics[name] = (netdev, device)
        assert device.startswith("virtio-net-pci,netdev=maillab_cluster,mac=52:54:00:56:00:")
        (step,) = steps_of(s, name, "vm", "provider", "qemu", "override")
        assert step[1]["name"] == "cluster network"
        assert step[1]["env"]["CLUSTER_IP"] == {"lab": "192.168.56.10", "lab2": "192.168.56.11"}[name]
        assert step[1]["env"]["CLUSTER_MAC"] in device
        res = subprocess.run(["sh", "-n"], input=step[1]["inline"], capture_output=True, text=True)
        assert res.returncode == 0, res.stderr
    # each sends to the port the other listens on
    assert "udp=127.0.0.1:56011,localaddr=127.0.0.1:56010" in nics["lab"][0]
    assert "udp=127.0.0.1:56010,localaddr=127.0.0.1:56011" in nics["lab2"][0]
    ports = {name: [a[0] for p, a, _ in of_machine(s, name, "vm", "provider", "qemu", "ssh_port")]
             for name in ("lab", "lab2")}
    assert ports == {"lab": [], "lab2": ["50023"]}     # lab keeps vagrant-qemu's default


def test_lab2_is_a_cluster_node_that_authorizes_labs_key(tmp_path):
    s = vagrantfile_settings("amd64")
    lab2 = steps_of(s, "lab2")
    assert [kw["name"] for a, kw in lab2] == ["checkout", "maillab", "cluster key"]
    assert lab2[1][1]["inline"] == "cd /maillab && ./lab/provision.sh --cluster-node"
    lab = {kw["name"]: kw for p, a, kw in under(s, "vm", "provision") if p == ()}
    install, authorize = lab["cluster key"], lab2[2][1]
    # the same public half on both sides
    assert install["env"]["CLUSTER_PUB"] == authorize["env"]["CLUSTER_PUB"]
    for script in (install["inline"], authorize["inline"]):
        res = subprocess.run(["sh", "-n"], input=script, capture_output=True, text=True)
        assert res.returncode == 0, res.stderr
    assert "/root/.config/maillab/cluster_ed25519" in install["inline"]    # lab.host.ssh.LAB_KEY
    assert "/root/.ssh/authorized_keys" in authorize["inline"]
    assert "PermitTunnel yes" in authorize["inline"]       # the tunnels are `ssh -w`
    # a key OpenSSH takes: its public half derives from the private one, and it signs
    if not shutil.which("ssh-keygen"):
        pytest.skip("no ssh-keygen")
    key = tmp_path / "key"
    key.write_bytes(base64.b64decode(install["env"]["CLUSTER_KEY"]))
    key.chmod(0o600)
    public = base64.b64decode(install["env"]["CLUSTER_PUB"]).decode()
    derived = subprocess.run(["ssh-keygen", "-y", "-f", str(key)], capture_output=True,
                             text=True, check=True).stdout.split()
    assert derived[:2] == public.split()[:2] and derived[0] == "ssh-ed25519"
    (tmp_path / "msg").write_text("maillab")
    subprocess.run(["ssh-keygen", "-q", "-Y", "sign", "-f", str(key), "-n", "file",
                    str(tmp_path / "msg")], check=True, capture_output=True)
    (tmp_path / "allowed").write_text("lab " + public)
    with open(tmp_path / "msg", "rb") as msg:
        res = subprocess.run(["ssh-keygen", "-Y", "verify", "-f", str(tmp_path / "allowed"),
                              "-I", "lab", "-n", "file", "-s", str(tmp_path / "msg.sig")],
                             stdin=msg, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_lab2_shares_only_the_checkout():
    s = vagrantfile_settings("amd64")
    folders = {a[1]: kw for p, a, kw in of_machine(s, "lab2", "vm", "synced_folder") if p == ()}
    assert set(folders) == {"/vagrant", "/maillab-src"}
    for provider in ("virtualbox", "libvirt", "qemu"):
        over = {a[1] for p, a, kw in of_machine(s, "lab2", "vm", "provider", provider,
                                                 "override", "vm", "synced_folder")}
        assert over == {"/maillab-src"}, provider
    (qemu_args,), = [a for p, a, _ in of_machine(s, "lab2", "vm", "provider", "qemu",
                                                 "extra_qemu_args")]
    assert not any("maillab_reports" in arg for arg in qemu_args)


def test_the_vm_says_where_the_reports_are_on_the_host(tmp_path):
    s = vagrantfile_settings("amd64")
    env = [kw["env"] for p, a, kw in under(s, "vm", "provision") if kw.get("name") == "checkout"][0]
    (tmp_path / "where").write_text(env["WHERE_REPORTS"])
    hints = read_hints(str(tmp_path / "where"))
    assert hints["guest_reports"] == "/maillab/reports"
    assert hints["host_reports"] == os.path.join(ROOT, "reports")
    assert hints["copy_out"].startswith("vagrant ssh lab -c ")


def containerfile():
    with open(os.path.join(ROOT, "Containerfile"), encoding="utf-8") as f:
        return f.read()


def test_containerfile_is_debian_12_set_up_by_provision_sh_for_any_architecture():
    text = containerfile()
    steps = [line.split(None, 1) for line in re.sub(r"\\\n", " ", text).splitlines()
             if line and not line.startswith("#") and not line.startswith(" ")]
    kinds = [s[0] for s in steps]
    assert kinds[:2] == ["ARG", "FROM"]
    assert steps[0][1] == "BASE=docker.io/library/debian:12" and steps[1][1] == "${BASE}"
    run = [s[1] for s in steps if s[0] == "RUN"]
    assert any(r.startswith("./lab/provision.sh") for r in run)
    assert ["WORKDIR", "/maillab"] in steps and ["COPY", ". /maillab"] in steps
    assert ["VOLUME", "/maillab/reports"] in steps
    # One file for amd64 and arm64: nothing names a CPU.
    code = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    assert not re.search(r"amd64|x86_64|arm64|aarch64|--platform", code)


def test_containerfile_says_where_the_reports_are(tmp_path):
    lines = re.findall(r"^    '([a-z_]+=.*)'", containerfile(), re.M)
    (tmp_path / "where").write_text("\n".join(lines) + "\n")
    hints = read_hints(str(tmp_path / "where"))
    assert hints["guest_reports"] == "/maillab/reports"
    assert "-v \"$PWD/reports:/maillab/reports\"" in hints["host_label"]
    assert hints["copy_out"].startswith("docker cp ")


def test_the_image_leaves_out_what_a_machine_makes_for_itself():
    with open(os.path.join(ROOT, ".dockerignore"), encoding="utf-8") as f:
        ignored = {line.strip() for line in f if line.strip() and not line.startswith("#")}
    assert {".git", ".venv", ".vagrant", "reports"} <= ignored


def test_shell_scripts_keep_lf_line_endings_in_every_checkout():
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.split()
    scripts = []
    for name in files:
        path = os.path.join(ROOT, name)
        if os.path.isfile(path):
            with open(path, "rb") as f:
                if f.read(2) == b"#!":
                    scripts.append(name)
    assert {"lab.sh", "lab/provision.sh", ".ci/run"} <= set(scripts)
    res = subprocess.run(["git", "check-attr", "eol", "--"] + scripts, cwd=ROOT,
                         capture_output=True, text=True, check=True)
    eol = dict(line.rsplit(": eol: ", 1) for line in res.stdout.splitlines())
    assert eol == {name: "lf" for name in scripts}
