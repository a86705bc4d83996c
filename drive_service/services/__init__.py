"""Use cases: managers that combine domain rules with the storage ports."""
