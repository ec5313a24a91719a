"""parse: raw EventBridge/CloudTrail payloads -> typed references to what changed (pure)."""
