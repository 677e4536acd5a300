"""`python -m kubectl_nsprobe`: the same entry point as the console script (used by the krew launcher)."""

from kubectl_nsprobe import cli

cli.main()
