"""Outcome codes of a trace row: what happened to a contact at a step (int8 in the trace)."""

from __future__ import annotations

from typing import Final

PASSED: Final = 0       # went on (a wait, an exit tile, a message step of an account whose contact rows differ)
SENT: Final = 1         # the message was sent to this contact
SUPPRESSED: Final = 2   # not sent: in the suppression segment, opted out of the channel, or hard-bounced
CAPPED: Final = 3       # not sent: the journey's frequency cap was reached
YES: Final = 4
NO: Final = 5
DONE: Final = 6         # an action (task, lead, webhook, workflow) was carried out
SHARED: Final = 7       # an action the contact's account already got (one per account)
PATH_BASE: Final = 10   # a split path: PATH_BASE + 0 for A, + 1 for B...
# terminal outcomes: each contact that enters an iteration has exactly one row with one of these
COMPLETED: Final = 20   # reached the end of a path (the virtual step 'end')
HOLDOUT: Final = 21     # kept out at a split as a control group
EXITED: Final = 22      # left on an exit condition
GOAL: Final = 23        # left on an exit condition that is the goal
STOPPED: Final = 24     # the schedule (or the iteration) ended while the contact was here
WAITING: Final = 25     # still here at the simulated horizon
TERMINAL: Final = frozenset({COMPLETED, HOLDOUT, EXITED, GOAL, STOPPED, WAITING})
N_CODES: Final = 32

LABELS: dict[int, str] = {PASSED: "passed", SENT: "sent", SUPPRESSED: "suppressed", CAPPED: "capped", YES: "yes",
                          NO: "no", DONE: "done", SHARED: "shared", COMPLETED: "completed", HOLDOUT: "holdout",
                          EXITED: "exited", GOAL: "goal", STOPPED: "stopped", WAITING: "waiting"}
LABELS.update({PATH_BASE + i: f"path {c}" for i, c in enumerate("ABCDEFGHIJ")})


def path(i: int) -> int:
    """The outcome code of split path `i` (0 for A)."""
    return PATH_BASE + i
