"""Journey simulation: see how a journey plays out before it goes live (pure: no Qt anywhere here).

Modules, in the order a run uses them (simulator/README.md has the assumptions):

- plan: a Journey compiled for execution (topological order, UTC times); refuses cycles.
- population: the simulated contacts as NumPy columns, and a synthetic generator.
- behaviour: what contacts do (delivery, opens, clicks, unsubscribes, conversions, background events).
- draws: counter-based random draws, identical for one contact or a million.
- reference: the meaning of every tile as a per-unit state machine (the live runner's interpreter).
- reference_run: the oracle: the interpreter driven contact by contact.
- engine, cohorts: the vectorised engine (whole cohorts per step, chunked).
- trace, metrics: the columnar trace and named metrics over it.
- replicas: K seeds, means and 95 % intervals. runs: a saved run (RunRecord). request: one run from its inputs.
- replay: the time-warp replay's frames; compare: run against run; branches: branch and A/B figures.
- report, svg: the HTML report of a run.
- baseline_simpy: a SimPy process-per-contact model (benchmark yardstick only).
"""
