"""The benchmark harness: every figure beside a baseline measured in the same run.

`python -m bench` runs it all (about ten minutes), `python -m bench --quick` in under a
minute; results go to `bench/results/`. See `bench/README.md`.
"""
