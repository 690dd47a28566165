"""Libraries for userland tasks."""
