"""snapshot: what AWS says now, as frozen values the rules can read (built by ``eksguard.aws``)."""
