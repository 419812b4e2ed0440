"""Review: a revision's results against a base (make review, make verify), their verdicts and charts,
and the offline plots page (make vendor)."""
