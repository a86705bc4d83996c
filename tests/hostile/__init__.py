"""Property-based hostile-input suite (issue 9, item 8): every drive.v1 RPC against a real server."""
