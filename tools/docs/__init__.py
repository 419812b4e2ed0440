"""Docs: every generated part of README.md and docs/ (make docs), from committed files and dvc.yaml."""
