# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""With pytest-xdist (molecule runs the checks with ``-n``), each node's checks run in order on one
worker: one check kills that node's vLLM and waits for it to come back, which another check of the
same node at the same time would see as an outage. Different nodes run side by side.

A scheduler of our own rather than ``--dist loadgroup``: that one marks groups by rewriting a test's
node id, which pytest 9 no longer lets it do, so every test became its own group."""

import pytest

try:
    from xdist.scheduler import LoadScopeScheduling
except ImportError:  # without xdist the checks simply run one after the other
    LoadScopeScheduling = None

if LoadScopeScheduling is not None:
    class PerNodeScheduling(LoadScopeScheduling):
        """One scope per node: testinfra puts the node into every test id, ``test_x[ansible://NODE]``."""

        def _split_scope(self, nodeid):
            return nodeid.rsplit("[", 1)[-1] if nodeid.endswith("]") else nodeid

    @pytest.hookimpl(optionalhook=True)  # xdist installed but not loaded (-p no:xdist)
    def pytest_xdist_make_scheduler(config, log):
        return PerNodeScheduling(config, log)
