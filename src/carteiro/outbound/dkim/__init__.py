"""DKIM keys per domain and the signers the send path uses."""
