"""docs/permissions.md is generated from template.yaml (tests/support/permissions_doc.py) and must match it."""

from __future__ import annotations

from tests.support.permissions_doc import DOC, render


def test_committed_permissions_doc_is_the_generated_one() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/permissions.md is stale: run .venv/bin/python -m tests.support.permissions_doc")


def test_every_function_and_grant_is_documented() -> None:
    from tests.support.permissions_check import functions, grants

    text = render()
    for function in functions():
        assert f"## {function}" in text
    for grant in grants():
        assert f"`{grant.action}`" in text, grant
