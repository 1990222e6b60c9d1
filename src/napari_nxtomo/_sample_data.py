"""Sample data contributions (File > Open Sample): synthetic HAADF-STEM images.

Thin glue: the particles and images are made by :mod:`napari_nxtomo.core.samples`.
"""

from __future__ import annotations

from .core.samples import SampleParticle, pbse_cdse_core_shell, pbse_cuboctahedron


def particle_layers(particle: SampleParticle) -> list:
    """napari LayerData tuples for the images of a sample particle, one per zone axis."""
    layers = []
    for k, view in enumerate(particle.views):
        md = view.layer_metadata()
        md["description"] = particle.description
        layers.append(
            (
                view.image,
                {
                    "name": view.name,
                    "scale": (view.pixel_size, view.pixel_size),
                    "units": ("angstrom", "angstrom"),
                    "metadata": md,
                    "colormap": "gray",
                    # show the last view on top, the others can be toggled on
                    "visible": k == len(particle.views) - 1,
                },
                "image",
            )
        )
    return layers


def pbse_cuboctahedron_sample() -> list:
    """PbSe cuboctahedron, [100], [010] and [110] about [001]."""
    return particle_layers(pbse_cuboctahedron())


def pbse_cdse_core_shell_sample() -> list:
    """PbSe/CdSe core-shell rod, [100], [010] and [110] about [001]."""
    return particle_layers(pbse_cdse_core_shell())
