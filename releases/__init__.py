"""releases stage (see DESIGN.md)."""
