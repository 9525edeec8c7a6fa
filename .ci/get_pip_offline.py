# Offline stand-in for ansible-test's get-pip bootstrap script, whose download host CI cannot reach.
# ansible-test runs it as `python get_pip.py [pip options] PACKAGES` inside a fresh venv.
import ensurepip
import os
import subprocess
import sys

ensurepip.bootstrap(upgrade=True)
# ensurepip points PIP_CONFIG_FILE at /dev/null, which would hide the machine's pip configuration
# (its mirror and CA bundle) from the install below.
os.environ.pop("PIP_CONFIG_FILE", None)
args = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "pip", "install", "--upgrade", "--force-reinstall"] + args)
