from __future__ import annotations

from uuid import UUID

from allauth.account.adapter import get_adapter
from allauth.mfa.utils import is_mfa_enabled
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from apps.accounts.http import UserRequest
from apps.accounts.models import User
from apps.core.errors import ServiceError
from apps.tenants import selectors, services
from apps.tenants.access import (
    get_invitation,
    get_membership,
    get_notification,
    manager_required,
)
from apps.tenants.adapters import PENDING_INVITATION_SESSION_KEY
from apps.tenants.forms import InviteForm, RoleForm, SecurityForm, TenantForm
from apps.tenants.http import MemberRequest
from apps.tenants.middleware import LAST_TENANT_SESSION_KEY
from apps.tenants.models import Role, can_change_role, can_remove


def home(request: HttpRequest) -> HttpResponse:
    """Send people where they belong: their last organisation, or the login page."""
    user = request.user
    if not isinstance(user, User) or not user.is_authenticated:
        return redirect("account_login")
    return redirect_to_default_tenant(request, user)


def redirect_to_default_tenant(request: HttpRequest, user: User) -> HttpResponse:
    """The last organisation the user opened, else their first, else the create page."""
    tenants = selectors.tenants_for_user(user_id=user.pk)
    last = request.session.get(LAST_TENANT_SESSION_KEY)
    for tenant in tenants:
        if tenant.slug == last:
            return redirect("tenants:dashboard", tenant.slug)
    if tenants:
        return redirect("tenants:dashboard", tenants[0].slug)
    return redirect("tenants:create")


@login_required
def tenant_create_view(request: UserRequest) -> HttpResponse:
    form = TenantForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            tenant = services.tenant_create(owner=request.user, name=form.cleaned_data["name"])
        except ServiceError as exc:
            form.add_error("name", exc.message)
        else:
            messages.success(request, f"{tenant.name} is ready. Invite your team from Members.")
            return redirect("tenants:dashboard", tenant.slug)
    return render(request, "tenants/create.html", {"form": form})


def dashboard(request: MemberRequest, slug: str) -> HttpResponse:
    tenant = request.tenant
    members = selectors.members_of(tenant)
    manager = request.membership.can_manage
    context = {
        "notifications": list(selectors.unread_notifications(tenant)[:5]) if manager else [],
        "member_count": members.count(),
        "pending_count": selectors.pending_invitations(tenant).count(),
        "limits": tenant.limits,
        "recent_events": list(selectors.audit_events(tenant)[:5])
        if request.membership.can_manage
        else [],
    }
    return render(request, "tenants/dashboard.html", context)


def members(request: MemberRequest, slug: str) -> HttpResponse:
    tenant = request.tenant
    membership = request.membership
    form = InviteForm(request.POST or None, can_invite_owner=membership.is_owner)
    if request.method == "POST":
        if not membership.can_manage:
            messages.error(request, "Only owners and admins can invite members.")
            return redirect("tenants:members", tenant.slug)
        if form.is_valid():
            try:
                invitation, _token = services.invitation_create(
                    tenant=tenant,
                    actor=membership,
                    email=form.cleaned_data["email"],
                    role=form.cleaned_data["role"],
                )
            except ServiceError as exc:
                form.add_error("email", exc.message)
            else:
                messages.success(request, f"Invitation sent to {invitation.email}.")
                return redirect("tenants:members", tenant.slug)
    people = list(selectors.members_of(tenant))
    for person in people:
        person.editable = can_change_role(membership, person)  # type: ignore[attr-defined]
        person.removable = can_remove(membership, person)  # type: ignore[attr-defined]
    context = {
        "members": people,
        "invitations": list(selectors.pending_invitations(tenant)),
        "form": form,
        "roles": Role.choices,
        "seats": tenant.limits.seats,
        "now": timezone.now(),
    }
    return render(request, "tenants/members.html", context, status=400 if form.errors else 200)


@require_POST
def member_role(request: MemberRequest, slug: str, membership_id: UUID) -> HttpResponse:
    target = get_membership(request, membership_id)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a role: owner, admin or member.")
    else:
        try:
            services.member_change_role(
                actor=request.membership, membership=target, role=form.cleaned_data["role"]
            )
        except ServiceError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(
                request, f"{target.user.email} is now {target.get_role_display().lower()}."
            )
    return redirect("tenants:members", slug)


