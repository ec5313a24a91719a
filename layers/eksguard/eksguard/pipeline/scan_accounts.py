"""Run the read-only ``scan`` in many accounts at once: one worker per account (up to ``max_workers``), each
with its own session on the account's assumed role, then one merged report."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from eksguard.aws.clients import Aws, error_code
from eksguard.config import Config
from eksguard.config_eks import EksConfig
from eksguard.pipeline.org_scan import AccountError, OrgScanReport, merge
from eksguard.pipeline.scan import ScanReport, scan

# account id -> a new session in that account (raises ClientError/BotoCoreError when it cannot be assumed)
AssumeSession = Callable[[str], Any]  # a boto3 Session: made in aws/accounts.py, the boundary


class AccountProgress(Protocol):
    def step(self, account: str, region: str, what: str) -> None: ...

    def finished(self, account: str, ok: bool) -> None: ...


def scan_accounts(assume: AssumeSession, accounts: Sequence[str], regions: Sequence[str], config: Config,
                  eks_config: EksConfig, today: date, max_workers: int,
                  progress: AccountProgress | None = None) -> OrgScanReport:
    def one(account: str) -> ScanReport | AccountError:
        def step(index: int, total: int, region: str, what: str) -> None:
            if progress is not None:
                progress.step(account, region, what)

        try:
            # Session and clients are made here, in the worker, and never shared with another thread.
            report = scan(Aws(regions[0], assume(account)), regions, config, eks_config, today, step)
        except (ClientError, BotoCoreError) as exc:
            outcome: ScanReport | AccountError = AccountError(account, error_code(exc), str(exc))
        else:
            # Findings are labelled with the identity the role really has; never file them under another id.
            outcome = report if report.account == account else AccountError(
                account, "AccountMismatch", f"the role's credentials belong to account {report.account}")
        if progress is not None:
            progress.finished(account, isinstance(outcome, ScanReport))
        return outcome

    pool = ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(accounts))),
                              thread_name_prefix="eksguard-scan")
    try:
        outcomes = list(pool.map(one, accounts))
    finally:
        # On Ctrl-C or an unexpected error, do not start the accounts still queued.
        pool.shutdown(wait=True, cancel_futures=True)
    return merge(accounts, regions, [o for o in outcomes if isinstance(o, ScanReport)],
                 [o for o in outcomes if isinstance(o, AccountError)])
