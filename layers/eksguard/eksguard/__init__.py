"""eksguard: keep an AWS account's EKS security posture correct, continuously.

The pipeline is the package layout: parse -> snapshot -> detect -> plan -> apply -> record -> alert.
Everything under ``aws`` talks to AWS; everything else is pure.
"""

__version__ = "0.1.0"
