"""Docker: container lifecycle and network faults, each with its undo, and heal."""
