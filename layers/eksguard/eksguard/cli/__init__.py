"""The ``eksguard`` command."""
