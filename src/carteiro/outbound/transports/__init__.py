"""The transport registry: one transport per account, rebuilt when its settings change."""
