# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Each node's checks run in order on one pytest-xdist worker (molecule runs ``-n N --dist loadgroup``):
one check kills that node's vLLM and waits for it to come back, which another check of the same node
running at the same time would see as an outage. Different nodes run side by side."""

import pytest


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(items):
    for item in items:
        host = getattr(item, "callspec", None) and item.callspec.params.get("_testinfra_host")
        if host is not None:
            item.add_marker(pytest.mark.xdist_group(host.backend.get_pytest_id()))
