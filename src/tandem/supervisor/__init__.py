"""Runs a Plan: tandem.supervisor.core.Supervisor, assembled from one module per concern."""

from tandem.children import Child
from tandem.supervisor.core import Supervisor
from tandem.supervisor.reload import RETIRE_SIGNAL
from tandem.supervisor.stopping import APP_ROLES, STOP_SIGNALS

__all__ = ["APP_ROLES", "RETIRE_SIGNAL", "STOP_SIGNALS", "Child", "Supervisor"]
