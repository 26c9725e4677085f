"""Files kept in PostgreSQL through Django's storage API (shared by every machine)."""

import pytest
from django.core.files.base import ContentFile

from core.models import StoredFile
from core.storage import DatabaseStorage

pytestmark = pytest.mark.django_db


def test_save_open_list_delete():
    storage = DatabaseStorage()
    name = storage.save("contracts/FA-1/signed.pdf", ContentFile(b"%PDF-1.7 bytes", name="signed.pdf"))
    assert name == "contracts/FA-1/signed.pdf" and storage.exists(name) and storage.size(name) == 14
    second = storage.save("contracts/FA-1/signed.pdf", ContentFile(b"other"))
    assert second != name  # never overwritten
    with storage.open(name) as handle:
        assert handle.read() == b"%PDF-1.7 bytes"
    assert storage.listdir("contracts") == (["FA-1"], [])
    assert StoredFile.objects.get(name=name).content_type == "application/pdf"
    storage.delete(name)
    assert not storage.exists(name)
    with pytest.raises(NotImplementedError):
        storage.url(second)
