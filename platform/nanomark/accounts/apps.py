from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "nanomark.accounts"
    label = "accounts"
    verbose_name = "Labs and members"
