"""Vendor pages, with their certifications and the price book."""

from __future__ import annotations

from django.utils import timezone

from core.policy import CHANGE, VIEW, can
from core.views.generic import ObjectDeleteView, ObjectDetailView, ObjectEditView, ObjectListView

from .. import selectors, services
from ..filtersets import VendorCertificationFilterSet, VendorFilterSet, VendorModelFilterSet
from ..forms import VendorCertificationForm, VendorForm, VendorModelForm
from ..models import Vendor, VendorCertification, VendorModel
from ..tables import VendorCertificationTable, VendorModelTable, VendorTable


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
        user = self.request.user
        context["certifications"] = self.object.certifications.all()
        context["can_change_certifications"] = can(user, "vendor_certification", CHANGE)
        # List prices are for company-wide readers (the policy's vendor_model), not every vendor reader.
        context["can_view_prices"] = can(user, "vendor_model", VIEW)
        context["can_view_scorecard"] = can(user, "scorecard", VIEW)
        context["can_change_prices"] = can(user, "vendor_model", CHANGE)
        if context["can_view_prices"]:
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


class VendorPrefillMixin:
    """`?vendor=<slug>` preselects the vendor of a new object (the vendor page's "Add" buttons)."""

    def get_initial(self):
        initial = super().get_initial()
        if self.object is None and self.request.GET.get("vendor"):
            initial["vendor"] = self.request.GET["vendor"]
        return initial


# Certifications --------------------------------------------------------------------------------


class CertificationListView(ObjectListView):
    policy_resource = "vendor_certification"
    table_class = VendorCertificationTable
    filterset_class = VendorCertificationFilterSet
    title = "Vendor certifications"
    create_url_name = "procurement:certification_create"
    empty_message = "No certifications recorded."

    def get_queryset(self):
        return self.scope(selectors.certification_list())


class CertificationDetailView(ObjectDetailView):
    policy_resource = "vendor_certification"
    model = VendorCertification
    template_name = "procurement/certification_detail.html"

    def get_queryset(self):
        return self.scope(selectors.certification_list())


class CertificationEditView(VendorPrefillMixin, ObjectEditView):
    policy_resource = "vendor_certification"
    model = VendorCertification
    form_class = VendorCertificationForm

    @property
    def title(self):
        return f"Edit {self.object}" if self.object else "New certification"

    def perform(self, form):
        return services.vendor_certification_save(
            certification=self.object, actor=self.request.user, **form.service_data()
        )


class CertificationDeleteView(ObjectDeleteView):
    policy_resource = "vendor_certification"
    model = VendorCertification
    success_url_name = "procurement:certification_list"

    def perform(self, obj):
        services.vendor_certification_delete(certification=obj, actor=self.request.user)


# Price book ------------------------------------------------------------------------------------


class VendorModelListView(ObjectListView):
    policy_resource = "vendor_model"
    table_class = VendorModelTable
    filterset_class = VendorModelFilterSet
    title = "Price book"
    create_url_name = "procurement:vendormodel_create"
    empty_message = "No list prices yet."

    def get_queryset(self):
        return self.scope(selectors.vendor_model_list())

    def get_export_filename(self, export_format):
        return f"price_book.{export_format}"


class VendorModelDetailView(ObjectDetailView):
    policy_resource = "vendor_model"
    model = VendorModel
    template_name = "procurement/vendormodel_detail.html"

    def get_queryset(self):
        return self.scope(selectors.vendor_model_list())

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["periods"] = selectors.vendor_model_periods(self.object)
        today = timezone.now().date()
        in_force = selectors.list_price_for(self.object.vendor_id, self.object.model, today)
        context["in_force_today"] = in_force is not None and in_force.pk == self.object.pk
        return context


class VendorModelEditView(VendorPrefillMixin, ObjectEditView):
    policy_resource = "vendor_model"
    model = VendorModel
    form_class = VendorModelForm

    @property
    def title(self):
        return f"Edit list price {self.object}" if self.object else "New list price"

    def perform(self, form):
        return services.vendor_model_save(vendor_model=self.object, actor=self.request.user, **form.service_data())


class VendorModelDeleteView(ObjectDeleteView):
    policy_resource = "vendor_model"
    model = VendorModel
    success_url_name = "procurement:vendormodel_list"

    def perform(self, obj):
        services.vendor_model_delete(vendor_model=obj, actor=self.request.user)
