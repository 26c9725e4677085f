"""FX rate pages: the table, entering a rate by hand, importing an ECB or pairs CSV."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views import View

from core import services
from core.currencies import currency_choices
from core.filtersets import FxRateFilterSet
from core.models import FxRate
from core.policy import CHANGE
from core.tables import FxRateTable

from .generic import ObjectDeleteView, ObjectEditView, ObjectListView
from .mixins import PolicyRequiredMixin


class FxRateForm(forms.ModelForm):
    base = forms.ChoiceField(choices=currency_choices, help_text="1 of this currency…")
    quote = forms.ChoiceField(choices=currency_choices, help_text="…buys `rate` of this one (ECB: EUR → USD 1.08).")

    class Meta:
        model = FxRate
        fields = ["date", "base", "quote", "rate"]
        widgets = {"date": forms.DateInput(attrs={"type": "date"})}


class FxImportForm(forms.Form):
    file = forms.FileField(
        help_text="The ECB's eurofxref-hist.csv (or eurofxref.csv), or a CSV with columns date,base,quote,rate."
    )


class FxRateListView(ObjectListView):
    policy_resource = "fx_rate"
    queryset = FxRate.objects.all()
    table_class = FxRateTable
    filterset_class = FxRateFilterSet
    title = "FX rates"
    create_url_name = "core:fxrate_create"
    template_name = "core/fxrate_list.html"
    empty_message = "No rates yet. Import the ECB reference rates or enter one by hand."


class FxRateEditView(ObjectEditView):
    policy_resource = "fx_rate"
    model = FxRate
    form_class = FxRateForm

    def perform(self, form):
        return services.fx_rate_save(fx_rate=self.object, actor=self.request.user, **form.cleaned_data)

    def get_success_url(self, result=None):
        return reverse("core:fxrate_list")


class FxRateDeleteView(ObjectDeleteView):
    policy_resource = "fx_rate"
    model = FxRate
    success_url_name = "core:fxrate_list"

    def perform(self, obj):
        obj._history_user = self.request.user
        obj.delete()


class FxImportView(PolicyRequiredMixin, View):
    policy_resource = "fx_rate"
    policy_action = CHANGE

    def get(self, request):
        return render(request, "core/fx_import.html", {"form": FxImportForm(), "title": "Import FX rates"})

    def post(self, request):
        form = FxImportForm(request.POST, request.FILES)
        if not form.is_valid():
            return render(request, "core/fx_import.html", {"form": form, "title": "Import FX rates"}, status=400)
        run = services.fx_import_start(file=form.cleaned_data["file"], actor=request.user)
        messages.info(request, "Import started; the rates appear when it finishes.")
        return redirect("core:run_detail", pk=run.pk)
