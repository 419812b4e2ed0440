"""Developer tools run from the Makefile: not pipeline stages, and not declared as any stage's code."""
