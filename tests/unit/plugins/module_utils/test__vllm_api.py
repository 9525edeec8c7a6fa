# Copyright (c) 2026, hpc.vllm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type


import json

import pytest

from ansible_collections.hpc.vllm.plugins.module_utils._vllm_api import (
    base_url,
    evaluate,
    max_model_len,
    model_ids,
    parse_models,
)


def _models_body(*entries):
    """A /v1/models answer as vLLM writes it."""
    data = []
    for model_id, length in entries:
        entry = {
            'id': model_id,
            'object': 'model',
            'created': 1764252000,
            'owned_by': 'vllm',
            'root': '/models/%s' % model_id,
            'parent': None,
            'permission': [{'id': 'modelperm-1', 'object': 'model_permission', 'allow_sampling': True}],
        }
        if length is not None:
            entry['max_model_len'] = length
        data.append(entry)
    return json.dumps({'object': 'list', 'data': data})


@pytest.mark.parametrize('url, expected', [
    ('http://127.0.0.1:8000', 'http://127.0.0.1:8000'),
    ('http://127.0.0.1:8000/', 'http://127.0.0.1:8000'),
    ('http://127.0.0.1:18000/v1', 'http://127.0.0.1:18000'),
    ('http://127.0.0.1:18000/v1/', 'http://127.0.0.1:18000'),
    ('https://gpu.example.org/vllm', 'https://gpu.example.org/vllm'),
    ('https://gpu.example.org/vllm/v1', 'https://gpu.example.org/vllm'),
    ('http://127.0.0.1:8000/v10', 'http://127.0.0.1:8000/v10'),
])
def test_base_url(url, expected):
    assert base_url(url) == expected


PARSE_SUCCESS = [
    (
        _models_body(('my-model', 8192)),
        [{'id': 'my-model', 'max_model_len': 8192}],
    ),
    (
        _models_body(('a', 4096), ('b', None)),
        [{'id': 'a', 'max_model_len': 4096}, {'id': 'b', 'max_model_len': None}],
    ),
    (
        _models_body(('my-model', 8192)).encode('utf-8'),
        [{'id': 'my-model', 'max_model_len': 8192}],
    ),
    (
        '{"object": "list", "data": []}',
        [],
    ),
    (
        '{"data": [{"id": "m", "max_model_len": true}, {"id": "n", "max_model_len": "8192"}]}',
        [{'id': 'm', 'max_model_len': None}, {'id': 'n', 'max_model_len': None}],
    ),
]


@pytest.mark.parametrize('body, expected', PARSE_SUCCESS)
def test_parse_models(body, expected):
    assert parse_models(body) == expected


PARSE_FAILURE = [
    ('', 'invalid JSON from /v1/models'),
    ('<html>Bad Gateway</html>', 'invalid JSON from /v1/models'),
    (b'\xff\xfe', 'invalid JSON from /v1/models'),
    ('[]', "unexpected body from /v1/models: no 'data' list"),
    ('{"object": "list"}', "unexpected body from /v1/models: no 'data' list"),
    ('{"data": {"id": "m"}}', "unexpected body from /v1/models: no 'data' list"),
    ('{"data": ["m"]}', "unexpected body from /v1/models: an entry of 'data' has no 'id'"),
    ('{"data": [{"name": "m"}]}', "unexpected body from /v1/models: an entry of 'data' has no 'id'"),
]


@pytest.mark.parametrize('body, message', PARSE_FAILURE)
def test_parse_models_fails(body, message):
    with pytest.raises(ValueError) as exc:
        parse_models(body)
    assert str(exc.value) == message


def test_model_ids_and_max_model_len():
    models = parse_models(_models_body(('a', 4096), ('b', 32768)))
    assert model_ids(models) == ['a', 'b']
    assert max_model_len(models, 'b') == 32768
    assert max_model_len(models, 'c') is None


EVALUATE_READY = [
    (200, 200, _models_body(('my-model', 8192)), 'my-model'),
    (200, 200, _models_body(('other', 8192), ('my-model', None)), 'my-model'),
    (200, 200, _models_body(('my-model', 8192)).encode('utf-8'), 'my-model'),
]


@pytest.mark.parametrize('health_status, models_status, models_body, model', EVALUATE_READY)
def test_evaluate_ready(health_status, models_status, models_body, model):
    assert evaluate(health_status, models_status, models_body, model) == (True, "model 'my-model' served")


EVALUATE_NOT_READY = [
    (503, None, None, 'm', '/health answered 503'),
    (500, None, None, 'm', '/health answered 500'),
    (404, None, None, 'm', '/health answered 404'),
    (200, 401, '{"error": "Unauthorized"}', 'm', '/v1/models answered 401: API key rejected or missing'),
    (200, 403, '', 'm', '/v1/models answered 403: API key rejected or missing'),
    (200, 404, '', 'm', '/v1/models answered 404'),
    (200, 502, '', 'm', '/v1/models answered 502'),
    (200, 200, 'not json', 'm', 'invalid JSON from /v1/models'),
    (200, 200, '{"object": "list"}', 'm', "unexpected body from /v1/models: no 'data' list"),
    (200, 200, _models_body(('a', 1), ('b', 2)), 'x', "model 'x' not served; served: [a, b]"),
    (200, 200, _models_body(), 'x', "model 'x' not served; served: []"),
    # a served name is matched exactly
    (200, 200, _models_body(('My-Model', 1)), 'my-model', "model 'my-model' not served; served: [My-Model]"),
]


@pytest.mark.parametrize('health_status, models_status, models_body, model, reason', EVALUATE_NOT_READY)
def test_evaluate_not_ready(health_status, models_status, models_body, model, reason):
    assert evaluate(health_status, models_status, models_body, model) == (False, reason)
