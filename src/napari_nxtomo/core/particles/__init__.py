"""Particles in real images: where they are, their lattice, their columns (numerics only)."""
