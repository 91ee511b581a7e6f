"""How the API names a user: by username, or null where no user is recorded."""

from rest_framework import serializers


class UsernameField(serializers.CharField):
    """The username of a user foreign key (``source``); null for a row no user made.

    Declared on the key itself rather than ``source="user.username"`` with
    ``default=None``: in a PATCH response DRF leaves out a field whose default
    it would need, so a sample without ``created_by`` lost the key altogether.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(read_only=True, allow_null=True, **kwargs)

    def to_representation(self, user) -> str:
        return user.username
