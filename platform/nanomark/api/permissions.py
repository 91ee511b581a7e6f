"""Who may change what through the API: viewers read, members and admins write in their labs.

Reading needs only a login: the querysets are restricted to the user's labs,
so another lab's row is a 404 before any permission is checked.
"""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from nanomark.accounts.labcontext import can_write, writable_labs
from nanomark.accounts.models import Lab


def lab_id_of(row) -> int:
    """The primary key of the lab that ``row`` belongs to (a Lab is its own lab).

    Follows the model's ``lab_path`` (e.g. ``"image__lab"``), one related row per hop.
    """
    if isinstance(row, Lab):
        return row.pk
    *hops, last = row.lab_path.split("__")
    for hop in hops:
        row = getattr(row, hop)
    return getattr(row, f"{last}_id")


class LabWritePermission(BasePermission):
    """Safe methods for every member; other methods need a writer role in the row's lab.

    A viewer without any lab to write in is refused before the request body is
    read; the lab of a new row is checked by the view once the body is valid
    (:meth:`nanomark.api.scoping.LabScopedViewSet.perform_create`).
    """

    message = "Viewers cannot change this lab's data."

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        return request.method in SAFE_METHODS or writable_labs(request.user).exists()

    def has_object_permission(self, request, view, obj) -> bool:
        return request.method in SAFE_METHODS or can_write(request.user, lab_id_of(obj))
