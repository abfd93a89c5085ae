"""Hourglass benchmarks: one module per benchmark (b1_lateness … b6_dashboard); see bench/README.md."""
