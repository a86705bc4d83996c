"""Adapters: SQL repositories, migrations, blob stores, Redis."""
