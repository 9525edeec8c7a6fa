# -*- coding: utf-8 -*-
# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Decide from the answers of a vLLM OpenAI-compatible server whether it serves a model, without any I/O."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json


HEALTH_PATH = '/health'
MODELS_PATH = '/v1/models'


def base_url(url):
    """Return the server root of ``url``.

    Users copy the OpenAI client's ``base_url`` (``http://127.0.0.1:8000/v1``), while ``/health`` lives
    at the root, so a trailing ``/v1`` is dropped.
    """
    url = url.rstrip('/')
    if url.endswith('/v1'):
        url = url[:-len('/v1')]
    return url


def parse_models(body):
    """Parse the body of ``GET /v1/models``.

    Return a list of ``{'id': str, 'max_model_len': int or None}``, in the server's order.
    Raise ValueError with a short reason when the body is not JSON or not a model list.
    """
    if isinstance(body, bytes):
        try:
            body = body.decode('utf-8')
        except UnicodeDecodeError:
            raise ValueError('invalid JSON from %s' % MODELS_PATH)
    try:
        document = json.loads(body)
    except ValueError:
        raise ValueError('invalid JSON from %s' % MODELS_PATH)
    data = document.get('data') if isinstance(document, dict) else None
    if not isinstance(data, list):
        raise ValueError("unexpected body from %s: no 'data' list" % MODELS_PATH)
    models = []
    for entry in data:
        if not isinstance(entry, dict) or not isinstance(entry.get('id'), str):
            raise ValueError("unexpected body from %s: an entry of 'data' has no 'id'" % MODELS_PATH)
        max_model_len = entry.get('max_model_len')
        # bool is an int in Python; a JSON true is no context length.
        if not isinstance(max_model_len, int) or isinstance(max_model_len, bool):
            max_model_len = None
        models.append({'id': entry['id'], 'max_model_len': max_model_len})
    return models


def model_ids(models):
    """Return the ids of ``models`` as returned by parse_models()."""
    return [entry['id'] for entry in models]


def max_model_len(models, model):
    """Return the ``max_model_len`` that the server announces for ``model``, or None."""
    for entry in models:
        if entry['id'] == model:
            return entry['max_model_len']
    return None


def evaluate(health_status, models_status, models_body, model):
    """Decide whether the server is ready to serve ``model``.

    ``health_status`` is the HTTP status of ``GET /health``; ``models_status`` and ``models_body`` are
    those of ``GET /v1/models`` (None when it was not asked, because /health was not 200).
    Return ``(ready, reason)``.
    """
    if health_status != 200:
        return False, '%s answered %s' % (HEALTH_PATH, health_status)
    if models_status in (401, 403):
        return False, '%s answered %d: API key rejected or missing' % (MODELS_PATH, models_status)
    if models_status != 200:
        return False, '%s answered %s' % (MODELS_PATH, models_status)
    try:
        models = parse_models(models_body)
    except ValueError as exc:
        return False, str(exc)
    served = model_ids(models)
    if model not in served:
        return False, 'model %r not served; served: [%s]' % (model, ', '.join(served))
    return True, 'model %r served' % (model, )
