"""Sample data contributions (File > Open Sample): HAADF-STEM images of known particles.

Thin glue: both samples are abTEM multislice images
(:mod:`napari_nxtomo.core.multislice_sample`, Poisson noise drawn at load).
"""

from __future__ import annotations

from .core.multislice_sample import pbse_cdse_core_shell_multislice, pbse_cuboctahedron_multislice
from .core.samples import SampleParticle


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
    """PbSe cuboctahedron, abTEM multislice images along [100], [010] and [110] about [001], 5e4 e/Å²."""
    return particle_layers(pbse_cuboctahedron_multislice())


def pbse_cdse_core_shell_sample() -> list:
    """PbSe/CdSe core-shell rod, abTEM multislice images along [100], [010] and [110] about [001], 5e4 e/Å²."""
    return particle_layers(pbse_cdse_core_shell_multislice())
