"""Turn a benchmark result (the JSON of lab/bench/bench.py) into a Markdown report and two plots.

Usage: python lab/bench/report.py RESULT.json OUTDIR [--no-plots]

Writes OUTDIR/benchmarks.md, OUTDIR/latency_cdf.png (P1) and OUTDIR/throughput.png (P2). The report is
for an HPC user who decides whether the tunnel is good enough: a table of goals with their verdicts first,
then one section per part. A part the run left out is reported as not measured, never as missed.
--no-plots draws nothing and needs no matplotlib; the report then links the plots already in OUTDIR.
A malformed result (a key missing, a value of the wrong type) exits with 2 and names the key.
"""

import argparse
import datetime
import json
import os
import sys

NUMBER = (int, float)
OPTIONAL_NUMBER = (int, float, type(None))
OPTIONAL_INT = (int, type(None))
SERIES = {'label': str, 'samples_ms': [NUMBER, ...], 'p50_ms': NUMBER, 'p90_ms': NUMBER, 'p99_ms': NUMBER,
          'max_ms': NUMBER, 'mean_ms': NUMBER}
# What a result must hold. A dict is an object with these keys (a key ending in '?' may be absent), {str: X}
# an object of any keys whose values are X, [X] a list of X, [X, ...] a list of one or more X (the report
# takes the first and the last of it, or plots it), a type or tuple of types the value itself.
TOP = {'schema': int, 'command': str, 'started': str, 'finished': str, 'commit': str, 'quick': bool,
       'machine': {'cpu': str, 'cpus': int, 'memory_gib': NUMBER, 'kernel': str, 'os': str, 'podman': str,
                   'openssh': str, 'vllm': str, 'model': str}}
PARTS = {
    'p1_latency': {
        'path': str, 'requests_per_round': int, 'rounds': int,
        'series': {'direct': SERIES, 'tunnel': SERIES, 'plain_ssh?': SERIES},
        'delta_p50_ms': NUMBER, 'delta_p99_ms': NUMBER,
        'goals': {'delta_p50_ms': NUMBER, 'delta_p99_ms': NUMBER},
        'met': {'delta_p50_ms': bool, 'delta_p99_ms': bool}},
    'p2_throughput': {
        'tokens_per_stream': int, 'rounds': int,
        'levels': [{'streams': int, 'direct_tok_s': NUMBER, 'tunnel_tok_s': NUMBER, 'ratio': NUMBER,
                    'direct_runs': [NUMBER, ...], 'tunnel_runs': [NUMBER, ...],
                    'direct_first_token_p50_s': NUMBER, 'tunnel_first_token_p50_s': NUMBER,
                    'tunnel_ssh_cpu_s_per_1k_tokens?': NUMBER}, ...],
        'goal': {'streams': int, 'ratio': NUMBER}, 'met': bool},
    'p3_recovery': {
        'source': str, 'present': bool,
        'faults': [{'fault': str, 'expected': str, 'observed': str, 'ok': bool, 'seconds': OPTIONAL_NUMBER,
                    'failed_requests': OPTIONAL_INT, 'requests': OPTIONAL_INT}],
        'goals': [{'fault_prefix': str, 'what': str, 'seconds?': NUMBER, 'failed_requests?': int}]},
    'p4_deploy': {
        'clusters': int,
        'cold': {'wall_s': NUMBER, 'install_s': {str: NUMBER}, 'model_load_s': {str: NUMBER},
                 'critical_host': str, 'orchestration_s': NUMBER},
        'noop': {'wall_s': NUMBER, 'changed': int}, 'status': {'wall_s': NUMBER},
        'goals': {'orchestration_s': NUMBER, 'noop_wall_s': NUMBER, 'status_wall_s': NUMBER},
        'met': {'orchestration_s': bool, 'noop_wall_s': bool, 'status_wall_s': bool}},
    'p5_scaling': {
        'runs': [{'clusters': int, 'cold_wall_s': NUMBER, 'noop_wall_s': NUMBER}, ...],
        'ratio_cold': NUMBER, 'ratio_noop': NUMBER, 'goal': NUMBER, 'met': {'cold': bool, 'noop': bool}},
}
TITLES = {'p1_latency': 'P1 latency', 'p2_throughput': 'P2 throughput', 'p3_recovery': 'P3 recovery',
          'p4_deploy': 'P4 deploy', 'p5_scaling': 'P5 scaling'}
