"""The stand-in's generated tenants: deterministic per id, internally consistent, realistic enough."""

from __future__ import annotations

from localdev.graph_tenant import GLOBAL_ADMIN_TEMPLATE, USER_PROPERTIES, generate_tenant

TENANT = "3b0f6c7e-5a4d-4e2b-9c1a-0d8e7f6a5b4c"


def test_same_id_gives_the_same_tenant_and_another_id_another() -> None:
    first, again = generate_tenant(TENANT, 300), generate_tenant(TENANT, 300)
    assert first.users == again.users
    assert first.members == again.members
    other = generate_tenant("7c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f", 300)
    assert set(other.users).isdisjoint(first.users)
    assert other.organization["displayName"] != first.organization["displayName"] or (
        other.default_domain != first.default_domain
    )


def test_users_are_unique_and_complete() -> None:
    tenant = generate_tenant(TENANT, 1000)
    assert len(tenant.users) == 1000
    upns = [u["userPrincipalName"] for u in tenant.users.values()]
    assert len(set(upns)) == 1000
    assert all(upn.endswith("@" + tenant.default_domain) for upn in upns)
    assert all(set(u) == USER_PROPERTIES for u in tenant.users.values())


def test_licences_fit_the_subscriptions_and_need_a_usage_location() -> None:
    tenant = generate_tenant(TENANT, 1000)
    for sku in tenant.skus:
        consumed = sum(
            1 for u in tenant.users.values() for lic in u["assignedLicenses"] if lic["skuId"] == sku["skuId"]
        )
        assert consumed <= sku["prepaidUnits"]["enabled"]
    licensed = [u for u in tenant.users.values() if u["assignedLicenses"]]
    assert licensed and all(u["usageLocation"] for u in licensed)


def test_roles_groups_and_policies_refer_to_real_objects() -> None:
    tenant = generate_tenant(TENANT, 200)
    admins = [a for a in tenant.role_assignments if a["roleDefinitionId"] == GLOBAL_ADMIN_TEMPLATE]
    assert len(admins) == 2
    assert all(a["principalId"] in tenant.users for a in tenant.role_assignments)
    assert all(set(m) <= set(tenant.users) for m in tenant.members.values())
    # Entra ID does not allow security defaults alongside enabled conditional access.
    enabled = [p for p in tenant.ca_policies if p["state"] == "enabled"]
    assert tenant.security_defaults["isEnabled"] is (not enabled)


def test_added_users_are_deterministic_and_new() -> None:
    one, two = generate_tenant(TENANT, 50), generate_tenant(TENANT, 50)
    assert one.new_user() == two.new_user()
    fresh = one.new_user({"displayName": "Given Name"})
    assert fresh["id"] not in one.users
    assert fresh["displayName"] == "Given Name"
