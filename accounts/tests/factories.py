import factory

from accounts.models import User
from core.roles import Role
from core.testing import PASSWORD


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    role = Role.FINANCE
    password = factory.django.Password(PASSWORD)
