# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Every role's defaults/main.yml, meta/argument_specs.yml and README.md agree with each other."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import numbers
import os

import pytest

from ansible_collections.hpc.vllm.tests.unit.scripts import load_script


role_docs = load_script('hpc_vllm_role_docs', 'tests', 'role_docs.py')
ROLES = role_docs.find_roles()


def _options(specs):
    """Yield (entry point, option name, option) for every option of every entry point."""
    for entry_point, spec in specs.items():
        for name, option in ((spec or {}).get('options') or {}).items():
            yield entry_point, name, option or {}


def _kind(value):
    if isinstance(value, bool):
        return 'bool'
    if isinstance(value, numbers.Number):
        return 'number'
    return type(value).__name__


def _same(a, b):
    """Equal as YAML values: 0.90 equals 0.9 and 1 equals 1.0, but true never equals 1."""
    if _kind(a) != _kind(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return set(a) == set(b) and all(_same(a[k], b[k]) for k in a)
    return a == b


def _has_jinja(value):
    if isinstance(value, str):
        return '{{' in value
    if isinstance(value, list):
        return any(_has_jinja(item) for item in value)
    if isinstance(value, dict):
        return any(_has_jinja(item) for item in value.values())
    return False


@pytest.fixture(params=ROLES, ids=[os.path.basename(role) for role in ROLES])
def role(request):
    role_dir = request.param
    name = os.path.basename(role_dir)
    assert os.path.exists(os.path.join(role_dir, 'meta', 'argument_specs.yml')), (
        'role %s has no meta/argument_specs.yml' % name)
    specs, defaults = role_docs.load_role(role_dir)
    assert specs, 'role %s: meta/argument_specs.yml has no argument_specs' % name
    return name, role_dir, specs, defaults


@pytest.mark.parametrize('same, a, b', [
    (True, 0.90, 0.9),
    (True, 1, 1.0),
    (True, [], []),
    (True, {'a': [1]}, {'a': [1.0]}),
    (False, True, 1),
    (False, '8000', 8000),
    (False, [], {}),
    (False, None, ''),
])
def test_same(same, a, b):
    assert _same(a, b) is same


def test_defaults_are_in_the_spec(role):
    name, dummy, specs, defaults = role
    options = set(option for dummy, option, dummy2 in _options(specs))
    unknown = sorted(set(defaults) - options)
    assert not unknown, 'role %s: defaults/main.yml sets %s, which no entry point of meta/argument_specs.yml declares' % (
        name, ', '.join(unknown))


def test_every_option_is_required_or_defaulted(role):
    # Per entry point, exactly one of: the spec requires the option, or defaults/main.yml gives it a value.
    # Neither leaves the role with an undefined variable; both make "required" a dead letter, because
    # argument validation reads role defaults too.
    name, dummy, specs, defaults = role
    problems = []
    for entry_point, option, spec in _options(specs):
        required = bool(spec.get('required'))
        if not required and option not in defaults:
            problems.append('%s (entry point %s) is neither required nor set in defaults/main.yml' % (option, entry_point))
        if required and option in defaults:
            problems.append('%s (entry point %s) is required, yet defaults/main.yml sets it' % (option, entry_point))
    assert not problems, 'role %s: %s' % (name, '; '.join(problems))


def test_spec_defaults_match_role_defaults(role):
    name, dummy, specs, defaults = role
    problems = []
    for entry_point, option, spec in _options(specs):
        if 'default' not in spec:
            continue
        if option not in defaults:
            problems.append('%s (entry point %s) has default %r in the spec but none in defaults/main.yml'
                            % (option, entry_point, spec['default']))
        elif not _same(spec['default'], defaults[option]):
            problems.append('%s (entry point %s) has default %r in the spec but %r in defaults/main.yml'
                            % (option, entry_point, spec['default'], defaults[option]))
    assert not problems, 'role %s: %s' % (name, '; '.join(problems))


def test_spec_defaults_are_not_templates(role):
    # ansible-core 2.19 templates spec defaults during argument validation, before the role has
    # gathered facts: an expression there fails. Expressions belong in defaults/main.yml only.
    name, dummy, specs, dummy2 = role
    templated = ['%s (entry point %s): %r' % (option, entry_point, spec['default'])
                 for entry_point, option, spec in _options(specs) if 'default' in spec and _has_jinja(spec['default'])]
    assert not templated, 'role %s: meta/argument_specs.yml has Jinja in default: %s; move it to defaults/main.yml' % (
        name, '; '.join(templated))


def test_readme_table_is_current(role):
    name, role_dir, dummy, dummy2 = role
    readme = os.path.join(role_dir, 'README.md')
    assert os.path.exists(readme), 'role %s has no README.md' % name
    with open(readme, encoding='utf-8') as f:
        table = role_docs.readme_table(f.read())
    assert table is not None, 'role %s: README.md lacks the markers %s and %s' % (name, role_docs.BEGIN, role_docs.END)
    assert table == role_docs.render(role_dir), (
        'role %s: the variable table in README.md differs from meta/argument_specs.yml and defaults/main.yml; '
        'run python tests/role_docs.py --write' % name)


def test_entry_points_that_share_options_are_rendered_once(tmp_path):
    (tmp_path / 'meta').mkdir()
    option = {'x_port': {'type': 'int', 'default': 1, 'description': 'A port.'}}
    (tmp_path / 'meta' / 'argument_specs.yml').write_text(
        '---\nargument_specs:\n'
        '  main: {short_description: Main, options: %s}\n'
        '  validate: {short_description: Check, options: %s}\n'
        '  remove: {short_description: Remove, options: {}}\n' % (option, option))
    rendered = role_docs.render(str(tmp_path))
    assert rendered.count('| `x_port` |') == 1
    assert '**`validate`**: Check\n\nThe same variables as `main`.' in rendered
    assert '**`remove`**: Remove\n\nNo options.' in rendered
