"""The chaos soak (`make chaos`): faults under load, then the invariant checker. See soak.py."""