TYPE_NAMES = {str: 'a string', int: 'an integer', float: 'a number', bool: 'true or false', type(None): 'null',
              dict: 'an object', list: 'a list'}
SCHEMA = 1
LATENCY_PNG, THROUGHPUT_PNG = 'latency_cdf.png', 'throughput.png'
# the series of P1 in the order of its table and legend, each in the same colour in both plots
SERIES_COLORS = {'direct': 'tab:blue', 'tunnel': 'tab:orange', 'plain_ssh': 'tab:gray'}
NOT_MEASURED = 'not measured'
NOT_IN_RUN = 'This part was not measured in this run.'


class MalformedResult(Exception):
    """A result that does not have the shape of TOP and PARTS; the message names the key."""


# ---------------------------------------------------------------------------------------------- reading
def check(value, shape, where):
    """Raise MalformedResult naming the first key of value (at path where) that does not fit shape."""
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            raise MalformedResult('%s should be an object, not %s' % (where or 'the result', type_name(value)))
        if list(shape) == [str]:
            for key, item in value.items():
                check(item, shape[str], join(where, key))
            return
        for key, item_shape in shape.items():
            name = key.rstrip('?')
            if name in value:
                check(value[name], item_shape, join(where, name))
            elif not key.endswith('?'):
                raise MalformedResult('%s is missing' % join(where, name))
    elif isinstance(shape, list):
        if not isinstance(value, list):
            raise MalformedResult('%s should be a list, not %s' % (where, type_name(value)))
        if not value and shape[-1] is Ellipsis:
            raise MalformedResult('%s is empty' % where)
        for index, item in enumerate(value):
            check(item, shape[0], '%s[%d]' % (where, index))
    else:
        types = shape if isinstance(shape, tuple) else (shape,)
        # JSON true is no number, though bool is a subclass of int in Python
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise MalformedResult('%s should be %s, not %s' % (where, types_name(types), type_name(value)))


def join(where, key):
    return '%s.%s' % (where, key) if where else key


def type_name(value):
    return TYPE_NAMES.get(type(value), type(value).__name__)


def types_name(types):
    """'a number or null' for (int, float, None): an int is a number too, no need to name it."""
    return ' or '.join(TYPE_NAMES[t] for t in types if not (t is int and float in types))


def load(path):
    """The result in path, checked against TOP and the PARTS it holds, so that rendering never meets a hole."""
    try:
        with open(path, encoding='utf-8') as handle:
            result = json.load(handle)
    except (OSError, ValueError) as error:
        raise MalformedResult('not readable as JSON: %s' % error)
    check(result, dict(TOP, **{key + '?': shape for key, shape in PARTS.items()}), '')
    if result['schema'] != SCHEMA:
        raise MalformedResult('schema is %r; this report reads schema %d' % (result['schema'], SCHEMA))
    for key in ('started', 'finished'):
        try:
            timestamp(result[key])
        except ValueError:
            raise MalformedResult('%s should be a time like 2026-11-28T02:10:00Z, not %r' % (key, result[key]))
    return result


def timestamp(text):
    """An ISO 8601 time as bench.py writes it (UTC, with Z), timezone-aware so that differences work."""
    moment = datetime.datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.timezone.utc)


# ---------------------------------------------------------------------------------------------- formatting
def cell(value):
    """A table cell: a pipe or a line break in a value (fault texts have both at times) would break the row."""
    return str(value).replace('|', '\\|').replace('\n', ' ')


