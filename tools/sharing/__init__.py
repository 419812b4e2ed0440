"""Sharing: the DVC remote (make push, make pull, make check REMOTE=1) and whether the committed results
are current (make check)."""
