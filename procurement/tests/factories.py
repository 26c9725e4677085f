import datetime
from decimal import Decimal

import factory

from procurement.models import Budget, Department, Vendor, VendorCertification, VendorModel


class DepartmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Department
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"D{n:03d}")
    name = factory.LazyAttribute(lambda d: f"Department {d.code}")


class VendorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Vendor
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"vendor-{n}")
    name = factory.LazyAttribute(lambda v: v.slug.replace("-", " ").title())
    kind = Vendor.Kind.PRODUCER
    country = "CN"
    billing_currency = "CNY"


class VendorCertificationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = VendorCertification

    vendor = factory.SubFactory(VendorFactory)
    kind = VendorCertification.Kind.ISO_27001
    valid_from = datetime.date(2025, 1, 1)
    valid_until = datetime.date(2099, 12, 31)


class VendorModelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = VendorModel

    vendor = factory.SubFactory(VendorFactory)
    model = factory.Sequence(lambda n: f"model-{n}")
    effective_from = datetime.date(2026, 1, 1)
    effective_to = None
    currency = "CNY"
    input_price = Decimal("2.000000")
    output_price = Decimal("8.000000")


class BudgetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Budget

    department = factory.SubFactory(DepartmentFactory)
    fiscal_year = 2026
    amount = Decimal("12000.00")
    currency = "USD"
