"""Code that runs inside the child processes tandem starts (Daphne, Gunicorn).

The parent describes what a child must do in one ``RuntimeSpec``, passed as JSON in the environment
variable ``TANDEM_RUNTIME``; this is the one place a child reads it.
"""
