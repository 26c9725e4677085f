"""Files in PostgreSQL through Django's storage API (the default: several machines share them).

Files are never served by URL: each is downloaded through a view that checks the permission of
the object owning it (a signed contract, an invoice PDF, an uploaded feed).
"""

from __future__ import annotations

import mimetypes
import posixpath

from django.core.files.base import ContentFile
from django.core.files.storage import Storage
from django.utils.deconstruct import deconstructible


@deconstructible
class DatabaseStorage(Storage):
    def _model(self):
        from .models import StoredFile

        return StoredFile

    def _open(self, name, mode="rb"):
        row = self._model().objects.only("content").get(name=name)
        file = ContentFile(bytes(row.content), name=name)
        return file

    def _save(self, name, content):
        data = content.read()
        if isinstance(data, str):
            data = data.encode()
        content_type = getattr(content, "content_type", None) or mimetypes.guess_type(name)[0] or ""
        self._model().objects.create(name=name, content=data, size=len(data), content_type=content_type)
        return name

    def exists(self, name) -> bool:
        return self._model().objects.filter(name=name).exists()

    def delete(self, name) -> None:
        self._model().objects.filter(name=name).delete()

    def size(self, name) -> int:
        return self._model().objects.values_list("size", flat=True).get(name=name)

    def listdir(self, path):
        prefix = path.rstrip("/") + "/" if path else ""
        names = self._model().objects.filter(name__startswith=prefix).values_list("name", flat=True)
        dirs, files = set(), []
        for name in names:
            rest = name[len(prefix) :]
            if "/" in rest:
                dirs.add(rest.split("/", 1)[0])
            else:
                files.append(rest)
        return sorted(dirs), sorted(files)

    def get_available_name(self, name, max_length=None):
        return super().get_available_name(posixpath.normpath(name), max_length=max_length)

    def url(self, name):
        raise NotImplementedError("Files in the database are downloaded through views that check permissions.")
