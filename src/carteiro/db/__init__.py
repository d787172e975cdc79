"""The ground floor: engine and sessions, base model, column types, leases, migrations."""
