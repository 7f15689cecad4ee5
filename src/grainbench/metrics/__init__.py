"""grainbench metrics."""
