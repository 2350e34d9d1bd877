"""IMAP and nothing else: connections, IDLE or polling, checkpoints, keywords (STYLE.md)."""
