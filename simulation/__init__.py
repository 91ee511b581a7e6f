"""Simulation for NanoMark: Monte Carlo deposition of Pd nanoparticles on a
defect map, synthetic SEM images with their ground truth, and (in their own
modules) GFN2-xTB calculations of adsorption energies.

The deposition model follows Boiko et al., Chem. Sci. 2021, 12, 7428: particles
adsorb from solution, leach back and move on the surface with probabilities
that depend on the surface type under them (:mod:`simulation.surface`,
:mod:`simulation.montecarlo`, :mod:`simulation.kinetics`);
:mod:`simulation.deposition` runs one on a defect mask, from its layers to the
kinetics, spatial statistics and rendering that are kept of it. Procedural defect
maps (:mod:`simulation.defectmaps`) and an SEM renderer
(:mod:`simulation.render`, :mod:`simulation.databar`) turn simulated particle
positions into labelled images (:mod:`simulation.dataset`): the platform's data
for demos, tests and benchmarks.

Pure numpy / SciPy / scikit-image / OpenCV code: it never imports Django.
"""
