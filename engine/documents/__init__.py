"""Billing documents: what the streams issue (receipts, invoices, credit notes) and how they are
rendered (PDF, EN 16931 XML, session-list CSV) and archived (write-once, hash-chained)."""
