# shellcheck shell=bash
# Sourced by tests/run, lab/demo and lab/benchmark: this shell's controller environment, nothing more.
# Makes (or reuses) the controller venv, puts it first on PATH, and lets Ansible find this checkout as
# the collection hpc.vllm through build/collections. Needs no root, no podman and no lab: the unit,
# sanity and lint stages run on this alone. The lab itself is lab/lab-env.sh.
# Expects REPO (the checkout) to be set.
HPC_VLLM_VENV=$("$REPO/lab/controller-venv")
export PATH=$HPC_VLLM_VENV/bin:$PATH
mkdir -p "$REPO/build/collections/ansible_collections/hpc"
ln -sfn "$REPO" "$REPO/build/collections/ansible_collections/hpc/vllm"
export ANSIBLE_COLLECTIONS_PATH=$REPO/build/collections
