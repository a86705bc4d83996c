"""Property-based hostile-input suite (issue 9, item 8): every drive.v1 RPC against a real server.

Layout: ``rpcs.py`` lists the RPCs from the generated descriptors; ``strategies.py`` builds the
Hypothesis strategies from the message descriptors (with ``values.py``: hostile values,
``hints.py``: plausible values, ``wire.py``: unparsable encodings, ``spec.py``: the symbolic
requests drawn); ``cases.py`` builds the deterministic cases; ``harness.py`` runs one call and
checks every invariant (``checks.py``, ``observe.py``) against the server of ``conftest.py``, with
the accounts of ``world.py``; the ``test_*.py`` modules state the properties. FINDINGS.md lists
what the server gets wrong.

Run: ``.venv/bin/pytest tests/hostile`` (SQLite, and PostgreSQL when DRIVE_TEST_DATABASE_URL is
set). ``DRIVE_HOSTILE_PROFILE=long`` runs 25 times the examples with random seeds;
``DRIVE_HOSTILE_EXAMPLES=N`` sets the examples of every property; ``DRIVE_HOSTILE_CATALOG=FILE``
records every failing example (then ``python -m tests.hostile.triage FILE`` groups them by cause).
"""
