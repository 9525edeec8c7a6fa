# shellcheck shell=bash
# Sourced by lab/demo and tests/run: prepares the lab and this shell's controller environment.
# Builds (or reuses) the lab and the controller venv, exports the lab's paths (HPC_VLLM_IMAGE,
# HPC_VLLM_WHEELHOUSE, HPC_VLLM_MODEL), puts the venv first on PATH, and lets Ansible find this
# checkout as the collection hpc.vllm through build/collections.
# Expects REPO (the checkout) to be set.
"$REPO/lab/build"
set -a
# shellcheck source=/dev/null
. "${HPC_VLLM_CACHE:-/var/cache/hpc-vllm}/lab.env"
set +a
HPC_VLLM_VENV=$("$REPO/lab/controller-venv")
export PATH=$HPC_VLLM_VENV/bin:$PATH
mkdir -p "$REPO/build/collections/ansible_collections/hpc"
ln -sfn "$REPO" "$REPO/build/collections/ansible_collections/hpc/vllm"
export ANSIBLE_COLLECTIONS_PATH=$REPO/build/collections
# The lab's API key: a 0600 file passed to Ansible with -e @file, never on a command line.
if [[ ! -s $REPO/build/lab/secrets.yml ]]; then
    mkdir -p "$REPO/build/lab"
    (umask 077 && python3 -c 'import secrets; print("vllm_api_key: " + secrets.token_urlsafe(32))' >"$REPO/build/lab/secrets.yml")
fi
