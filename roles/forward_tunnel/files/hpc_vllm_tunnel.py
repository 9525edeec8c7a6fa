# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Keep ``ssh -L 127.0.0.1:LOCAL:127.0.0.1:REMOTE`` up to the first login node that carries a working tunnel.

Usage: hpc_vllm_tunnel.py CONFIG.json   (written by the hpc.vllm.forward_tunnel role)

The laptop side of the double hop. The compute node keeps a reverse tunnel to every login node it
reaches; this keeper tries the login node candidates in order of preference:

- ssh runs with ExitOnForwardFailure and ServerAlive keepalives, so a login node that dies, or whose
  sshd is stopped with our session killed, ends ssh within seconds. The keeper then starts over from
  the most preferred candidate and moves down the list while they fail.
- A login node can be alive while the compute node's tunnel to it is not (rebooted login node, tunnel
  still backing off): ssh stays up but every connection through it fails. So the keeper also asks
  vLLM's /health through the tunnel every ``health_interval`` seconds, and after ``health_failures``
  failures in a row drops that login node for the next candidate.
- After a full round of failures it waits (1, 2, 4 ... ``max_backoff`` seconds) before the next round,
  so that a cluster that is down costs nothing but a line in the log now and then.

It runs under a supervisor (systemd, user systemd or supervise.sh), which restarts it should it die.
The configuration holds no secret: /health needs no API key.
"""

from __future__ import absolute_import, division, print_function

import json
import signal
import socket
import subprocess
import sys
import time

try:
    import http.client as http_client
except ImportError:  # pragma: no cover - Python 2 is not supported, this only keeps imports clean
    http_client = None

# A connection that lived this long, or passed a health check, worked: when it drops, start again from the
# first candidate, at once (a login node that fails right after a recovery must not wait out the backoff of
# the outage before it).
STABLE_AFTER = 30


def log(message):
    sys.stdout.write('%s %s\n' % (time.strftime('%Y-%m-%dT%H:%M:%S'), message))
    sys.stdout.flush()


def ssh_argv(config, candidate):
    """The ssh command line for one candidate: the role's options (``ssh_options``, the collection's one list,
    see its tunnel_ssh_options filter), none from ~/.ssh/config."""
    # The host keys of every login node behind this name are pinned under the name itself, so that
    # a round-robin alias is checked against its own nodes whatever address it resolves to.
    options = list(config['ssh_options']) + ['HostKeyAlias=%s' % candidate['host']]
    argv = [config.get('ssh', 'ssh'), '-n', '-T', '-F', 'none', '-i', config['identity']]
    for option in options:
        argv += ['-o', option]
    argv += ['-L', '127.0.0.1:%d:127.0.0.1:%d' % (config['local_port'], config['remote_port']),
             '-p', str(candidate.get('port', 22))]
    if candidate.get('user'):
        argv += ['-l', candidate['user']]
    argv.append(candidate['host'])
    return argv


def healthy(port, timeout):
    """Whether vLLM answers GET /health with 200 through the local end of the tunnel."""
    connection = http_client.HTTPConnection('127.0.0.1', port, timeout=timeout)
    try:
        connection.request('GET', '/health')
        return connection.getresponse().status == 200
    except (OSError, socket.timeout, http_client.HTTPException):
        return False
    finally:
        connection.close()


class Keeper(object):
    def __init__(self, config, popen=subprocess.Popen, clock=time.monotonic, sleep=time.sleep, probe=healthy):
        self.config = config
        self.candidates = config['candidates']
        self.popen, self.clock, self.sleep, self.probe = popen, clock, sleep, probe
        self.child = None
        self.stopping = False
        self.worked = False  # whether the current connection has passed a health check

    def stop(self, signum=None, frame=None):
        self.stopping = True
        if self.child is not None and self.child.poll() is None:
            self.child.terminate()

    def _pause(self, seconds, watch_child=False):
        """Sleep in short steps; return early when a stop is asked, or (watch_child) when ssh exits."""
        end = self.clock() + seconds
        while not self.stopping and self.clock() < end:
            if watch_child and self.child.poll() is not None:
                return
            self.sleep(min(0.5, max(0.0, end - self.clock())))

    def watch(self):
        """Run until ssh exits ('exited') or the far end fails its health checks ('unhealthy')."""
        interval = self.config['health_interval']
        failures = 0
        while not self.stopping:
            self._pause(interval, watch_child=True)
            if self.stopping or self.child.poll() is not None:
                return 'exited'
            if self.probe(self.config['local_port'], self.config['health_timeout']):
                failures = 0
                self.worked = True
                continue
            failures += 1
            log('health check %d/%d through %s failed'
                % (failures, self.config['health_failures'], self.current['host']))
            if failures >= self.config['health_failures']:
                self.child.terminate()
                try:
                    self.child.wait(10)
                except subprocess.TimeoutExpired:
                    self.child.kill()
                    self.child.wait()
                return 'unhealthy'
        return 'exited'

    def run(self):
        index, delay, failed_in_round = 0, 1, 0
        while not self.stopping:
            self.current = candidate = self.candidates[index]
            log('connecting to %s@%s:%s (candidate %d of %d) for 127.0.0.1:%d'
                % (candidate.get('user', ''), candidate['host'], candidate.get('port', 22), index + 1,
                   len(self.candidates), self.config['local_port']))
            started, self.worked = self.clock(), False
            self.child = self.popen(ssh_argv(self.config, candidate))
            outcome = self.watch()
            if self.child.poll() is None:
                self.child.wait()
            ran = self.clock() - started
            if self.stopping:
                break
            log('ssh to %s ended (%s, exit status %s) after %ds'
                % (candidate['host'], outcome, self.child.returncode, ran))
            if outcome == 'exited' and (ran >= STABLE_AFTER or self.worked):
                # It worked for a while: the most preferred login node may well be fine again.
                index, delay, failed_in_round = 0, 1, 0
                continue
            failed_in_round += 1
            index = (index + 1) % len(self.candidates)
            if index == 0:
                if failed_in_round >= len(self.candidates):
                    log('no candidate works; next round in %ds' % delay)
                    self._pause(delay)
                    delay = min(delay * 2, self.config['max_backoff'])
                failed_in_round = 0
        return 0


DEFAULTS = {'health_interval': 10, 'health_failures': 3, 'health_timeout': 5, 'max_backoff': 30}


def load(path):
    with open(path) as handle:
        config = json.load(handle)
    for key, value in DEFAULTS.items():
        config.setdefault(key, value)
    missing = [key for key in ('local_port', 'remote_port', 'identity', 'ssh_options', 'candidates')
               if not config.get(key)]
    if missing:
        raise SystemExit('%s lacks %s' % (path, ', '.join(missing)))
    return config


def main(argv):
    if len(argv) != 1:
        raise SystemExit('usage: hpc_vllm_tunnel.py CONFIG.json')
    keeper = Keeper(load(argv[0]))
    signal.signal(signal.SIGTERM, keeper.stop)
    signal.signal(signal.SIGINT, keeper.stop)
    return keeper.run()


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