@require_POST
def member_remove(request: MemberRequest, slug: str, membership_id: UUID) -> HttpResponse:
    target = get_membership(request, membership_id)
    actor = request.membership
    try:
        services.member_remove(actor=actor, membership=target)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("tenants:members", slug)
    if target.pk == actor.pk:
        messages.success(request, f"You left {target.tenant.name}.")
        request.session.pop(LAST_TENANT_SESSION_KEY, None)
        return redirect("home")
    messages.success(request, f"{target.user.email} was removed.")
    return redirect("tenants:members", slug)


@require_POST
@manager_required
def notification_dismiss(request: MemberRequest, slug: str, notification_id: UUID) -> HttpResponse:
    note = get_notification(request, notification_id)
    services.notification_dismiss(notification=note)
    return redirect("tenants:dashboard", slug)


@require_POST
@manager_required
def invitation_revoke(request: MemberRequest, slug: str, invitation_id: UUID) -> HttpResponse:
    invitation = get_invitation(request, invitation_id)
    try:
        services.invitation_revoke(
            tenant=request.tenant, actor=request.membership, invitation=invitation
        )
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Invitation for {invitation.email} revoked.")
    return redirect("tenants:members", slug)


@manager_required
def tenant_settings(request: MemberRequest, slug: str) -> HttpResponse:
    """Two forms on one page: the name (``form``) and security (``security_form``); the
    submit button's ``section`` says which was sent."""
    tenant = request.tenant
    section = request.POST.get("section") if request.method == "POST" else None
    form = TenantForm(request.POST if section == "general" else None, initial={"name": tenant.name})
    security_form = SecurityForm(
        request.POST if section == "security" else None,
        initial={
            "require_mfa": tenant.require_mfa,
            "suspend_anomalous_keys": tenant.suspend_anomalous_keys,
        },
    )
    if section == "general" and form.is_valid():
        services.tenant_update(
            tenant=tenant, actor=request.membership, name=form.cleaned_data["name"]
        )
        messages.success(request, "Organisation updated.")
        return redirect("tenants:settings", tenant.slug)
    if section == "security" and security_form.is_valid():
        wanted = dict(security_form.cleaned_data)
        if not request.membership.is_owner:
            # The box is disabled for admins, so the browser does not send it.
            wanted["require_mfa"] = tenant.require_mfa
        try:
            services.tenant_update_security(tenant=tenant, actor=request.membership, **wanted)
        except ServiceError as exc:
            security_form.add_error(None, exc.message)
        else:
            messages.success(request, "Security settings saved.")
            return redirect("tenants:settings", tenant.slug)
    context = {
        "form": form,
        "security_form": security_form,
        "limits": tenant.limits,
        "own_mfa": is_mfa_enabled(request.user),
    }
    status = 400 if form.errors or security_form.errors else 200
    return render(request, "tenants/settings.html", context, status=status)


@manager_required
def audit_log(request: MemberRequest, slug: str) -> HttpResponse:
    tenant = request.tenant
    page = Paginator(selectors.audit_events(tenant), 50).get_page(request.GET.get("page"))
    return render(request, "tenants/audit.html", {"page": page})


def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    """The emailed link. Anyone holding it sees who invited them; accepting needs a login."""
    invitation = selectors.invitation_by_token(token)
    if invitation is None:
        context = {"error": services.INVALID_INVITATION}
        return render(request, "tenants/invitation.html", context, status=404)
    problem = services.invitation_problem(invitation)
    if problem:
        return render(request, "tenants/invitation.html", {"error": problem}, status=410)
    if not request.user.is_authenticated:
        # Signing up from here joins this organisation instead of creating a new one; the
        # invited address is verified (its owner opened the emailed link), so signing up
        # with it needs no second email.
        request.session[PENDING_INVITATION_SESSION_KEY] = token
        get_adapter(request).stash_verified_email(request, invitation.email)
        next_url = reverse("invitation_accept", args=[token])
        return render(
            request, "tenants/invitation.html", {"invitation": invitation, "next": next_url}
        )
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "accept":
                membership = services.invitation_accept(token=token, user=request.user)
                request.session.pop(PENDING_INVITATION_SESSION_KEY, None)
                messages.success(request, f"Welcome to {membership.tenant.name}.")
                return redirect("tenants:dashboard", membership.tenant.slug)
            if action == "decline":
                services.invitation_decline(token=token, user=request.user)
                request.session.pop(PENDING_INVITATION_SESSION_KEY, None)
                messages.info(request, "Invitation declined.")
                return redirect("home")
            error = "Choose accept or decline."
        except ServiceError as exc:
            error = exc.message
        return render(
            request,
            "tenants/invitation.html",
            {"invitation": invitation, "error": error},
            status=400,
        )
    return render(request, "tenants/invitation.html", {"invitation": invitation})
