# -*- coding: utf-8 -*-
# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""One HTTP request as the modules that ask vLLM make it (vllm_health, endpoint_check): every answer is a
status and a body, an HTTP error included, and no answer at all is a reason, never an exception."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import http.client
import urllib.error

from ansible.module_utils.common.text.converters import to_native
from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import open_url


def request(url, method='GET', headers=None, data=None, timeout=5, use_proxy=False, validate_certs=True,
            unix_socket=None, agent='hpc.vllm'):
    """Return ``(status, body, None)``, or ``(None, None, reason)`` when no HTTP answer came."""
    try:
        response = open_url(url, method=method, headers=headers, data=data, timeout=timeout,
                            validate_certs=validate_certs, use_proxy=use_proxy, unix_socket=unix_socket,
                            http_agent=agent, follow_redirects='safe')
        try:
            return response.getcode(), response.read(), None
        finally:
            response.close()
    except urllib.error.HTTPError as exc:
        try:
            body = exc.read()
        except Exception:  # pylint: disable=broad-exception-caught
            # the error body is only a courtesy, the status code is what counts
            body = b''
        return exc.code, body, None
    except urllib.error.URLError as exc:
        return None, None, '%s %s failed: %s' % (method, url, to_native(exc.reason))
    # OSError covers refused and reset connections and timeouts while reading the answer
    except (UrlsConnectionError, http.client.HTTPException, OSError) as exc:
        return None, None, '%s %s failed: %s' % (method, url, to_native(exc) or type(exc).__name__)
