"""Errors every stage may raise. Kept at the bottom floor so no stage imports another's module for them."""


class RetryableError(RuntimeError):
    """Something a later retry may fix (throttling, audit table down): re-raised so Lambda retries
    the event and, after its retries, parks it in the dead-letter queue. Alerts were sent first."""
