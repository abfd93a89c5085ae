"""hourglass: the command-line client of Hourglass's API, for CI pipelines. Python's standard library only.

HOURGLASS_URL=https://cron.example.com HOURGLASS_KEY=hg_… python -m hourglass_cli plan jobs.yaml --team acme
"""
