"""Code that runs inside the child processes tandem starts (Daphne, Gunicorn).

The parent describes what a child must do in one ``RuntimeSpec``, passed as JSON in the environment
variable ``TANDEM_RUNTIME``; this is the one place a child reads it. An exported process (systemd
--per-process, supervisor, Procfile) has its secret fields in the 0600 file ``TANDEM_RUNTIME_SECRETS``
names instead, which ``spec.RuntimeSpec.from_env`` reads (and refuses when missing or readable by others).
"""
