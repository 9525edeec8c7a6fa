# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""lab/bench/report.py: the benchmark report, from a result as lab/bench/bench.py writes it.

Only the plot test needs matplotlib (lab/benchmark installs it into a venv of its own); everything else runs
with the standard library, as the unit stage does.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy
import json
import os
import subprocess
import sys

import pytest

from ansible_collections.hpc.vllm.tests.unit.scripts import load_script

REPORT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', 'lab', 'bench', 'report.py')
PARTS = ('p1_latency', 'p2_throughput', 'p3_recovery', 'p4_deploy', 'p5_scaling')
PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'


report = load_script('hpc_vllm_bench_report', 'lab', 'bench', 'report.py')


def _series(label, base):
    samples = [base + 0.01 * i for i in range(100)]
    return {'label': label, 'samples_ms': samples, 'p50_ms': base + 0.5, 'p90_ms': base + 0.9, 'p99_ms': base + 0.99,
            'max_ms': samples[-1], 'mean_ms': base + 0.49}


SAMPLE = {
    'schema': 1, 'command': 'lab/benchmark', 'started': '2026-11-28T02:10:00Z', 'finished': '2026-11-28T03:12:30Z',
    'commit': '2eba7de', 'quick': False,
    'machine': {'cpu': 'Intel(R) Xeon(R) CPU @ 2.20GHz', 'cpus': 2, 'memory_gib': 23.4, 'kernel': '6.1.0',
                'os': 'Debian GNU/Linux 12 (bookworm)', 'podman': '4.3.1', 'openssh': 'OpenSSH_9.2p1',
                'vllm': '0.32.0', 'model': 'tiny-llama (random weights, ~427k parameters, float16)'},
    'p1_latency': {
        'path': '/v1/models', 'requests_per_round': 300, 'rounds': 3,
        'series': {'direct': _series('direct: on the compute node, 127.0.0.1:8000', 0.25),
                   'tunnel': _series("tunnel: the laptop's endpoint, through both hops", 0.66),
                   'plain_ssh': _series('plain ssh -N -R / -L (before the fix)', 44.0)},
        'delta_p50_ms': 0.41, 'delta_p99_ms': 0.41,
        'goals': {'delta_p50_ms': 1, 'delta_p99_ms': 3}, 'met': {'delta_p50_ms': True, 'delta_p99_ms': True}},
    'p2_throughput': {
        'tokens_per_stream': 256, 'rounds': 3,
        'levels': [{'streams': streams, 'direct_tok_s': direct, 'tunnel_tok_s': tunnel, 'ratio': tunnel / direct,
                    'direct_runs': [direct * 0.98, direct, direct * 1.01],
                    'tunnel_runs': [tunnel * 0.97, tunnel, tunnel * 1.02],
                    'direct_first_token_p50_s': first, 'tunnel_first_token_p50_s': first + 0.002,
                    'tunnel_ssh_cpu_s_per_1k_tokens': 0.042}
                   for streams, direct, tunnel, first in ((1, 310.0, 301.0, 0.011), (16, 2400.0, 2376.0, 0.05),
                                                          (64, 4100.0, 4018.0, 0.21))],
        'goal': {'streams': 64, 'ratio': 0.95}, 'met': True},
    'p3_recovery': {
        'source': 'build/lab/faults.json', 'present': True,
        'faults': [
            {'fault': '1. kill -9 of the compute node\'s ssh', 'expected': 'autossh starts a new ssh; endpoint back',
             'observed': 'new ssh pid [2329]', 'ok': True, 'seconds': 0.7, 'failed_requests': 1, 'requests': 3},
            {'fault': '3. sshd restart on the login node', 'expected': 'established sessions survive',
             'observed': '0 failed; tunnels unchanged', 'ok': True, 'seconds': 0.0, 'failed_requests': 0,
             'requests': 14},
            {'fault': '4. partition compute-a <-> bastion-a for 60 s', 'expected': 'back after the heal',
             'observed': 'answers again', 'ok': True, 'seconds': 51.8, 'failed_requests': 43, 'requests': 47},
            {'fault': '10. the login node\'s host key changes', 'expected': 'tunnels refuse the new key',
             'observed': "refused: 'Host key verification failed' | in the tunnel log", 'ok': True,
             'seconds': 0.6, 'failed_requests': 21, 'requests': 21}],
        'goals': [{'fault_prefix': '1.', 'seconds': 15, 'what': 'ssh kill'},
                  {'fault_prefix': '4.', 'seconds': 30, 'what': 'partition heal'},
                  {'fault_prefix': '3.', 'failed_requests': 0, 'what': 'sshd restart'},
                  {'fault_prefix': '7.', 'seconds': 60, 'what': 'bastion fallback'}]},
    'p4_deploy': {
        'clusters': 2,
        'cold': {'wall_s': 312.4, 'install_s': {'hpcv-compute-a': 180.2, 'hpcv-compute-b': 175.0},
                 'model_load_s': {'hpcv-compute-a': 75.9, 'hpcv-compute-b': 70.1}, 'critical_host': 'hpcv-compute-a',
                 'orchestration_s': 56.3},
        'noop': {'wall_s': 14.1, 'changed': 0}, 'status': {'wall_s': 6.3},
        'goals': {'orchestration_s': 60, 'noop_wall_s': 20, 'status_wall_s': 10},
        'met': {'orchestration_s': True, 'noop_wall_s': True, 'status_wall_s': True}},
    'p5_scaling': {
        'runs': [{'clusters': 1, 'cold_wall_s': 200.0, 'noop_wall_s': 12.0},
                 {'clusters': 2, 'cold_wall_s': 312.4, 'noop_wall_s': 14.1},
                 {'clusters': 4, 'cold_wall_s': 460.0, 'noop_wall_s': 15.6}],
        'ratio_cold': 2.3, 'ratio_noop': 1.3, 'goal': 1.5, 'met': {'cold': False, 'noop': True}},
}


