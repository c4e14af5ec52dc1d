"""The state machine every stateful model shares: an enum column, a transition table, `move_to`.

A model sets TRANSITIONS (state -> states it may move to) and STATE_KIND (the name InvalidTransition
shows); `move_to` refuses any other move, runs the model's `on_moved` (timestamps) and sends
events.state_moved. `SAME_STATE_OK` makes a move to the current state a no-op instead of an error.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import ClassVar

from panel import events
from panel.errors import InvalidTransition


class StateMachine:
    TRANSITIONS: ClassVar[Mapping[enum.Enum, frozenset]]
    STATE_KIND: ClassVar[str]
    SAME_STATE_OK: ClassVar[bool] = False
    # the subclass maps `status`, an enum column

    def _state(self, target) -> enum.Enum:
        return type(self.status)(target)

    def can_move_to(self, target) -> bool:
        new = self._state(target)
        return (self.SAME_STATE_OK and new == self.status) or new in self.TRANSITIONS[self.status]

    def move_to(self, target) -> None:
        """Move along TRANSITIONS or raise InvalidTransition naming both states."""
        new, old = self._state(target), self.status
        if not self.can_move_to(new):
            raise InvalidTransition(kind=self.STATE_KIND, current=old.value, target=new.value)
        if new == old:
            return
        self.status = new
        self.on_moved(old, new)
        events.state_moved.send(type(self), obj=self, old=old, new=new)

    def on_moved(self, old, new) -> None:
        """Per-model bookkeeping after a move (timestamps); the default does nothing."""
