"""Objectives, planners and the MPC agent."""
