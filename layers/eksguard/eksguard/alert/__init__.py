"""alert: the SNS message contract (DESIGN section 6) as one typed model."""
