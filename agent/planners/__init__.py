"""Planners: CEM, MPPI, gradient-based and hybrid."""
