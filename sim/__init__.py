"""Simulator: physics-based coin population, virtual sensor head and ccTalk host."""
