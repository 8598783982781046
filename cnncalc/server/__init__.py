"""The classroom server's rules (standard library only): :mod:`.limits` (quotas and budgets, configured in one
place, and the server-wide bound on heavy computations) and :mod:`.identity` (display names carried by signed
tokens; who may change which run)."""
