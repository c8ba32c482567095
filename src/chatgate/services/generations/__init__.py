"""The generation lifecycle (DESIGN.md §6), one room per part:

- `job` — what one answer needs (who, which model, what to send, where it is kept);
- `service` — starting (quotas, the question and a `queued` answer committed before any upstream
  call), finishing (the final state committed before `done`), control (stop, subscribe, replay)
  and the hand-over between instances;
- `runner` — running one answer on the upstream: admission by the scheduler, retries before the
  first token, failover between credentials, and what a failure means for the credential;
- `ticker` — once a second: timeouts per phase, checkpoints of every running answer in one write,
  forgetting finished answers after the replay window.
"""

from __future__ import annotations

from chatgate.services.generations.job import Job, cost_micro_usd
from chatgate.services.generations.service import Generations

__all__ = ["Generations", "Job", "cost_micro_usd"]
