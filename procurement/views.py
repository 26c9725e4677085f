"""Procurement pages: vendors (with certifications and price book), departments, budgets."""

from __future__ import annotations

from django.utils import timezone

from core.views.generic import ObjectDeleteView, ObjectDetailView, ObjectEditView, ObjectListView

from . import selectors, services
from .filtersets import VendorFilterSet
from .forms import VendorForm
from .models import Vendor
from .tables import VendorTable


class VendorListView(ObjectListView):
    policy_resource = "vendor"
    table_class = VendorTable
    filterset_class = VendorFilterSet
    title = "Vendors"
    create_url_name = "procurement:vendor_create"
    empty_message = "No vendors yet. Add the vendors you buy tokens from."

    def get_queryset(self):
        return self.scope(selectors.vendor_list())


class VendorDetailView(ObjectDetailView):
    policy_resource = "vendor"
    model = Vendor
    slug_field = slug_url_kwarg = "slug"
    template_name = "procurement/vendor_detail.html"

    def get_queryset(self):
        return self.scope(selectors.vendor_list())

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["certifications"] = self.object.certifications.all()
        context["current_prices"] = selectors.vendor_prices_in_force(vendor=self.object, on=timezone.now().date())
        return context


class VendorEditView(ObjectEditView):
    policy_resource = "vendor"
    model = Vendor
    form_class = VendorForm
    lookup_field = "slug"

    def perform(self, form):
        data = {name: form.cleaned_data[name] for name in form.Meta.fields if name != "aliases"}
        return services.vendor_save(
            vendor=self.object, actor=self.request.user, aliases=form.cleaned_data["aliases"], **data
        )


class VendorDeleteView(ObjectDeleteView):
    policy_resource = "vendor"
    model = Vendor
    lookup_field = "slug"
    success_url_name = "procurement:vendor_list"

    def perform(self, obj):
        services.vendor_delete(vendor=obj, actor=self.request.user)
