"""Billing work that falls due by time: invoices past their due date become overdue without
anyone pressing a button (docs/billing.md)."""

from actors.billing._overdue_pump import OverduePump

__all__ = ["OverduePump"]