def table(header, rows):
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    lines += ['| ' + ' | '.join(cell(value) for value in row) + ' |' for row in rows]
    return lines


def verdict(met):
    """met, or a missed goal in bold: the one word a reader scans the tables for."""
    return 'met' if met else '**missed**'


def number(value):
    """A goal's threshold as it was set: 3, not 3.00; 0.95, not 0.950."""
    return '%g' % value


def plural(count, word):
    return '%d %s%s' % (count, word, '' if count == 1 else 's')


def seconds(value):
    return '%.1f s' % value


def duration(total):
    """A run's length for a person: 1 h 02 min, 12 min 05 s, 45 s."""
    total = int(round(total))
    if total >= 3600:
        return '%d h %02d min' % (total // 3600, total % 3600 // 60)
    if total >= 60:
        return '%d min %02d s' % (total // 60, total % 60)
    return '%d s' % total


def machine_short(machine):
    """The machine in a few words, for plot titles: a figure copied out of the report still says where."""
    return '%d CPUs, %g GiB, podman lab containers' % (machine['cpus'], machine['memory_gib'])


# ---------------------------------------------------------------------------------------------- goals
def p1_goals(part):
    series = part['series']
    rows = []
    for quantile in ('p50', 'p99'):
        delta, name = 'delta_%s_ms' % quantile, quantile + '_ms'
        rows.append(('tunnel %s ≤ direct + %s ms' % (quantile, number(part['goals'][delta])),
                     '%+.2f ms (direct %.2f, tunnel %.2f)' % (part[delta], series['direct'][name], series['tunnel'][name]),
                     verdict(part['met'][delta])))
    return rows


def p2_level(part):
    """The level the goal is about (64 streams), or None in a run without it (a quick run stops at 16)."""
    return next((level for level in part['levels'] if level['streams'] == part['goal']['streams']), None)


def p2_goals(part):
    goal = part['goal']
    text = 'tunnel tok/s ≥ %s × direct at %d streams' % (number(goal['ratio']), goal['streams'])
    level = p2_level(part)
    if level is None:
        return [(text, 'no run with %d streams' % goal['streams'], NOT_MEASURED)]
    return [(text, '%.3f (direct %.1f tok/s, tunnel %.1f tok/s)' % (
        level['ratio'], level['direct_tok_s'], level['tunnel_tok_s']), verdict(part['met']))]


def p3_fault(part, goal):
    """The fault a goal is about: the entry whose name starts with its prefix ('1.' is not '10.')."""
    return next((fault for fault in part['faults'] if fault['fault'].startswith(goal['fault_prefix'])), None)


def p3_goal_text(goal):
    limits = []
    if 'seconds' in goal:
        limits.append('back within %s s' % number(goal['seconds']))
    if 'failed_requests' in goal:
        limit = goal['failed_requests']
        limits.append('no failed request' if limit == 0 else 'at most %d failed requests' % limit)
    return '%s (fault %s): %s' % (goal['what'], goal['fault_prefix'].rstrip('.'), ', '.join(limits))


def p3_verdict(fault, goal):
    """The fault suite records figures, not verdicts against these goals: they are judged here. A fault that
    did not recover as expected misses every goal; one without the figures a goal limits was not measured."""
    limited = [key for key in ('seconds', 'failed_requests') if key in goal]
    if fault is None or (fault['ok'] and any(fault[key] is None for key in limited)):
        return NOT_MEASURED
    return verdict(fault['ok'] and all(fault[key] <= goal[key] for key in limited))


def p3_measured(fault):
    figures = [] if fault['seconds'] is None else [seconds(fault['seconds'])]
    if fault['requests'] is not None:
        figures.append('%s / %d requests failed' % (fault['failed_requests'], fault['requests']))
    if not fault['ok']:
        figures.append('not as expected: %s' % fault['observed'])
    return ', '.join(figures) or fault['observed']


def p3_goals(part):
    rows = []
    for goal in part['goals']:
        fault = p3_fault(part, goal)
        if not part['present']:
            measured = 'fault suite not run'
        elif fault is None:
            measured = 'fault %s not in %s' % (goal['fault_prefix'].rstrip('.'), part['source'])
        else:
            measured = p3_measured(fault)
        rows.append((p3_goal_text(goal), measured, p3_verdict(fault, goal)))
    return rows


def p4_goals(part):
    goals, met, cold = part['goals'], part['met'], part['cold']
    return [
        ('orchestration ≤ %s s (cold deploy less install and model load)' % number(goals['orchestration_s']),
         '%s (cold deploy %s)' % (seconds(cold['orchestration_s']), seconds(cold['wall_s'])),
         verdict(met['orchestration_s'])),
        ('no-op deploy ≤ %s s' % number(goals['noop_wall_s']),
         '%s, %d changed' % (seconds(part['noop']['wall_s']), part['noop']['changed']), verdict(met['noop_wall_s'])),
        ('status.yml ≤ %s s' % number(goals['status_wall_s']), seconds(part['status']['wall_s']),
         verdict(met['status_wall_s'])),
    ]


def p5_goals(part):
    first, last = part['runs'][0], part['runs'][-1]
    rows = []
    for kind, name in (('cold', 'cold deploy'), ('noop', 'no-op deploy')):
        rows.append(('%s of %d clusters ≤ %s × that of %d' % (name, last['clusters'], number(part['goal']),
                                                              first['clusters']),
                     '%.2f × (%d: %s, %d: %s)' % (part['ratio_' + kind], first['clusters'],
                                                  seconds(first[kind + '_wall_s']), last['clusters'],
                                                  seconds(last[kind + '_wall_s'])),
                     verdict(part['met'][kind])))
    return rows


GOALS = {'p1_latency': p1_goals, 'p2_throughput': p2_goals, 'p3_recovery': p3_goals, 'p4_deploy': p4_goals,
         'p5_scaling': p5_goals}


def goals_section(result):
    rows = []
    for key, title in TITLES.items():
        if key in result:
            rows += [(title,) + row for row in GOALS[key](result[key])]
        else:
            rows.append((title, 'all goals of this part', 'not measured in this run', NOT_MEASURED))
    return ['## Goals', ''] + table(('part', 'goal', 'measured', 'verdict'), rows)


# ---------------------------------------------------------------------------------------------- sections
def header(result):
    started, finished = timestamp(result['started']), timestamp(result['finished'])
    utc = started.astimezone(datetime.timezone.utc)
    lines = ['# hpc.vllm benchmarks: the SSH tunnel next to a direct connection', '',
             'Latency and streaming throughput through the double-hop tunnel against a direct connection on the '
             'compute node, recovery from faults, and deploy times, on the lab. Regenerate with `%s`.'
             % result['command'], '',
             'Commit `%s`, started %s, took %s.' % (result['commit'], utc.strftime('%Y-%m-%d %H:%M UTC'),
                                                    duration((finished - started).total_seconds()))]
    if result['quick']:
        lines += ['', '**Quick run** (fewer rounds, requests and levels): a smoke test, not figures to quote.']
    machine = result['machine']
    lines += ['', '## Machine', ''] + table(('', 'this run'), [
        ('CPU', '%s (%d CPUs)' % (machine['cpu'], machine['cpus'])),
        ('memory', '%g GiB' % machine['memory_gib']),
        ('OS', '%s, kernel %s' % (machine['os'], machine['kernel'])),
        ('podman', machine['podman']),
        ('OpenSSH', machine['openssh']),
        ('vLLM', machine['vllm']),
        ('model', machine['model'])])
    return lines


def p1_section(part):
    columns = ('p50_ms', 'p90_ms', 'p99_ms', 'max_ms', 'mean_ms')
    rows = [[series['label']] + ['%.2f' % series[key] for key in columns] + [len(series['samples_ms'])]
            for series in (part['series'][name] for name in SERIES_COLORS if name in part['series'])]
    rows.append(['tunnel − direct', '%+.2f' % part['delta_p50_ms'], '', '%+.2f' % part['delta_p99_ms'], '', '', ''])
    return (['GET `%s` on one keep-alive connection: %d requests per round, %s per series, rounds '
             'interleaved so that every series sees the same machine. Milliseconds:'
             % (part['path'], part['requests_per_round'], plural(part['rounds'], 'round')), '']
            + table(('series', 'p50', 'p90', 'p99', 'max', 'mean', 'requests'), rows))


def p2_section(part):
    columns = ['streams', 'direct tok/s', 'tunnel tok/s', 'tunnel / direct', 'first token p50, direct (s)',
               'first token p50, tunnel (s)']
    rows = [[level['streams'], '%.1f' % level['direct_tok_s'], '%.1f' % level['tunnel_tok_s'],
             '%.3f' % level['ratio'], '%.3f' % level['direct_first_token_p50_s'],
             '%.3f' % level['tunnel_first_token_p50_s']] for level in part['levels']]
    # the CPU the ssh processes of the tunnel spent: on the lab they share the CPUs with vLLM itself
    cpu = 'tunnel_ssh_cpu_s_per_1k_tokens'
    if any(cpu in level for level in part['levels']):
        columns.append('tunnel ssh CPU s per 1k tokens')
        for row, level in zip(rows, part['levels']):
            row.append('%.3f' % level[cpu] if cpu in level else '')
    return (['Streamed completions of %d tokens each, that many streams at once; tokens/s of all streams together, '
             'median of %s.' % (part['tokens_per_stream'], plural(part['rounds'], 'round')), '']
            + table(columns, rows))


def p3_section(part):
    if not part['present']:
        return ['Fault suite not run: there was no `%s` (`python -m pytest tests/lab/test_faults.py -s` writes it).'
                % part['source']]
    rows = [(fault['fault'], fault['expected'], fault['observed'], 'yes' if fault['ok'] else '**no**',
             '' if fault['seconds'] is None else '%.1f' % fault['seconds'],
             '' if fault['requests'] is None else '%s / %d' % (fault['failed_requests'], fault['requests']))
            for fault in part['faults']]
    return (['From the fault suite\'s report `%s`. Seconds: from the fault (the heal, for a partition) until the '
             'endpoint answers again, or until it fails closed.' % part['source'], '']
            + table(('fault', 'expected', 'observed', 'as expected', 'seconds', 'failed / sent requests'), rows)
            + ['', 'Goals:', ''] + table(('goal', 'measured', 'verdict'), p3_goals(part)))


def p4_section(part):
    cold, goals, met = part['cold'], part['goals'], part['met']
    rows = [('cold deploy.yml, after a teardown with `vllm_purge`', '%.1f' % cold['wall_s'], '', '')]
    for host in sorted(set(cold['install_s']) | set(cold['model_load_s'])):
        slowest = ' (slowest)' if host == cold['critical_host'] else ''
        for what, times in (('install', cold['install_s']), ('model load', cold['model_load_s'])):
            rows.append(('%s on %s%s' % (what, host, slowest), '%.1f' % times[host] if host in times else '', '', ''))
    rows += [('orchestration: cold wall less the slowest node\'s install and model load',
              '%.1f' % cold['orchestration_s'], '≤ %s' % number(goals['orchestration_s']),
              verdict(met['orchestration_s'])),
             ('no-op deploy.yml (%d changed)' % part['noop']['changed'], '%.1f' % part['noop']['wall_s'],
              '≤ %s' % number(goals['noop_wall_s']), verdict(met['noop_wall_s'])),
             ('status.yml', '%.1f' % part['status']['wall_s'], '≤ %s' % number(goals['status_wall_s']),
              verdict(met['status_wall_s']))]
    return (['deploy.yml and status.yml on %d clusters; wall times as a user sees them, ansible-playbook from start '
             'to exit. The compute nodes install and load the model in parallel: what is left of the cold deploy '
             'once the slowest of them is taken out is orchestration.' % part['clusters'], '']
            + table(('step', 'seconds', 'goal', 'verdict'), rows))


def p5_section(part):
    first, last = part['runs'][0], part['runs'][-1]
    rows = [(run['clusters'], '%.1f' % run['cold_wall_s'], '%.1f' % run['noop_wall_s']) for run in part['runs']]
    rows.append(('%d / %d clusters, goal ≤ %s' % (last['clusters'], first['clusters'], number(part['goal'])),
                 '%.2f × %s' % (part['ratio_cold'], verdict(part['met']['cold'])),
                 '%.2f × %s' % (part['ratio_noop'], verdict(part['met']['noop']))))
    return (['Cold and no-op deploy.yml for more clusters at once (wall seconds): with the clusters deployed in '
             'parallel, the time should grow far slower than their number.', '']
            + table(('clusters', 'cold deploy (s)', 'no-op deploy (s)'), rows))


SECTIONS = {'p1_latency': p1_section, 'p2_throughput': p2_section, 'p3_recovery': p3_section,
            'p4_deploy': p4_section, 'p5_scaling': p5_section}
PLOT_LINKS = {'p1_latency': (LATENCY_PNG, 'P1: distribution of request latency per series'),
              'p2_throughput': (THROUGHPUT_PNG, 'P2: tokens/s against concurrent streams')}


def render(result, images):
    """The report as Markdown; images: the names of the plots in the report's directory that it may link."""
    lines = header(result) + [''] + goals_section(result)
    for key, title in TITLES.items():
        lines += ['', '## ' + title, '']
        if key not in result:
            lines.append(NOT_IN_RUN)
            continue
        lines += SECTIONS[key](result[key])
        name, alt = PLOT_LINKS.get(key, (None, None))
        if name in images:
            lines += ['', '![%s](%s)' % (alt, name)]
    return '\n'.join(lines) + '\n'


# ---------------------------------------------------------------------------------------------- plots
def pyplot():
    """pyplot on the Agg backend, imported here only: the unit tests and --no-plots run without matplotlib."""
    try:
        import matplotlib
    except ImportError:
        raise SystemExit('report.py: the plots need matplotlib (lab/benchmark installs it); or pass --no-plots')
    matplotlib.use('Agg')
    from matplotlib import pyplot as plt
    return plt


def plot_latency(part, machine, path):
    """Empirical CDF per series on a log axis: the tail (p99, dotted) is what a slow tunnel shows first."""
    plt = pyplot()
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
    figure, axes = plt.subplots(figsize=(8, 5), dpi=110)
    for name, color in SERIES_COLORS.items():
        if name not in part['series']:
            continue
        series = part['series'][name]
        samples = sorted(series['samples_ms'])
        fractions = [(index + 1) / len(samples) for index in range(len(samples))]
        axes.step(samples, fractions, where='post', color=color, linewidth=1.8,
                  label='%s (p99 %.2f ms)' % (series['label'], series['p99_ms']))
        axes.axvline(series['p99_ms'], color=color, linestyle=':', linewidth=1.5)
    axes.set_xscale('log')
    # 0.5, 1, 2, 3, 5 ms rather than 10^0: labels for people; the minor ticks stay unlabelled at any range
    axes.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 3.0, 5.0)))
    axes.xaxis.set_major_formatter(FuncFormatter(lambda value, position: '%g' % value))
    axes.xaxis.set_minor_formatter(NullFormatter())
    axes.set_ylim(0, 1.02)
    axes.set_xlabel('milliseconds per request (log scale); dotted: p99')
    axes.set_ylabel('fraction of requests this fast or faster')
    axes.set_title('GET %s latency, %d requests per series\n(%s)' % (
        part['path'], part['requests_per_round'] * part['rounds'], machine_short(machine)))
    axes.grid(True, which='major', alpha=0.3)
    axes.legend(loc='lower right', fontsize=9)
    save(plt, figure, path)


