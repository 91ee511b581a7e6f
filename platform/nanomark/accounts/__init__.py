"""Labs and memberships: who may see and change which rows."""