@pytest.fixture
def result():
    """A fresh copy of SAMPLE to change."""
    return copy.deepcopy(SAMPLE)


@pytest.fixture
def run(tmp_path, capsys):
    """Write a result, run report.py's main on it; return (exit code, benchmarks.md or None, stderr)."""
    def run_report(data, *options):
        source, outdir = tmp_path / 'result.json', tmp_path / 'out'
        source.write_text(json.dumps(data))
        code = report.main([str(source), str(outdir)] + list(options))
        markdown = outdir / 'benchmarks.md'
        return code, markdown.read_text() if markdown.exists() else None, capsys.readouterr().err
    return run_report


def _rows(markdown, heading):
    """The cells of the table rows below a heading, up to the next heading."""
    section = markdown.split('\n## %s\n' % heading, 1)[1].split('\n## ', 1)[0]
    return [[cell.strip() for cell in line.strip().strip('|').split(' | ')]
            for line in section.splitlines() if line.startswith('| ') and not line.startswith('|---')]


def test_goals_and_their_verdicts(run, result):
    code, markdown, dummy = run(result, '--no-plots')
    assert code == 0
    rows = _rows(markdown, 'Goals')
    assert rows[0] == ['part', 'goal', 'measured', 'verdict']
    assert rows[1:] == [
        ['P1 latency', 'tunnel p50 ≤ direct + 1 ms', '+0.41 ms (direct 0.75, tunnel 1.16)', 'met'],
        ['P1 latency', 'tunnel p99 ≤ direct + 3 ms', '+0.41 ms (direct 1.24, tunnel 1.65)', 'met'],
        ['P2 throughput', 'tunnel tok/s ≥ 0.95 × direct at 64 streams',
         '0.980 (direct 4100.0 tok/s, tunnel 4018.0 tok/s)', 'met'],
        ['P3 recovery', 'ssh kill (fault 1): back within 15 s', '0.7 s, 1 / 3 requests failed', 'met'],
        ['P3 recovery', 'partition heal (fault 4): back within 30 s', '51.8 s, 43 / 47 requests failed',
         '**missed**'],
        ['P3 recovery', 'sshd restart (fault 3): no failed request', '0.0 s, 0 / 14 requests failed', 'met'],
        ['P3 recovery', 'bastion fallback (fault 7): back within 60 s', 'fault 7 not in build/lab/faults.json',
         'not measured'],
        ['P4 deploy', 'orchestration ≤ 60 s (cold deploy less install and model load)',
         '56.3 s (cold deploy 312.4 s)', 'met'],
        ['P4 deploy', 'no-op deploy ≤ 20 s', '14.1 s, 0 changed', 'met'],
        ['P4 deploy', 'status.yml ≤ 10 s', '6.3 s', 'met'],
        ['P5 scaling', 'cold deploy of 4 clusters ≤ 1.5 × that of 1', '2.30 × (1: 200.0 s, 4: 460.0 s)', '**missed**'],
        ['P5 scaling', 'no-op deploy of 4 clusters ≤ 1.5 × that of 1', '1.30 × (1: 12.0 s, 4: 15.6 s)', 'met'],
    ]


def test_missed_goals_follow_the_result(run, result):
    result['p1_latency'].update(delta_p99_ms=4.2, met={'delta_p50_ms': True, 'delta_p99_ms': False})
    result['p4_deploy']['met']['status_wall_s'] = False
    verdicts = {(row[0], row[1]): row[3] for row in _rows(run(result, '--no-plots')[1], 'Goals')[1:]}
    assert verdicts[('P1 latency', 'tunnel p50 ≤ direct + 1 ms')] == 'met'
    assert verdicts[('P1 latency', 'tunnel p99 ≤ direct + 3 ms')] == '**missed**'
    assert verdicts[('P4 deploy', 'status.yml ≤ 10 s')] == '**missed**'


