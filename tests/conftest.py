"""Shared test set-up: fake credentials before any boto3 client exists, and the repo's paths."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from tests.paths import ROOT
from tests.support import fast_moto
from tests.support.botocore_models import share_parsed_models
from tests.support.clock import NOW

from eksguard import clock

# The template's IAM against every AWS call the functions make in these tests (tests/support/permissions_check.py).
pytest_plugins = ["tests.support.permissions_check"]

# Set at import, before any test module creates a client: a client made earlier would escape moto.
for key, value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "ap-northeast-2",
    "AWS_REGION": "ap-northeast-2",
    "POWERTOOLS_TRACE_DISABLED": "true",
}.items():
    os.environ[key] = value
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("AWS_PROFILE", None)
share_parsed_models()
fast_moto.install()


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture(autouse=True)
def frozen_clock() -> Iterator[datetime]:
    """eksguard's clock stands still at tests.support.clock.NOW for every in-process test."""
    with clock.frozen(NOW) as at:
        yield at
