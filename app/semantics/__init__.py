"""What a journey means when it runs: the plan compiled from a journey, the reference interpreter (one contact,
one event at a time), the counter-based draws, the outcomes and the time zones.

Imported by the simulator (`simulator/`) and by the live runner (`app/runner/`); imports neither. The meaning
of every tile is written once, here; see README.md in this folder.
"""
