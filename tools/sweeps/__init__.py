"""Sweeps: queued experiments (make sweep), one grid point per job (Slurm, the CI matrix) and the sweep
report (make experiments)."""