def plot_throughput(part, machine, path):
    """tokens/s against concurrent streams, each tunnel point labelled with its share of direct."""
    plt = pyplot()
    from matplotlib.ticker import NullLocator
    figure, axes = plt.subplots(figsize=(8, 5), dpi=110)
    streams = [level['streams'] for level in part['levels']]
    for side, marker, label in (('direct', 'o', 'direct (on the compute node)'),
                                ('tunnel', 's', 'tunnel (the laptop, through both hops)')):
        color = SERIES_COLORS[side]
        axes.plot(streams, [level[side + '_tok_s'] for level in part['levels']], marker=marker, markersize=7,
                  color=color, linewidth=1.8, label=label + ': median; dots: each round')
        for level in part['levels']:  # every round, faint: how much the median hides
            axes.scatter([level['streams']] * len(level[side + '_runs']), level[side + '_runs'], s=14,
                         color=color, alpha=0.35)
    for level in part['levels']:
        axes.annotate('%.3f × direct' % level['ratio'], (level['streams'], level['tunnel_tok_s']),
                      textcoords='offset points', xytext=(9, -15), fontsize=9, color=SERIES_COLORS['tunnel'])
    axes.set_xscale('log', base=2)
    axes.set_xticks(streams)
    axes.set_xticklabels([str(count) for count in streams])
    axes.xaxis.set_minor_locator(NullLocator())
    axes.set_xlim(min(streams) / 1.5, max(streams) * 2.5)  # room for the last label
    axes.set_ylim(bottom=0)
    axes.set_xlabel('concurrent streams (log 2 scale)')
    axes.set_ylabel('tokens/s, all streams together')
    axes.set_title('Streamed completions, %d tokens per stream, median of %s\n(%s)' % (
        part['tokens_per_stream'], plural(part['rounds'], 'round'), machine_short(machine)))
    axes.grid(True, alpha=0.3)
    axes.legend(loc='upper left', fontsize=9)
    save(plt, figure, path)


