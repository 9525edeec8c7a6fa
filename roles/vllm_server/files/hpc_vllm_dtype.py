# Managed by the hpc.vllm collection (role vllm_server); local changes are overwritten.
#
# Chooses vLLM's dtype on the node where vLLM starts, then runs vLLM:
#
#   python hpc_vllm_dtype.py VLLM_ARGV...
#
# A Slurm deployment learns its node only when the job starts, so "--dtype auto" cannot be resolved
# when Ansible writes the service. This applies the collection's rule (hpc_vllm_nvidia_smi.py, the same
# code as the gpu_info module's) to the GPUs the job was given: float16 when any of them is below SM 8.0
# or does not say, else auto. Every other argument is passed on unchanged.
import os
import subprocess
import sys

import hpc_vllm_nvidia_smi as smi


def gpus():
    """The GPUs this process may use (nvidia-smi honours CUDA_VISIBLE_DEVICES); [] when none answer."""
    for fields in (smi.QUERY_FIELDS, smi.FALLBACK_QUERY_FIELDS):
        try:
            done = subprocess.run(smi.query_argv('nvidia-smi', fields), capture_output=True, text=True, timeout=60,
                                  check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            print('hpc-vllm: nvidia-smi did not answer (%s)' % exc, flush=True)
            return []
        if done.returncode == 0:
            return smi.parse_query_output(done.stdout, fields)
        if not smi.is_compute_cap_rejected(done.stdout + done.stderr):
            print('hpc-vllm: nvidia-smi failed (rc %d): %s' % (done.returncode, (done.stderr or done.stdout).strip()),
                  flush=True)
            return []
    return []


def main(argv):
    if '--dtype' not in argv[:-1]:
        sys.exit('hpc_vllm_dtype.py: no --dtype in the command line %r' % (argv, ))
    at = argv.index('--dtype') + 1
    if argv[at] == 'auto':
        found = gpus()
        # with no GPU known, float16: it runs everywhere, while bfloat16 stops vLLM before Ampere
        argv[at] = smi.auto_dtype(found) if found else 'float16'
        print('hpc-vllm: dtype %s for %s' % (argv[at], ', '.join(
            '%s (SM %s)' % (gpu['name'], gpu['compute_capability'] or 'unknown') for gpu in found) or 'no GPU seen'),
            flush=True)
    os.execv(argv[0], argv)


if __name__ == '__main__':
    main(sys.argv[1:])
