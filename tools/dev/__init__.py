"""Development: the tiny sandbox run (make quick), the seed spread (make seed-spread) and the suite's
timings (make test-times)."""
