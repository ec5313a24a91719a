"""plan: pure decisions, findings -> actions, honouring mode, scope and exemptions."""
