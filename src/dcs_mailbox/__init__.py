"""dcs-mailbox: mail-triage daemon for the DCS single contact point."""

__version__ = "0.1.0"
