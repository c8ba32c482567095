"""ChatGate's benchmark harness (issue 9): `python -m bench` or `make bench`.

A lean fake OpenAI-compatible upstream sends numbered tokens on absolute deadlines and records
when it sent each; a load driver streams through each target and matches every token by its
sequence number; the runner starts everything pinned to cores, measures CPU, memory and latency,
and writes docs/benchmarks.md.
"""
