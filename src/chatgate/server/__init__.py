"""Running ChatGate's HTTP server: one process (`process.py`), or N worker processes sharing one
port under a small supervisor (`workers.py`)."""
