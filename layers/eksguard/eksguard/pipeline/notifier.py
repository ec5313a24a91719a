"""The notifier: one SNS alert -> (Security Hub finding) -> (Slack message).

The alert is parsed with the contract model first: a message that breaks the contract is rejected
with the reason and posts nothing. Security Hub goes first because its import is idempotent (same
finding id): when Slack then fails and Lambda retries, the re-import changes nothing, while a Slack
post that had succeeded before a failed import would be posted twice.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from eksguard.alert.asff import build_finding, is_finding
from eksguard.alert.messages import AlertMessage, ContractError
from eksguard.alert.slack import build_payload
from eksguard.aws.clients import Aws
from eksguard.aws.securityhub import import_findings
from eksguard.config import ConfigError

if TYPE_CHECKING:  # the webhook module needs slack-sdk, which only the notifier function ships
    from eksguard.alert.webhook import SlackWebhook


@dataclass(frozen=True)
class NotifierConfig:
    slack_secret_arn: str = ""
    security_hub_export: bool = False
    partition: str = "aws"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> NotifierConfig:
        env = os.environ if env is None else env
        export = env.get("EKSGUARD_SECURITY_HUB_EXPORT", "false").strip().lower()
        if export not in ("true", "false"):
            raise ConfigError(f"SecurityHubExport must be true or false, got {export!r}")
        return cls(slack_secret_arn=env.get("EKSGUARD_SLACK_WEBHOOK_SECRET_ARN", "").strip(),
                   security_hub_export=export == "true", partition=env.get("EKSGUARD_PARTITION", "aws") or "aws")


@dataclass(frozen=True)
class NotifyResult:
    status: str  # delivered | rejected
    rule_id: str | None = None
    action: str | None = None
    resource_id: str | None = None
    slack: bool = False
    security_hub: bool = False
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def handle_event(event: Any, config: NotifierConfig, aws: Aws, slack: SlackWebhook | None,
                 now: datetime) -> list[NotifyResult]:
    """Every record of an SNS -> Lambda event (SNS sends one); anything else is rejected as a whole."""
    try:
        bodies = sns_messages(event)
    except ContractError as exc:
        return [NotifyResult("rejected", reason=str(exc))]
    return [handle(body, config, aws, slack, now) for body in bodies]


def sns_messages(event: Any) -> list[str]:
    records = event.get("Records") if isinstance(event, Mapping) else None
    if not isinstance(records, list) or not records:
        raise ContractError("not an SNS event: it has no Records")
    bodies = []
    for record in records:
        sns = record.get("Sns") if isinstance(record, Mapping) else None
        if not isinstance(sns, Mapping) or not isinstance(sns.get("Message"), str):
            raise ContractError("not an SNS event: a record has no Sns.Message string")
        bodies.append(sns["Message"])
    return bodies


def handle(body: str, config: NotifierConfig, aws: Aws, slack: SlackWebhook | None, now: datetime) -> NotifyResult:
    try:
        message = AlertMessage.from_json(body)
    except ContractError as exc:
        return NotifyResult("rejected", reason=str(exc))
    exported = config.security_hub_export and is_finding(message)
    if exported:
        import_findings(aws, [build_finding(message, now, config.partition, aws.home_region)])
    if slack is not None:
        slack.post(build_payload(message))
    return NotifyResult("delivered", message.rule_id, message.action, message.resource_id,
                        slack=slack is not None, security_hub=exported)
