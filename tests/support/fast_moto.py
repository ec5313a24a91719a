"""Test-process speed-ups that change no result: each replaces a hot path with one that returns the same.

- moto's EC2 ids: ``random_resource_id`` draws each hex digit with ``random.choice``, ~17 Python calls a digit.
  moto makes ~1,300 public AMIs (each a volume and a snapshot id) in every region's EC2 backend, several backends
  a test, so these draws were a tenth of the suite. The same draws (``getrandbits(5)``, rejecting 16..31, as
  ``Random._randbelow`` does for 16 choices) made in one loop give the same ids from the same seed, which the
  seeded demo account's ids in events/ and the tests depend on (tests/unit/test_fast_moto.py checks it).
- botocore's ``Loader.list_available_services``: cached per loader, and every test builds new sessions (a cold
  start each), so the data directories were listed again hundreds of times; the list depends only on the
  loader's search paths."""

from __future__ import annotations

from typing import Any

from botocore import loaders

HEX_CHARS = "0123456789abcdef"


def fast_random_resource_id(size: int = 8) -> str:
    from moto.moto_api._internal import mock_random

    bits = mock_random.getrandbits
    digits = []
    for _ in range(size):
        r = bits(5)
        while r >= 16:
            r = bits(5)
        digits.append(HEX_CHARS[r])
    return "".join(digits)


_services: dict[tuple[tuple[str, ...], str], Any] = {}
_list_available_services = loaders.Loader.list_available_services


def _shared_list_available_services(self: loaders.Loader, type_name: str) -> Any:
    key = (tuple(self.search_paths), type_name)
    if key not in _services:
        _services[key] = _list_available_services(self, type_name)
    return list(_services[key])


def install() -> None:
    import moto.ec2.utils

    moto.ec2.utils.random_resource_id = fast_random_resource_id
    loaders.Loader.list_available_services = _shared_list_available_services  # type: ignore[method-assign]
