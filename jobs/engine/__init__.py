"""The engine: everything that turns job slots into sent requests and recorded results.

- clock: the system periodic tasks Beat runs (dispatch, reap, prune)
- dispatch: due slots become pending runs; publish: batches of run ids go to the workers
- staging: load, claim and plan runs ahead of their slot
- execute / runner / http / ssrf / signing / success / notify: firing a run and judging it
- results / retries: writing outcomes, scheduling the next attempt
- reaper: settling runs whose worker was lost
"""
