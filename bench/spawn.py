"""Run one command and report its own wall time and rusage, from a process small enough not to skew them.

    python -I -S bench/spawn.py RESULT.json COMMAND [ARG...]

Linux keeps a process's peak RSS across exec, so a child forked straight from the (large) benchmark
process starts with the parent's RSS as its peak. Forking from this tiny process instead keeps the
floor at a few MB. Writes {"wall_s", "returncode", "maxrss_kb", "user_s", "sys_s"} to RESULT.json.
"""

import json
import os
import sys
import time


def main() -> int:
    out, cmd = sys.argv[1], sys.argv[2:]
    started = time.perf_counter()
    pid = os.posix_spawn(cmd[0], cmd, os.environ)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    with open(out, "w") as f:
        json.dump({"wall_s": wall, "returncode": code, "maxrss_kb": usage.ru_maxrss, "user_s": usage.ru_utime,
                   "sys_s": usage.ru_stime}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
