"""grainbench commands."""
