"""Tasks that misbehave on purpose, one way each, started by hand (`start NAME`)
to show that a fault ends only the task that made it."""
