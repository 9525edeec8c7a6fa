# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Keep the variable table in each role's README.md equal to its meta/argument_specs.yml.

    python tests/role_docs.py --write   rewrite the tables in place
    python tests/role_docs.py --check   exit 1 and print a diff when a README is out of date

The table sits between the BEGIN and END markers below. Its default column takes the spec's
``default``, else the value in defaults/main.yml (Jinja expressions shown as written), else
``(required)``. tests/unit/test_role_docs.py imports this file to check the READMEs.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import argparse
import difflib
import json
import os
import re
import sys

import yaml

BEGIN = '<!-- BEGIN ARGUMENT SPEC TABLE -->'
END = '<!-- END ARGUMENT SPEC TABLE -->'
ROLES_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'roles')
COLUMNS = ('variable', 'type', 'default', 'choices', 'description')


def load_yaml(path):
    """Return the data of a YAML file; an empty or missing file gives an empty dict."""
    if not os.path.exists(path):
        return {}
    with open(path, encoding='utf-8') as f:
        return yaml.safe_load(f) or {}


def load_role(role_dir):
    """Return (entry points of meta/argument_specs.yml, dict of defaults/main.yml) for a role."""
    specs = load_yaml(os.path.join(role_dir, 'meta', 'argument_specs.yml')).get('argument_specs') or {}
    defaults = load_yaml(os.path.join(role_dir, 'defaults', 'main.yml'))
    return specs, defaults


def find_roles(roles_dir=ROLES_DIR):
    """Return the role directories under roles_dir, sorted by name."""
    return sorted(os.path.join(roles_dir, name) for name in os.listdir(roles_dir)
                  if os.path.isdir(os.path.join(roles_dir, name)))


def doc_markup(text):
    """Turn Ansible doc markup into Markdown: C(x) into `x`, I(x) into *x*."""
    text = re.sub(r'C\(([^)]*)\)', r'`\1`', text)
    return re.sub(r'I\(([^)]*)\)', r'*\1*', text)


def one_line(text):
    return ' '.join(str(text).split())


def cell(text):
    """Escape a table cell: a bare pipe would end it, even inside a code span."""
    return text.replace('|', '\\|')


def format_value(value):
    """Show a default inline: a Jinja expression as written, anything else as JSON."""
    if isinstance(value, str) and '{{' in value:
        return '`%s`' % one_line(value)
    return '`%s`' % json.dumps(value, sort_keys=True)


def format_default(name, option, defaults):
    if 'default' in option:
        return format_value(option['default'])
    if name in defaults:
        return format_value(defaults[name])
    if option.get('required'):
        return '(required)'
    return ''


def format_type(option):
    kind = option.get('type', 'str')
    if option.get('elements'):
        return '%s of %s' % (kind, option['elements'])
    return kind


def format_description(option):
    description = option.get('description', '')
    if isinstance(description, list):
        description = ' '.join(str(paragraph) for paragraph in description)
    return doc_markup(one_line(description))


def render_entry_point(options, defaults):
    """Return the Markdown table of one entry point's options, in the order of the spec."""
    lines = ['| %s |' % ' | '.join(COLUMNS), '|%s' % ('---|' * len(COLUMNS))]
    for name, option in options.items():
        option = option or {}
        row = (
            '`%s`' % name,
            format_type(option),
            format_default(name, option, defaults),
            ', '.join('`%s`' % (choice if isinstance(choice, str) else json.dumps(choice))
                      for choice in option.get('choices') or []),
            format_description(option),
        )
        lines.append('| %s |' % ' | '.join(cell(text) for text in row))
    return '\n'.join(lines)


def render(role_dir):
    """Return what belongs between the markers of the role's README: one table per entry point."""
    specs, defaults = load_role(role_dir)
    if list(specs) == ['main']:
        return render_entry_point(specs['main'].get('options') or {}, defaults)
    parts = []
    shown = []  # (entry point, options) already rendered: an entry point that shares them says so
    for entry_point, spec in specs.items():
        options = spec.get('options') or {}
        parts.append('**`%s`**: %s' % (entry_point, doc_markup(one_line(spec.get('short_description', '')))))
        same = next((name for name, seen in shown if options and seen == options), None)
        if same:
            parts.append('The same variables as `%s`.' % same)
        else:
            parts.append(render_entry_point(options, defaults) if options else 'No options.')
            shown.append((entry_point, options))
    return '\n\n'.join(parts)


def split_readme(text):
    """Return (before, table, after) around the markers, or None when the markers are missing."""
    start = text.find(BEGIN)
    end = text.find(END)
    if start < 0 or end < start:
        return None
    return text[:start + len(BEGIN)], text[start + len(BEGIN):end], text[end:]


def readme_table(text):
    """Return the table between the markers of a README text, or None without markers."""
    parts = split_readme(text)
    return None if parts is None else parts[1].strip('\n')


def updated_readme(text, table):
    """Return the README text with the table between the markers replaced, or None without markers."""
    parts = split_readme(text)
    if parts is None:
        return None
    return '%s\n%s\n%s' % (parts[0], table, parts[2])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument('--write', action='store_true', help='rewrite the tables in place')
    mode.add_argument('--check', action='store_true', help='exit 1 and print a diff when a README is out of date')
    args = parser.parse_args(argv)

    status = 0
    for role_dir in find_roles():
        readme = os.path.join(role_dir, 'README.md')
        if not os.path.exists(readme):
            print('%s: missing; it needs the markers %s and %s' % (readme, BEGIN, END), file=sys.stderr)
            status = 1
            continue
        with open(readme, encoding='utf-8') as f:
            old = f.read()
        new = updated_readme(old, render(role_dir))
        if new is None:
            print('%s: the markers %s and %s are missing' % (readme, BEGIN, END), file=sys.stderr)
            status = 1
        elif new != old:
            if args.write:
                with open(readme, 'w', encoding='utf-8') as f:
                    f.write(new)
                print('rewrote %s' % readme)
            else:
                sys.stdout.writelines(difflib.unified_diff(
                    old.splitlines(True), new.splitlines(True), readme, readme + ' (from the argument spec)'))
                status = 1
    return status


if __name__ == '__main__':
    sys.exit(main())
