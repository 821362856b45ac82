"""`engine test`: the offline contract test of a vendor spec against its recorded fixtures."""

from __future__ import annotations

from engine.testing.contract import Check, ContractReport, run_contract

__all__ = ["Check", "ContractReport", "run_contract"]
