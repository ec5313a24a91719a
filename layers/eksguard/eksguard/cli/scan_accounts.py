"""``eksguard scan --role-name R --accounts FILE | --org``: the scan in many accounts through a read-only role,
merged into one report. An account that cannot be assumed or read is listed as failed (exit 2), never as clean."""

from __future__ import annotations

import argparse
import shutil
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from eksguard import clock
from eksguard.cli.report import render_accounts
from eksguard.config import Config
from eksguard.config_eks import EksConfig
from eksguard.pipeline.org_scan import parse_account_list

DEFAULT_WORKERS = 8
MAX_WORKERS = 64


def add_arguments(scan: argparse.ArgumentParser) -> None:
    which = scan.add_mutually_exclusive_group()
    which.add_argument("--accounts", metavar="FILE",
                       help="scan these accounts (one 12-digit id per line, # comments) through --role-name")
    which.add_argument("--org", action="store_true",
                       help="scan every ACTIVE account of the organization (organizations:ListAccounts from the "
                            "current credentials) through --role-name")
    scan.add_argument("--role-name", metavar="NAME",
                      help="role to assume in each account (arn:PARTITION:iam::ACCOUNT:role/NAME, a path included: "
                           "the member stacks' role is eksguard/eksguard-scan); needs --accounts or --org")
    scan.add_argument("--external-id", metavar="ID",
                      help="ExternalId for AssumeRole, when the role's trust policy asks for one")
    scan.add_argument("--max-workers", type=_workers, metavar="N",
                      help=f"accounts scanned at once (1-{MAX_WORKERS}, default {DEFAULT_WORKERS})")


def _workers(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"expected a whole number from 1 to {MAX_WORKERS}, got {raw!r}")
    return value


def argument_error(args: argparse.Namespace) -> str | None:
    """The rules argparse cannot express; None when the options go together."""
    accounts, org = getattr(args, "accounts", None), getattr(args, "org", False)
    role = getattr(args, "role_name", None)
    if accounts and org:
        return "argument --org: not allowed with argument --accounts"
    if role and not (accounts or org):
        return "--role-name needs --accounts FILE or --org"
    if (accounts or org) and not role:
        return f"{'--org' if org else '--accounts'} needs --role-name (the role to assume in each account)"
    for option, value in (("--external-id", getattr(args, "external_id", None)),
                          ("--max-workers", getattr(args, "max_workers", None))):
        if value is not None and not role:
            return f"{option} applies only with --role-name and --accounts or --org"
    return None


def wanted(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "role_name", None) or getattr(args, "accounts", None) or getattr(args, "org", False))


class AccountsProgress:
    """One self-overwriting line for all workers; nothing at all when the stream is not a terminal."""

    def __init__(self, stream: TextIO, accounts: Sequence[str]):
        self.stream, self.active = stream, stream.isatty()
        self.position = {a: i for i, a in enumerate(accounts, 1)}
        self.ok = self.failed = 0
        self._lock = threading.Lock()  # workers report from their own threads

    def step(self, account: str, region: str, what: str) -> None:
        with self._lock:
            self._show(f"[{self.position.get(account, 0)}/{len(self.position)} accounts] {account} {region}: "
                       f"reading {what}... ({self.ok} done, {self.failed} failed)")

    def finished(self, account: str, ok: bool) -> None:
        with self._lock:
            self.ok, self.failed = self.ok + ok, self.failed + (not ok)

    def done(self) -> None:
        with self._lock:
            self._show("")

    def _show(self, text: str) -> None:
        if self.active:
            # A line wider than the terminal wraps, and \r would then only clear its last part.
            self.stream.write("\r\x1b[K" + text[:shutil.get_terminal_size().columns - 1])
            self.stream.flush()


def run(args: argparse.Namespace, out: TextIO, err: TextIO, session: Any, regions: Sequence[str], config: Config,
        eks_config: EksConfig) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from eksguard.aws.accounts import assume_session, caller, organization_accounts, role_arn
    from eksguard.aws.clients import Aws
    from eksguard.pipeline.scan_accounts import scan_accounts

    accounts: list[str] = []
    if args.accounts:  # checked before any AWS call
        try:
            accounts = parse_account_list(Path(args.accounts).read_text(), args.accounts)
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            err.write(f"eksguard scan: {exc}\n")
            return 2
    home = Aws(regions[0], session)
    try:
        me = caller(home.client("sts"))
        if args.org:
            accounts = organization_accounts(home.client("organizations"))
    except (ClientError, BotoCoreError) as exc:
        what = "list the organization's accounts" if args.org else "read the caller identity"
        err.write(f"eksguard scan: could not {what}: {exc}\n")
        return 2
    if not accounts:
        err.write("eksguard scan: the organization has no ACTIVE account\n")
        return 2

    def assume(account: str) -> Any:
        return assume_session(home.client("sts"), role_arn(me.partition, account, args.role_name),
                              session.region_name, args.external_id)

    progress = AccountsProgress(err, accounts)
    try:
        report = scan_accounts(assume, accounts, regions, config, eks_config, clock.today(),
                               args.max_workers or DEFAULT_WORKERS, progress)
    finally:
        progress.done()
    out.write(render_accounts(report, args.format))
    for e in report.errors:
        err.write(f"eksguard scan: account {e.account} was not scanned: {e.error}\n")
    if report.errors:
        return 2
    return 1 if args.fail_on is not None and report.fails(args.fail_on) else 0