def test_header_and_machine(run, result):
    markdown = run(result, '--no-plots')[1]
    assert markdown.startswith('# hpc.vllm benchmarks')
    assert 'Regenerate with `lab/benchmark`.' in markdown
    assert 'Commit `2eba7de`, started 2026-11-28 02:10 UTC, took 1 h 02 min.' in markdown
    assert 'Quick run' not in markdown
    machine = _rows(markdown, 'Machine')
    assert ['CPU', 'Intel(R) Xeon(R) CPU @ 2.20GHz (2 CPUs)'] in machine
    assert ['OS', 'Debian GNU/Linux 12 (bookworm), kernel 6.1.0'] in machine
    assert ['vLLM', '0.32.0'] in machine


def test_p1_table(run, result):
    rows = _rows(run(result, '--no-plots')[1], 'P1 latency')
    assert rows == [
        ['series', 'p50', 'p90', 'p99', 'max', 'mean', 'requests'],
        ['direct: on the compute node, 127.0.0.1:8000', '0.75', '1.15', '1.24', '1.24', '0.74', '100'],
        ["tunnel: the laptop's endpoint, through both hops", '1.16', '1.56', '1.65', '1.65', '1.15', '100'],
        ['plain ssh -N -R / -L (before the fix)', '44.50', '44.90', '44.99', '44.99', '44.49', '100'],
        ['tunnel − direct', '+0.41', '', '+0.41', '', '', ''],
    ]


def test_p2_p4_p5_tables(run, result):
    markdown = run(result, '--no-plots')[1]
    assert ['64', '4100.0', '4018.0', '0.980', '0.210', '0.212', '0.042'] in _rows(markdown, 'P2 throughput')
    p4 = _rows(markdown, 'P4 deploy')
    assert ['install on hpcv-compute-a (slowest)', '180.2', '', ''] in p4
    assert ['model load on hpcv-compute-b', '70.1', '', ''] in p4
    assert ['no-op deploy.yml (0 changed)', '14.1', '≤ 20', 'met'] in p4
    p5 = _rows(markdown, 'P5 scaling')
    assert ['4', '460.0', '15.6'] in p5
    assert ['4 / 1 clusters, goal ≤ 1.5', '2.30 × **missed**', '1.30 × met'] in p5


def test_p3_faults(run, result):
    rows = _rows(run(result, '--no-plots')[1], 'P3 recovery')
    # a pipe inside a value is escaped, so that the row keeps its columns
    assert ['10. the login node\'s host key changes', 'tunnels refuse the new key',
            "refused: 'Host key verification failed' \\| in the tunnel log", 'yes', '0.6', '21 / 21'] in rows
    assert ['ssh kill (fault 1): back within 15 s', '0.7 s, 1 / 3 requests failed', 'met'] in rows


def test_p3_fault_that_did_not_recover_misses(run, result):
    result['p3_recovery']['faults'][0].update(ok=False, observed='still down', seconds=None)
    markdown = run(result, '--no-plots')[1]
    assert ['P3 recovery', 'ssh kill (fault 1): back within 15 s', '1 / 3 requests failed, not as expected: still down',
            '**missed**'] in _rows(markdown, 'Goals')
    assert '**no**' in markdown


def test_p3_fault_without_the_figure_is_not_measured(run, result):
    result['p3_recovery']['faults'][1].update(failed_requests=None, requests=None)
    result['p3_recovery']['goals'][2]['failed_requests'] = 5
    assert ['P3 recovery', 'sshd restart (fault 3): at most 5 failed requests', '0.0 s',
            'not measured'] in _rows(run(result, '--no-plots')[1], 'Goals')


def test_p3_fault_suite_not_run(run, result):
    result['p3_recovery'].update(present=False, faults=[])
    markdown = run(result, '--no-plots')[1]
    assert 'Fault suite not run: there was no `build/lab/faults.json`' in markdown
    p3 = [row for row in _rows(markdown, 'Goals') if row[0] == 'P3 recovery']
    assert len(p3) == 4
    assert all(row[2:] == ['fault suite not run', 'not measured'] for row in p3)


@pytest.mark.parametrize('part', PARTS)
def test_a_part_left_out(run, result, part):
    del result[part]
    code, markdown, dummy = run(result, '--no-plots')
    assert code == 0
    title = report.TITLES[part]
    section = markdown.split('\n## %s\n' % title, 1)[1].split('\n## ', 1)[0]
    assert section.strip() == 'This part was not measured in this run.'
    assert [title, 'all goals of this part', 'not measured in this run', 'not measured'] in _rows(markdown, 'Goals')
    assert sum('not measured in this run' in line for line in markdown.splitlines()) == 2


