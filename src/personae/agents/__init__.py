"""Autonomous characters: settings, agenda, scheduler, actions, memory, limits."""
