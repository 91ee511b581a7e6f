"""The Pd13-on-graphene adsorption workflow as stored, queued calculations.

Per site, the complex (cluster on flake) runs first, with SCC retries at
higher electronic temperatures. Once it converges, the isolated cluster and
surface are computed at that same temperature (smearing alone moves a Pd13
energy by tens of kcal/mol), reusing any earlier calculation of the same
geometry at that temperature, and the AdsorptionEnergy row is made; its
energy is filled in when the last of the three calculations succeeds.
"""

from collections.abc import Callable, Iterable

from ase import Atoms
from django.db import transaction
from django.db.models import Q

from nanomark.computations.choices import XtbTaskKind
from nanomark.computations.models import AdsorptionEnergy, XtbCalculation
from nanomark.runs import RunStatus
from simulation.adsorption import adsorption_energy_kcal_mol, build_site_complex
from simulation.structures import atoms_to_xyz

XTB_TASK = "nanomark.computations.tasks.run_xtb_calculation"
COMPLEX_TASK = "nanomark.computations.tasks.run_adsorption_complex"


def enqueue(task: str, pk: int) -> None:
    """Queue calculation ``pk`` with ``task`` once the current transaction commits."""
    transaction.on_commit(lambda: XtbCalculation.enqueue(pk, task))


def create_adsorption_study(
    *,
    lab,
    flake: Atoms,
    cluster: Atoms,
    sites: Iterable[str],
    name: str,
    retry_temperatures_k: tuple[float, ...],
    material=None,
    sample=None,
    created_by=None,
    enqueue_tasks: bool = True,
) -> list[XtbCalculation]:
    """Store one complex calculation per site (queued) and queue the site workflows.

    Args:
        lab: the lab that owns the records.
        flake: the carbon surface (Å).
        cluster: the metal cluster (Å).
        sites: :class:`simulation.adsorption.AdsorptionSite` values.
        name: prefix of the calculations' names, e.g. "Pd13 on C190".
        retry_temperatures_k: electronic temperatures tried after SCC failures, K.
        material, sample, created_by: provenance of the records.
        enqueue_tasks: False for a caller that runs the workflow itself.

    Returns:
        The complex calculations, one per site.
    """
    common = {"lab": lab, "material": material, "sample": sample, "created_by": created_by}
    reference = {
        "cluster": {"name": f"{name}: cluster", "xyz": atoms_to_xyz(cluster)},
        "surface": {"name": f"{name}: surface", "xyz": atoms_to_xyz(flake)},
    }
    complexes = []
    with transaction.atomic():
        for site in sites:
            calc = XtbCalculation.objects.create(
                **common,
                name=f"{name}: complex at {site.replace('_', ' ')}",
                task=XtbTaskKind.SINGLE_POINT,
                input_xyz=atoms_to_xyz(build_site_complex(flake, cluster, site)),
                parameters={
                    "retry_temperatures_k": list(retry_temperatures_k),
                    "adsorption": {"site": site, **reference},
                },
            )
            complexes.append(calc)
            if enqueue_tasks:
                enqueue(COMPLEX_TASK, calc.pk)
    return complexes


def start_references(complex_pk: int, run: Callable[[int], None] | None = None) -> None:
    """After the complex converged: find or queue its cluster and surface, make the energy row.

    Args:
        complex_pk: the complex calculation.
        run: called with each new reference's key to run it in this process;
            ``None`` queues them for the workers.
    """
    calc = XtbCalculation.objects.filter(pk=complex_pk, status=RunStatus.SUCCEEDED).first()
    if calc is None or AdsorptionEnergy.objects.filter(complex_calculation=calc).exists():
        return
    study = calc.parameters["adsorption"]
    new: list[int] = []
    with transaction.atomic():
        cluster, surface = (
            _reference(calc, study[part], new, queue=run is None) for part in ("cluster", "surface")
        )
        AdsorptionEnergy.objects.create(
            lab_id=calc.lab_id,
            material_id=calc.material_id,
            site=study["site"],
            complex_calculation=calc,
            cluster_calculation=cluster,
            surface_calculation=surface,
            electronic_temperature_k=calc.electronic_temperature_k,
        )
    for pk in new if run is not None else ():
        run(pk)
    complete_adsorption_energies(complex_pk)


def _reference(calc: XtbCalculation, part: dict, new: list[int], *, queue: bool) -> XtbCalculation:
    """An earlier or queued calculation of ``part`` at ``calc``'s temperature, or a new one."""
    same = XtbCalculation.objects.filter(
        lab_id=calc.lab_id,
        task=XtbTaskKind.SINGLE_POINT,
        input_xyz=part["xyz"],
        charge=calc.charge,
        solvent=calc.solvent,
        electronic_temperature_k=calc.electronic_temperature_k,
    ).exclude(status=RunStatus.FAILED)
    existing = same.order_by("pk").first()
    if existing is not None:
        return existing
    reference = XtbCalculation.objects.create(
        lab_id=calc.lab_id,
        material_id=calc.material_id,
        sample_id=calc.sample_id,
        created_by_id=calc.created_by_id,
        name=part["name"],
        task=XtbTaskKind.SINGLE_POINT,
        input_xyz=part["xyz"],
        charge=calc.charge,
        solvent=calc.solvent,
        electronic_temperature_k=calc.electronic_temperature_k,
        # The temperature is fixed by the complex: another one would mix smearing energies.
        parameters={"retry_temperatures_k": []},
    )
    new.append(reference.pk)
    if queue:
        enqueue(XTB_TASK, reference.pk)
    return reference


def complete_adsorption_energies(calc_pk: int) -> None:
    """Fill in the energy of pending rows with ``calc_pk`` once all three calculations are done."""
    pending = AdsorptionEnergy.objects.filter(
        Q(complex_calculation_id=calc_pk)
        | Q(cluster_calculation_id=calc_pk)
        | Q(surface_calculation_id=calc_pk),
        energy_kcal_mol__isnull=True,
    ).select_related("complex_calculation", "cluster_calculation", "surface_calculation")
    for row in pending:
        parts = (row.complex_calculation, row.cluster_calculation, row.surface_calculation)
        if all(part.status == RunStatus.SUCCEEDED for part in parts):
            row.energy_kcal_mol = adsorption_energy_kcal_mol(*(part.energy_eh for part in parts))
            row.save(update_fields=["energy_kcal_mol"])
