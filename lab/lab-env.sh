# shellcheck shell=bash
# Sourced after lab/controller-env.sh where the lab is needed (lab/demo, lab/benchmark and the lab
# stages of tests/run): builds (or reuses) the lab as root (lab/build: podman, node image, wheelhouse,
# site vLLM venv, model), exports its paths (HPC_VLLM_IMAGE, HPC_VLLM_WHEELHOUSE, HPC_VLLM_SITE_VENV,
# HPC_VLLM_MODEL) and makes the lab's API key file.
# Expects REPO (the checkout) to be set.
"$REPO/lab/build" || return 1
set -a
# shellcheck source=/dev/null
. "${HPC_VLLM_CACHE:-/var/cache/hpc-vllm}/lab.env"
set +a
# The lab's API key: a 0600 file passed to Ansible with -e @file, never on a command line.
if [[ ! -s $REPO/build/lab/secrets.yml ]]; then
    mkdir -p "$REPO/build/lab"
    (umask 077 && python3 -c 'import secrets; print("vllm_api_key: " + secrets.token_urlsafe(32))' >"$REPO/build/lab/secrets.yml")
fi
