"""The audit log: hash-chained entries with HSM-signed checkpoints."""
