"""Loaded by every Python process of `make test-timeshift` (PYTHONPATH), and only there.

The shifted run moves the wall clock only (FAKETIME_DONT_FAKE_MONOTONIC=1): a faked monotonic clock makes timed
lock waits sleep for the whole shift (botocore's adaptive retry bucket hangs). libfaketime 0.9.10 then answers
Python's time.sleep - clock_nanosleep on the monotonic clock with an absolute deadline - with EINVAL. A sleep
through select() takes a relative timeout and is untouched by the shift. Test infrastructure, not product code.
"""

import os
import select
import time

if os.environ.get("FAKETIME"):

    def _sleep(seconds: float) -> None:
        if seconds < 0:
            raise ValueError("sleep length must be non-negative")
        select.select([], [], [], seconds)

    time.sleep = _sleep
