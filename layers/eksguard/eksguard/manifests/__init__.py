"""Kubernetes manifests eksguard ships, read from the package (the CLI prints them; the stand-in enforces them)."""

from __future__ import annotations

from importlib import resources
from typing import Any

READER_GROUP = "eksguard:readers"


def reader_manifest() -> str:
    """The ClusterRole, Role and bindings that give the group ``eksguard:readers`` exactly what eksguard reads."""
    return resources.files(__package__).joinpath("eksguard-reader.yaml").read_text(encoding="utf-8")


def reader_documents() -> list[dict[str, Any]]:
    import yaml  # only where the manifest is parsed (stand-in, tests); the CLI prints the text

    return [d for d in yaml.safe_load_all(reader_manifest()) if d]
