"""Running ChatGate's HTTP server: one process, started and stopped gracefully (`lifecycle.py`),
or N worker processes sharing one port under a small supervisor (`workers.py`); what either tells
the operator once it serves is `announce.py`."""
