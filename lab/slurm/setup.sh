#!/bin/sh
# Runs as root inside the Slurm node image while lab/build builds it (see Containerfile).
set -eu
: "${MIRROR:?MIRROR must name the Debian mirror}"
here=/tmp/hpc-vllm-slurm

# the node image may know only the suite's main component from its own build: name the mirror for apt
printf 'Types: deb\nURIs: %s\nSuites: bookworm\nComponents: main\n' "${MIRROR}" > /etc/apt/sources.list.d/hpc-vllm-lab.sources
rm -f /etc/apt/sources.list /etc/apt/sources.list.d/debian.sources
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends slurmd slurmctld slurm-client munge libpam-slurm-adopt
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt/* /var/log/dpkg.log

install -m 0644 "${here}/slurm.conf" "${here}/gres.conf" /etc/slurm/
install -d -o slurm -g slurm -m 0755 /var/spool/slurmctld /var/spool/slurmd /var/log/slurm

# which daemon runs where: the login node is the container named hpcv-slurm-login
for unit in slurmctld slurmd; do
    mkdir -p "/etc/systemd/system/${unit}.service.d"
done
printf '[Unit]\nConditionHost=hpcv-slurm-login\n' > /etc/systemd/system/slurmctld.service.d/hpc-vllm-lab.conf
printf '[Unit]\nConditionHost=!hpcv-slurm-login\n' > /etc/systemd/system/slurmd.service.d/hpc-vllm-lab.conf
systemctl enable --quiet munge slurmctld slurmd

# pam_slurm_adopt on the compute nodes only, as on real clusters: ssh to a node where the user holds no
# job is refused ("you have no active jobs on this node"). A oneshot at boot adds it there.
cat > /etc/systemd/system/hpc-vllm-slurm-adopt.service <<'UNIT'
[Unit]
Description=Refuse ssh without a job on this compute node (pam_slurm_adopt)
ConditionHost=!hpcv-slurm-login
Before=ssh.service

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'grep -q pam_slurm_adopt /etc/pam.d/sshd || echo "account required /lib/security/pam_slurm_adopt.so" >> /etc/pam.d/sshd'
RemainAfterExit=yes

[Install]
WantedBy=multi-user.target
UNIT
systemctl enable --quiet hpc-vllm-slurm-adopt.service
