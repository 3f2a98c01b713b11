"""identity domain."""
