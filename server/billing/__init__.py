"""Money: the catalog's prices and plans, invoices, payments, insurance claims and reports."""
