"""Build Cloud Custodian's Lambda archive for a `mode: cloudtrail` policy with c7n's own code.

Runs inside bench/.venv-c7n (never imports eksguard):

    bench/.venv-c7n/bin/python bench/custodian/build_archive.py POLICY.yml OUT.zip

The archive is exactly what `custodian run` would upload for that policy: c7n.mu.PolicyLambda
(the c7n package's .py files, config.json with the policy and its execution options, and the
custodian_policy.py entry point whose `run` calls c7n.handler.dispatch_event). Nothing is deployed.
"""

from __future__ import annotations

import json
import shutil
import sys


def main(policy_path: str, out_path: str) -> int:
    from c7n.config import Config
    from c7n.mu import PolicyLambda
    from c7n.policy import load

    collection = load(Config.empty(), policy_path)
    if collection is None:
        raise SystemExit(f"{policy_path}: no policies")
    policies = list(collection)
    if len(policies) != 1:
        raise SystemExit(f"{policy_path}: expected one policy, found {len(policies)}")
    function = PolicyLambda(policies[0])
    archive = function.get_archive()
    shutil.copyfile(archive.path, out_path)
    print(json.dumps({"name": function.name, "handler": function.handler, "runtime": function.runtime,
                      "memory": function.memory_size, "timeout": function.timeout, "bytes": archive.size,
                      "files": len(archive.get_filenames())}))
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
