"""Billing: invoices and credit notes from the plan and the metered usage, numbered per issuing entity."""
