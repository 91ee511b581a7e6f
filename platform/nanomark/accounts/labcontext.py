"""The lab a user is working in (the lab switcher), and who may change what in a lab.

The web UI shows one lab at a time: the one chosen with the switcher (kept in
the session) or, by default, the user's first lab. The REST API instead lists
every lab of the user and takes ``?lab=<slug>`` as a filter. Viewers read;
members and admins also write.
"""

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseRedirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from nanomark.accounts.choices import Role
from nanomark.accounts.models import Lab

SESSION_KEY = "nanomark_lab_id"

#: Roles that may create and change a lab's rows.
WRITER_ROLES = (Role.MEMBER, Role.ADMIN)


def user_labs(user):
    """The labs ``user`` is a member of, by name (none for anonymous users)."""
    if not user.is_authenticated:
        return Lab.objects.none()
    return Lab.objects.filter(memberships__user=user).order_by("name")


def writable_labs(user):
    """The labs where ``user`` is a member or an admin."""
    if not user.is_authenticated:
        return Lab.objects.none()
    return Lab.objects.filter(memberships__user=user, memberships__role__in=WRITER_ROLES).order_by(
        "name"
    )


def can_write(user, lab_id: int) -> bool:
    """Whether ``user`` may create or change rows of lab ``lab_id``."""
    return writable_labs(user).filter(pk=lab_id).exists()


def require_write(user, lab_id: int) -> None:
    """Raise PermissionDenied (403) unless ``user`` may write in lab ``lab_id``."""
    if not can_write(user, lab_id):
        raise PermissionDenied("Viewers cannot change this lab's data.")


def current_lab(request: HttpRequest) -> Lab | None:
    """The lab chosen in this session, else the user's first lab (None without labs)."""
    labs = user_labs(request.user)
    chosen = request.session.get(SESSION_KEY)
    lab = labs.filter(pk=chosen).first() if chosen else None
    return lab or labs.first()


@require_POST
def switch_lab(request: HttpRequest) -> HttpResponseRedirect:
    """Make the posted ``lab`` (a slug of one of the user's labs) the session's lab."""
    lab = user_labs(request.user).filter(slug=request.POST.get("lab", "")).first()
    if lab is not None:
        request.session[SESSION_KEY] = lab.pk
    target = request.POST.get("next", "/")
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        target = "/"
    return HttpResponseRedirect(target)


def lab_context(request: HttpRequest) -> dict:
    """Template context: the user's labs, the current lab and whether the user may write in it."""
    if not request.user.is_authenticated:
        return {}
    lab = current_lab(request)
    return {
        "labs": user_labs(request.user),
        "current_lab": lab,
        "can_write": lab is not None and can_write(request.user, lab.pk),
    }
