"""Leads: extract → validate → score → store → push, from a completed form to the bank's CRM.

- ``LeadPipeline`` stores a completed lead form as a deal (one per customer and
  product while it is open) and queues its CRM event, in the caller's transaction;
- ``CrmDispatcher`` delivers queued events to a signed JSON webhook;
- ``mask_phones`` and ``erase_customer`` / ``forget_customer`` keep the
  personal data rules: nothing before consent, everything erasable.
"""

from pipelines.leads.distribute import ManagerPicker
from pipelines.leads.extract import LeadData, LeadInput, Verdict, extract, validate
from pipelines.leads.pipeline import LeadOutcome, LeadPipeline
from pipelines.leads.privacy import ErasureReport, erase_customer, forget_customer, mask_phones
from pipelines.leads.push import CrmDispatcher, RetryPolicy, WebhookClient, sign, verify
from pipelines.leads.score import Scorer, deal_facts

__all__ = [
    "CrmDispatcher",
    "ErasureReport",
    "LeadData",
    "LeadInput",
    "LeadOutcome",
    "LeadPipeline",
    "ManagerPicker",
    "RetryPolicy",
    "Scorer",
    "Verdict",
    "WebhookClient",
    "deal_facts",
    "erase_customer",
    "extract",
    "forget_customer",
    "mask_phones",
    "sign",
    "validate",
    "verify",
]
