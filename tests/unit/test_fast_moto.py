"""tests/support/fast_moto.py changes the speed of moto's EC2 ids, never the ids."""

from __future__ import annotations

import random

import pytest
from tests.support.fast_moto import fast_random_resource_id


@pytest.mark.parametrize("seed", [0, 1, 42, 1234567])
def test_the_same_seed_gives_the_same_ids(seed: int) -> None:
    from moto.moto_api._internal import mock_random

    reference = random.Random(seed)
    expected = ["".join(reference.choice("0123456789abcdef") for _ in range(n)) for n in (8, 17, 17, 32) * 50]
    mock_random.seed(seed)
    assert [fast_random_resource_id(n) for n in (8, 17, 17, 32) * 50] == expected
