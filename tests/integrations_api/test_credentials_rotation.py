import io

from cryptography.fernet import Fernet
from django.core.management import call_command

from crm.actors import Actor
from integrations.models import BrandAccount
from integrations.services.brand_accounts import brand_account_create


def _raw_credentials(account):
    from django.db.models import TextField
    from django.db.models.functions import Cast

    return (
        BrandAccount.objects.filter(pk=account.pk)
        .annotate(raw=Cast("credentials", output_field=TextField()))
        .values_list("raw", flat=True)
        .get()
    )


def test_rotation_reencrypts_with_the_new_key_so_the_old_one_can_go(ws, settings):
    old_key = settings.CAUSERIE_ENCRYPTION_KEYS[0]
    account = brand_account_create(
        actor=Actor.for_member(ws.owner),
        platform="telegram",
        name="bot",
        external_id="42",
        credentials={"bot_token": "42:very-secret"},
    )
    new_key = Fernet.generate_key().decode()
    settings.CAUSERIE_ENCRYPTION_KEYS = [new_key, old_key]

    call_command("rotate_credentials", stdout=io.StringIO())

    settings.CAUSERIE_ENCRYPTION_KEYS = [new_key]
    assert BrandAccount.objects.get(pk=account.pk).credentials == {"bot_token": "42:very-secret"}
    assert "very-secret" not in _raw_credentials(account)
