"""Value objects shared by the unit tests of the billing rules: stable ids, locations, tax rates, accounts."""

from __future__ import annotations

import uuid
from decimal import Decimal

from flexbill.billing.model import AccountRef, LocationTerms
from flexbill.invoicing.model import TaxComponent, TaxRate

D = Decimal


def uid(name: str) -> uuid.UUID:
    """A stable id per name, so that failures print the same ids every run."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"flexbill-test:{name}")


LON = LocationTerms(uid("LON"), "LON", "GBP", prices_include_tax=False)
PAR = LocationTerms(uid("PAR"), "PAR", "EUR", prices_include_tax=True)
TYO = LocationTerms(uid("TYO"), "TYO", "JPY", prices_include_tax=False)
AKL = LocationTerms(uid("AKL"), "AKL", "NZD", prices_include_tax=False)
LOCATIONS = {loc.id: loc for loc in (LON, PAR, TYO, AKL)}

VAT20 = TaxRate(uid("VAT20"), "VAT20", "VAT 20%", (TaxComponent("VAT", D(20)),))
GST15 = TaxRate(uid("GST15"), "GST15", "GST 15%", (TaxComponent("GST", D(15)),))
JCT10 = TaxRate(uid("JCT10"), "JCT10", "JCT 10%", (TaxComponent("JCT", D(10)),))
ZERO_RATED = TaxRate(uid("ZERO"), "ZERO", "No VAT", (TaxComponent("VAT", D(0)),))

MEMBERSHIP_FEES = AccountRef(uid("200"), "200")
ONE_OFF_FEES = AccountRef(uid("210"), "210")

ACME = uid("Acme Ltd")
GLOBEX = uid("Globex")
