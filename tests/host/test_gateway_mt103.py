"""SWIFT MT103 in (userland/gateway/mt103.py): the sample becomes the same
Payment a pacs.008 gives, every mandatory field and its format are checked
with an MT error line, and corrupted messages never crash the parser."""
import os

import pytest
from hypothesis import given, settings, strategies as st

from userland.gateway import mt103
from userland.gateway.mt103 import MtError

MT = open(os.path.join(os.path.dirname(os.path.dirname(__file__)), "vectors", "gateway", "mt103.txt")).read()


def test_the_sample_becomes_a_payment():
    ref, pays = mt103.parse(MT)
    p = pays[0]
    assert (ref, p.source, str(p.amount), p.charge_bearer, p.debtor, p.debtor_account, p.creditor,
            p.creditor_account, p.debtor_agent, p.creditor_agent, p.settlement_date) == \
        ("QXREF0001", "MT103", "1250.50 USD", "SHAR", "ALICE EXAMPLE AND CO", "1", "BOB EXAMPLE LTD", "2",
         "QNXBUS33XXX", "QNXBGB2LXXX", "2026-11-26")


CASES = [
    (":20:QXREF0001\n", "", "M02", "20"),
    (":23B:CRED\n", ":23B:FAST\n", "T08", "23B"),
    (":32A:261126USD1250,50", ":32A:261332USD1250,50", "T50", "32A"),
    (":32A:261126USD1250,50", ":32A:260229USD1250,50", "T50", "32A"),
    (":32A:261126USD1250,50", ":32A:261126XYZ1250,50", "T52", "32A"),
    (":32A:261126USD1250,50", ":32A:261126USD1250.50", "T40", "32A"),
    (":32A:261126USD1250,50", ":32A:261126USD1250,505", "T43", "32A"),
    (":32A:261126USD1250,50", ":32A:261126JPY1250,5", "T43", "32A"),
    (":32A:261126USD1250,50", ":32A:261126USD0,00", "T40", "32A"),
    (":71A:SHA", ":71A:ALL", "T08", "71A"),
    (":71A:SHA\n", "", "M02", "71A"),
    (":59:/2\nBOB EXAMPLE LTD\n", "", "M02", "59a"),
    (":59:/2\nBOB EXAMPLE LTD\n", ":59A:/2\nNOTABIC\n", "T27", "59A"),
    (":20:QXREF0001", ":20:/QXREF", "T26", "20"),
    (":20:QXREF0001", ":20:QXREF00010000000001", "M04", "20"),
    (":23B:CRED\n", ":23B:CRED\n:23B:CRED\n", "M03", "23B"),
    ("{2:I103QNXBGB2LXXXXN}", "{2:I202QNXBGB2LXXXXN}", "M01", "block 2"),
    ("{2:I103QNXBGB2LXXXXN}", "", "M01", "block 2"),
    ("-}{5:", "}{5:", "M01", "block 4"),
    ("ALICE EXAMPLE AND CO", "ALICE EXAMPLE AND CO WITH A NAME FAR TOO LONG", "M04", "50K"),
    ("BOB EXAMPLE LTD", "BOB EXAMPLE LTD \u00e9", "M04", "59"),
]


@pytest.mark.parametrize("old,new,code,field", CASES)
def test_each_check_gives_its_error_line(old, new, code, field):
    assert old in MT
    with pytest.raises(MtError) as e:
        mt103.parse(MT.replace(old, new, 1))
    assert (e.value.code, e.value.field) == (code, field), str(e.value)
    assert str(e.value).startswith("%s %s: " % (code, field))


@settings(max_examples=400, deadline=None)
@given(st.integers(0, len(MT) - 1), st.text(min_size=0, max_size=4))
def test_corrupted_messages_are_parsed_or_rejected_never_crash(at, junk):
    try:
        mt103.parse(MT[:at] + junk + MT[at + 1:])
    except MtError as e:
        assert e.code and e.field
