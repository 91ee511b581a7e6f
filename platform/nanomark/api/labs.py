"""API of the user's labs and the user's role in each (read-only)."""

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets

from nanomark.accounts.labcontext import WRITER_ROLES
from nanomark.accounts.models import Membership


class LabMembershipSerializer(serializers.ModelSerializer):
    """A lab of the user: slug, name, the user's role and whether it lets them write."""

    slug = serializers.CharField(source="lab.slug")
    name = serializers.CharField(source="lab.name")
    can_write = serializers.SerializerMethodField()

    class Meta:
        model = Membership
        fields = ["slug", "name", "role", "can_write"]
        read_only_fields = fields

    def get_can_write(self, membership: Membership) -> bool:
        return membership.role in WRITER_ROLES


@extend_schema_view(
    retrieve=extend_schema(
        parameters=[OpenApiParameter("slug", str, OpenApiParameter.PATH, description="lab slug")]
    )
)
class LabViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The labs the user belongs to, by name; ``/api/labs/<slug>/`` is one of them."""

    serializer_class = LabMembershipSerializer
    lookup_field = "lab__slug"
    lookup_url_kwarg = "slug"
    filter_backends: list = []

    def get_queryset(self):
        return Membership.objects.filter(user=self.request.user).select_related("lab")
