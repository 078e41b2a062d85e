"""Platform adapters: one per operating-system feature the hub needs (its clock, ...)."""
