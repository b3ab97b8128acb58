"""gpu stage (see DESIGN.md)."""
