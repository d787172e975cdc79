"""Outbound mail: enqueue, claim (plan + transaction), ack/retry/dead, breaker, dispatcher."""
