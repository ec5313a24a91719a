"""Where the repository's own files are, for every test."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"
TEMPLATE = ROOT / "template.yaml"
REFERENCE_EVENTS = ROOT.parent / "shared" / "reference-events"
