"""AI replies to incoming mail: durable jobs, a model behind a protocol, token budgets, stats."""