def save(plt, figure, path):
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


PLOTS = {'p1_latency': plot_latency, 'p2_throughput': plot_throughput}


def write_plots(result, outdir):
    """Draw the plots of the parts in the result; return the names written."""
    written = set()
    for key, plot in PLOTS.items():
        if key in result:
            name = PLOT_LINKS[key][0]
            plot(result[key], result['machine'], os.path.join(outdir, name))
            written.add(name)
    return written


# ---------------------------------------------------------------------------------------------- main
def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', 1)[0])
    parser.add_argument('result', help='the JSON that lab/bench/bench.py wrote')
    parser.add_argument('outdir', help='where benchmarks.md and the plots go')
    parser.add_argument('--no-plots', action='store_true',
                        help='draw nothing (no matplotlib needed); link the plots already in OUTDIR')
    args = parser.parse_args(argv)
    try:
        result = load(args.result)
    except MalformedResult as error:
        print('report.py: %s: %s' % (args.result, error), file=sys.stderr)
        return 2
    os.makedirs(args.outdir, exist_ok=True)
    if args.no_plots:
        # a stale plot of a part this run left out is not linked: that part's section has no image
        images = {name for name in (LATENCY_PNG, THROUGHPUT_PNG) if os.path.isfile(os.path.join(args.outdir, name))}
    else:
        images = write_plots(result, args.outdir)
    with open(os.path.join(args.outdir, 'benchmarks.md'), 'w', encoding='utf-8') as handle:
        handle.write(render(result, images))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
