"""The panel's own argon2id profiles (the test suite hashes with a cheap one, tests/conftest.py), and
the rehash at login that moves a stored hash to the profile in use."""

from __future__ import annotations

from argon2 import PasswordHasher, extract_parameters
from argon2.profiles import RFC_9106_LOW_MEMORY

from panel import db, security
from panel.models.users import User
from panel.services import auth as auth_svc
from tests.conftest import TEST_HASHER
from tests.support.factories import PASSWORD


def test_the_panel_hashes_with_the_rfc_9106_profile_and_owasp_for_recovery_codes():
    p = security.PASSWORD_PROFILE
    assert (p.time_cost, p.memory_cost, p.parallelism) == (3, 65536, 4)
    assert (p.time_cost, p.memory_cost, p.parallelism) == (
        RFC_9106_LOW_MEMORY.time_cost,
        RFC_9106_LOW_MEMORY.memory_cost,
        RFC_9106_LOW_MEMORY.parallelism,
    )
    r = security.RECOVERY_CODE_PROFILE
    assert (r.time_cost, r.memory_cost, r.parallelism) == (2, 19456, 1)
    # This session runs on the cheap profile; new hashes carry its parameters.
    made = extract_parameters(security.hash_password("x"))
    assert (made.time_cost, made.memory_cost, made.parallelism) == (1, 8, 1)
    assert extract_parameters(security.hash_recovery_code("abcdef-012345")).memory_cost == 8


def test_login_rehashes_a_hash_of_another_profile(booted, make):
    user = make.make_user(username="rehashme")
    strong = security.PASSWORD_PROFILE.hash(PASSWORD)
    with db.unit_of_work() as s:
        s.get(User, user.id).password_hash = strong
    assert security.verify_password(strong, PASSWORD) and security.needs_rehash(strong)
    auth_svc.login_password("rehashme", PASSWORD, client_addr="10.0.0.1")
    with db.unit_of_work() as s:
        stored = s.get(User, user.id).password_hash
    assert stored != strong and not security.needs_rehash(stored)
    assert extract_parameters(stored) == extract_parameters(TEST_HASHER.hash("y"))
    assert PasswordHasher().verify(stored, PASSWORD)  # the panel's default verifies it too
