from django.urls import path

from . import views

app_name = "accounts"

urlpatterns = [
    path("settings/users/", views.UserListView.as_view(), name="user_list"),
    path("settings/users/new/", views.UserEditView.as_view(), name="user_create"),
    path("settings/users/<str:username>/", views.UserEditView.as_view(), name="user_edit"),
    path("settings/api-tokens/", views.ApiTokenListView.as_view(), name="token_list"),
    path("settings/api-tokens/new/", views.ApiTokenCreateView.as_view(), name="token_create"),
    path("settings/api-tokens/<int:pk>/revoke/", views.ApiTokenRevokeView.as_view(), name="token_revoke"),
    path("approvals/", views.ApprovalListView.as_view(), name="approval_list"),
    path("approvals/<int:pk>/approve/", views.ApprovalDecisionView.as_view(approve=True), name="approval_approve"),
    path("approvals/<int:pk>/reject/", views.ApprovalDecisionView.as_view(approve=False), name="approval_reject"),
]
