"""aws: the one boto3 boundary. Readers build snapshots; writers apply, record and alert."""
