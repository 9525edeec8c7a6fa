#!/bin/sh
# Runs as root inside the node image while lab/build builds it (see Containerfile).
set -eu
: "${PACKAGES:?PACKAGES must list the Debian packages the node needs}"

missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing="$missing $p"
done
if [ -n "$missing" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    # shellcheck disable=SC2086
    apt-get install -y --no-install-recommends $missing
fi
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt/* /var/log/dpkg.log

# Booting the plain debootstrap rootfs under `podman run --systemd=always` already reaches
# "running" with no failed unit (systemd 252 skips udev, kernel mounts, sysctl and
# remount-fs in a container by itself). Mask only what is noise in a test node: login
# prompts on a console nobody reads, and periodic jobs that would steal CPU mid-test.
systemctl mask --quiet \
    console-getty.service getty@tty1.service getty-static.service \
    apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer

# SSH host keys are made at first boot, one set per container: molecule starts
# several nodes from this image, and known_hosts checks must see distinct hosts.
rm -f /etc/ssh/ssh_host_*
cat > /etc/systemd/system/ssh-hostkeys.service <<'UNIT'
[Unit]
Description=Generate SSH host keys (once per container)
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A
RemainAfterExit=yes

[Install]
RequiredBy=ssh.service
UNIT
systemctl enable ssh-hostkeys.service ssh.service >/dev/null 2>&1
# /run/sshd must exist for `sshd -t` outside the unit, too.
mkdir -p /run/sshd

# Identity is per container: systemd writes a fresh machine-id at boot, podman
# provides /etc/hostname, /etc/hosts and /etc/resolv.conf.
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id
ln -s /etc/machine-id /var/lib/dbus/machine-id

# No locales package: C.UTF-8 is built into glibc.
printf 'LANG=C.UTF-8\n' > /etc/default/locale
