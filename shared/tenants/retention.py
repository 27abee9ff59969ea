"""Retention of the tenants area: synced end-user data goes when the partner's subscription ends.

Removing a tenant deletes its data at once (`TenantService.delete`); this rule keeps the other
half of the promise, for every tenant of a partner whose subscription has ended, at the
deletion schedule's `endUserDataAt`. The tenant row goes last, so a sweep cut off half-way finds
the tenant again and finishes it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from shared.privacy.retention import (
    CONFIGURATION,
    Candidate,
    PartnerDataRule,
    PartnerRecord,
    SweepScope,
    delete_row,
    end_user_data_at,
    personnel_data_at,
)

CATEGORY = "end-user data"
_RULES_TESTS = "tests/integration/test_retention_rules.py::"


class EndUserDataAtSubscriptionEnd(PartnerDataRule):
    name = "tenants.end-user-data"
    covers = (
        "tenants",
        "tenantclaims",
        "tenantsyncs",
        "tenantusers",
        "tenantdirgroups",
        "tenantbaselines",
        "tenantsnapshots",
        "tenantlifecycle",
        "subjectindex",
        "subjectflags",
        "reportrows",
    )
    tested_by = (
        "tests/integration/test_tenant_retention.py::"
        "test_synced_users_go_a_day_after_the_subscription_ends_not_a_day_before"
    )

    def due(self, scope: SweepScope, partner: PartnerRecord) -> datetime | None:
        return end_user_data_at(partner.subscription)

    def items(self, scope: SweepScope, partner_id: str) -> Iterator[tuple[str, str, Any]]:
        from shared.tenants.records import TENANTS

        rows = scope.account.table(TENANTS).query_entities(
            "PartitionKey eq @pk and RowKey lt '~'", parameters={"pk": partner_id}, select=["RowKey"]
        )
        for row in rows:  # a partition comes back in RowKey order, as resuming needs
            yield str(row["RowKey"]), CATEGORY, str(row["RowKey"])

    def remove(self, scope: SweepScope, partner_id: str, ref: Any) -> bool:
        from shared.tenants.claims import CLAIMS, release_claim
        from shared.tenants.records import TENANTS, purge_tenant_data

        purge_tenant_data(scope.account, partner_id, str(ref))
        # The claim goes with the data: the customer is free for another partner's proof at once.
        release_claim(scope.router.control.table(CLAIMS), str(ref), partner_id)
        return delete_row(scope.account.table(TENANTS), partner_id, str(ref))


class PartnerTenantRecords(PartnerDataRule):
    """A terminated partner's own rows beside its tenants (the tenant count, its baseline settings,
    its connected Entra tenant and any sign-in left), with its personnel data: 24 months after the end.
    """

    name = "tenants.partner-records"
    covers = ("tenants", "tenantbaselines", "adminconsents")
    tested_by = (
        _RULES_TESTS + "test_a_terminated_partners_contacts_breaches_and_requests_go_even_after_missed_sweeps"
    )

    def due(self, scope: SweepScope, partner: PartnerRecord) -> datetime | None:
        return personnel_data_at(partner.subscription)

    def items(self, scope: SweepScope, partner_id: str) -> Iterator[tuple[str, str, Any]]:
        from shared.tenants.records import BASELINES, TENANTS
        from shared.tenants.signin import SIGN_INS

        for table in (SIGN_INS, BASELINES, TENANTS):  # the item keys' order
            rows = scope.account.table(table).query_entities(
                "PartitionKey eq @pk and RowKey ge '~'" if table != SIGN_INS else "PartitionKey eq @pk",
                parameters={"pk": partner_id},
                select=["RowKey"],
            )
            for row in rows:
                yield f"{table}/{row['RowKey']}", CONFIGURATION, (table, str(row["RowKey"]))

    def remove(self, scope: SweepScope, partner_id: str, ref: Any) -> bool:
        table, row_key = ref
        return delete_row(scope.account.table(table), partner_id, row_key)


class ExpiredSignIns:
    """Pending administrator sign-ins nobody completed: gone once their link has expired."""

    name = "tenants.expired-sign-ins"
    covers = ("adminconsents",)
    tested_by = _RULES_TESTS + "test_pending_sign_ins_go_when_their_link_expires"

    def candidates(self, scope: SweepScope, after: str | None) -> Iterator[Candidate]:
        from shared.clock import isoformat
        from shared.tenants.signin import SIGN_INS

        rows = scope.account.table(SIGN_INS).query_entities(
            f"expiresAt le '{isoformat(scope.as_of)}'", select=["PartitionKey", "RowKey"]
        )
        keys = sorted(f"{row['PartitionKey']}|{row['RowKey']}" for row in rows)
        for key in keys:
            if after is None or key > after:
                yield Candidate(key, CONFIGURATION, tuple(key.split("|", 1)))

    def delete(self, scope: SweepScope, candidate: Candidate) -> bool:
        from shared.tenants.signin import SIGN_INS

        partner_id, row_key = candidate.ref
        return delete_row(scope.account.table(SIGN_INS), partner_id, row_key)
