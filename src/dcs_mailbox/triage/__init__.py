"""Pure triage: InboundMessage in, Verdict out. No database, no network, no clock."""
