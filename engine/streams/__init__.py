"""The three billing streams on top of the store: what turns stored Decisions into documents.

* ``adhoc``        one document per ad-hoc session at once (``issue_adhoc_documents``);
* ``subscription`` base fee + consumption per customer and cycle (``close_subscription_cycle``);
* ``msp``          one consolidated invoice per MSP and period (``close_msp_period``), aggregated
                   in SQL over ``billable_items``/``billable_lines``;
* ``close``        the period protocol (open -> closing -> closed, resumable, one closer at a time);
* ``worker``       delivers the outbox to the billing provider and the mailer, then handles the
                   provider's status events (``events``).

A stream never talks to a provider: it claims the document's business key, draws the number,
builds the ``BillingDocument`` and enqueues it in the outbox, all in one transaction
(``documents.issue``). The provider adapter (``engine.providers``) only sees the outbox.
"""
