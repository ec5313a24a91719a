"""detect: pure rules, snapshot -> findings. No boto3, no environment, no clock."""
