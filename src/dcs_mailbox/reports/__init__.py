"""Reports: SQL aggregation into plain models, rendered separately, mailed exactly once.

- digest: the agents' daily list of requests waiting for an answer (protocol art. 3);
- mailing: one scheduled mailing per (kind, period), shared by every report.
"""