def test_quick_run_without_the_goal_level(run, result):
    result['quick'] = True
    result['p2_throughput']['levels'] = result['p2_throughput']['levels'][:2]
    result['p2_throughput']['met'] = False  # bench.py: no 64-stream level, no goal met
    markdown = run(result, '--no-plots')[1]
    assert '**Quick run**' in markdown
    assert ['P2 throughput', 'tunnel tok/s ≥ 0.95 × direct at 64 streams', 'no run with 64 streams',
            'not measured'] in _rows(markdown, 'Goals')


def test_tunnel_cpu_is_optional(run, result):
    for level in result['p2_throughput']['levels']:
        del level['tunnel_ssh_cpu_s_per_1k_tokens']
    rows = _rows(run(result, '--no-plots')[1], 'P2 throughput')
    assert rows[0][-1] == 'first token p50, tunnel (s)'
    assert rows[-1] == ['64', '4100.0', '4018.0', '0.980', '0.210', '0.212']


def test_plain_ssh_series_is_optional(run, result):
    del result['p1_latency']['series']['plain_ssh']
    code, markdown, dummy = run(result, '--no-plots')
    assert code == 0
    assert 'plain ssh' not in markdown


@pytest.mark.parametrize('change, message', [
    (lambda r: r['p1_latency']['series']['direct'].pop('p99_ms'), 'p1_latency.series.direct.p99_ms is missing'),
    (lambda r: r.pop('machine'), 'machine is missing'),
    (lambda r: r['machine'].pop('cpus'), 'machine.cpus is missing'),
    (lambda r: r['p2_throughput']['levels'][1].update(ratio='fast'),
     'p2_throughput.levels[1].ratio should be a number, not a string'),
    (lambda r: r['p4_deploy']['cold']['install_s'].update({'hpcv-compute-a': None}),
     'p4_deploy.cold.install_s.hpcv-compute-a should be a number, not null'),
    (lambda r: r['p5_scaling']['met'].update(cold=1), 'p5_scaling.met.cold should be true or false, not an integer'),
    (lambda r: r['p1_latency'].update(rounds=True), 'p1_latency.rounds should be an integer, not true or false'),
    (lambda r: r.update(p3_recovery=[]), 'p3_recovery should be an object, not a list'),
    (lambda r: r['p5_scaling'].update(runs=[]), 'p5_scaling.runs is empty'),
    (lambda r: r['p3_recovery']['goals'][3].pop('what'), 'p3_recovery.goals[3].what is missing'),
    (lambda r: r.update(schema=2), 'schema is 2; this report reads schema 1'),
    (lambda r: r.update(started='yesterday'), 'started should be a time like 2026-11-28T02:10:00Z'),
])
def test_malformed_result(run, result, tmp_path, change, message):
    change(result)
    code, markdown, stderr = run(result)
    assert code == 2
    assert message in stderr
    assert markdown is None


def test_malformed_result_exit_code(tmp_path, result):
    """As a command: exit status 2 and the key on stderr, before any plot (so without matplotlib too)."""
    del result['p1_latency']['series']['direct']['p99_ms']
    source = tmp_path / 'result.json'
    source.write_text(json.dumps(result))
    process = subprocess.run([sys.executable, REPORT, str(source), str(tmp_path / 'out')], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, universal_newlines=True, timeout=60, check=False)
    assert process.returncode == 2
    assert process.stderr == 'report.py: %s: p1_latency.series.direct.p99_ms is missing\n' % source
    assert not (tmp_path / 'out').exists()


def test_not_json(tmp_path, capsys):
    source = tmp_path / 'result.json'
    source.write_text('{"schema": 1,')
    assert report.main([str(source), str(tmp_path / 'out')]) == 2
    assert 'not readable as JSON' in capsys.readouterr().err


def test_no_plots_needs_no_matplotlib_and_links_only_existing_plots(run, result, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, 'matplotlib', None)  # any import of matplotlib now fails
    markdown = run(result, '--no-plots')[1]
    assert '.png' not in markdown
    (tmp_path / 'out' / 'latency_cdf.png').write_bytes(PNG_SIGNATURE)
    markdown = run(result, '--no-plots')[1]
    assert '](latency_cdf.png)' in markdown
    assert 'throughput.png' not in markdown
    del result['p1_latency']  # a plot left from an earlier run is not linked to a part this run left out
    assert '.png' not in run(result, '--no-plots')[1]


def test_plots(run, result, tmp_path):
    code, markdown, dummy = run(result)
    assert code == 0
    for name in ('latency_cdf.png', 'throughput.png'):
        with open(str(tmp_path / 'out' / name), 'rb') as handle:
            assert handle.read(8) == PNG_SIGNATURE
        assert '](%s)' % name in markdown
