"""What several commands share: where template.yaml is, and where a stack's audit table and alert topic are."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from eksguard.cli.errors import CliError


def find_template(explicit: str | None) -> Path:
    if explicit:
        return Path(explicit).resolve()
    for folder in (Path.cwd(), *Path.cwd().parents):
        if (folder / "template.yaml").is_file():
            return folder / "template.yaml"
    raise CliError("template.yaml not found here or above; pass --template PATH")


def locations(args: argparse.Namespace) -> tuple[str, str]:
    """(audit table, alert topic) for rollback and history: the options, else the environment a guard function
    has, else the outputs of ``--stack-name``, else the stand-in's provisioned resources (``AWS_ENDPOINT_URL``)."""
    table = args.audit_table or os.environ.get("EKSGUARD_AUDIT_TABLE", "")
    topic = args.alert_topic_arn or os.environ.get("EKSGUARD_ALERT_TOPIC_ARN", "")
    if (not table or not topic) and args.stack_name:
        import boto3

        stack = boto3.client("cloudformation").describe_stacks(StackName=args.stack_name)["Stacks"][0]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        table, topic = table or outputs.get("AuditTableName", ""), topic or outputs.get("AlertTopicArn", "")
    if (not table or not topic) and os.environ.get("AWS_ENDPOINT_URL"):
        from eksguard.local.invoke import load_app

        physical = load_app(find_template(args.template), {}).context.physical
        table, topic = table or physical["AuditTable"]["Ref"], topic or physical["AlertTopic"]["Ref"]
    if not table:
        raise CliError("which audit table? pass --audit-table or --stack-name")
    return table, topic
