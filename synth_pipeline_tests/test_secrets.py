"""An API key reaches the provider and nothing else: not logs, metadata, DuckDB or reports."""

from __future__ import annotations

import logging

import pytest

from synth_pipeline.defs.runner import materialize_version
from synth_pipeline_tests.conftest import SMALL_INTENTS
from synth_pipeline_tests.fake_openai_server import FakeOpenAIServer

SECRET = "sk-test-9f8e7d6c5b4a-DO-NOT-LEAK"


@pytest.fixture
def server():
    srv = FakeOpenAIServer()
    srv.start()
    yield srv
    srv.stop()


def test_api_key_never_leaves_the_request(project, instance, server, monkeypatch, caplog, capfd):
    monkeypatch.setenv("SYNTH_TEST_PROVIDER_KEY", SECRET)
    project.add_dataset(
        "support_intents",
        **{**SMALL_INTENTS, "provider": {}},
    )
    project.update_spec(
        "support_intents",
        provider={
            "kind": "openai_compatible",
            "base_url": server.base_url,
            "model": "fake-model",
            "api_key_env": "SYNTH_TEST_PROVIDER_KEY",
            "timeout_seconds": 5.0,
        },
    )
    caplog.set_level(logging.DEBUG)
    run = materialize_version(project.definitions(), "support_intents", "v1", instance=instance)
    assert "candidates" in run.materialized, run.errors

    # The key was really used...
    assert any(SECRET in (a or "") for a in server.authorizations)
    # ...and is nowhere else.
    for path in project.root.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    for record in instance.all_logs(run.run_id):
        assert SECRET not in str(record), record.message
    assert SECRET not in caplog.text
    out, err = capfd.readouterr()
    assert SECRET not in out and SECRET not in err
