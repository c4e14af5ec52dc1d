"""The `soc:` section of config.yaml (every key has a default; config.example.yaml shows them)."""

from __future__ import annotations

from dataclasses import dataclass

from panel.config import ConfigError

# The containment actions (containment.ACTIONS) a policy may hold for a second approver.
ACTIONS = ("user_lock", "token_revoke", "suspend", "address_block", "address_unblock")


@dataclass(frozen=True)
class SocSettings:
    # Four-eyes: these containment actions wait until a second SOC user or DC admin (never the one
    # who asked) approves them. Any of: user_lock, token_revoke, suspend, address_block, address_unblock.
    four_eyes: tuple[str, ...] = ("address_block",)

    def __post_init__(self) -> None:
        wrong = [a for a in self.four_eyes if a not in ACTIONS]
        if wrong:
            raise ConfigError(f"config key soc.four_eyes: unknown action {wrong[0]!r} (any of: {', '.join(ACTIONS)})")
