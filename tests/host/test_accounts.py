"""The account directory (userland/gateway/accounts.py, accounts_store.py):
IBANs checked as ISO 13616 says (country length, mod 97), resolved to ledger
accounts with ISO 20022's reason codes, kept in two copies in storage so a
reset mid-write loses nothing, changed by the shell's requests and the
host's parts; and payments by IBAN through the gateway end to end. The IBAN
rules and resolve() run under MicroPython too and must answer the same."""
import json
import os

import pytest

from drivers.flash.region import MemoryImage, Region
from tests.host import upy
from userland.compliance.engine import Engine
from userland.compliance.risk import Risk
from userland.gateway import accounts, accounts_store, layout, service
from userland.ledger.state import Account, Ledger, Transfer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RULES = json.load(open(os.path.join(ROOT, "userland", "compliance", "rules.json")))
PACS = open(os.path.join(ROOT, "tests", "vectors", "gateway", "pacs008.xml")).read()

# the registry's own examples (SWIFT IBAN registry) and the paper form of one
VALID = ["GB82WEST12345698765432", "DE89370400440532013000", "FR1420041010050500013M02606",
         "NL91ABNA0417164300", "BE68539007547034", "CH9300762011623852957", "NO9386011117947",
         "MT84MALT011000012345MTLCAST001S", "LC55HEMM000100010012001200023015", "gb82 west 1234 5698 7654 32"]
INVALID = {
    "GB82WEST12345698765433": "check digits",           # one digit changed
    "GB28WEST12345698765432": "check digits",           # the check digits changed
    "GB82WEST1234569876543": "22 characters",
    "XX82WEST12345698765432": "not a country",
    "G182WEST12345698765432": "two letters",
    "GBX2WEST12345698765432": "check digits",           # the third character must be a digit
    "GB82WEST1234569876543\u0661": "letters A-Z and digits only",    # an Arabic-Indic digit
    "GB82WEST12345698765432\u00df": "letters A-Z and digits only",
    "GB82": "5 to 34",
}


def reference_mod97(s):
    s = s.replace(" ", "").upper()
    r = s[4:] + s[:4]
    return int("".join(str(int(c, 36)) for c in r)) % 97


@pytest.mark.parametrize("text", VALID)
def test_valid_ibans_are_taken_in_electronic_form(text):
    got = accounts.iban(text)
    assert got == text.replace(" ", "").upper() and len(got) == accounts.LENGTHS[got[:2]]
    assert accounts.mod97(got) == reference_mod97(text) == 1


@pytest.mark.parametrize("text,says", sorted(INVALID.items()))
def test_malformed_ibans_are_refused_saying_what_is_wrong(text, says):
    with pytest.raises(accounts.AccountError) as e:
        accounts.iban(text)
    assert says in str(e.value)


def test_mod97_matches_the_big_integer_definition_on_many_numbers():
    for i in range(2000):
        body = "%s%02d%s" % ("DEFRGBNLBECH"[2 * (i % 6):2 * (i % 6) + 2], i % 100, "%018d" % (i * 7919 ** 3))
        assert accounts.mod97(body) == reference_mod97(body)


def directory():
    d = accounts.Directory()
    d.add("GB82WEST12345698765432", "11", "WESTGB2L")
    d.add("DE89370400440532013000", "12", "COBADEFF")
    d.add("NL91ABNA0417164300", "13", None, "closed")
    d.add("BE68539007547034", "14", None, "blocked")
    return d


RESOLVE = [
    ("GB82WEST12345698765432", True, [11, None, None]),
    ("gb82 WEST 1234 5698 7654 32", False, [11, None, None]),
    ("42", True, [42, None, None]),                       # a ledger account id, as before
    ("FR1420041010050500013M02606", True, [None, "AC01", "not in the account directory"]),
    ("NL91ABNA0417164300", False, [None, "AC04", "closed"]),
    ("BE68539007547034", True, [None, "AC06", "blocked"]),
    ("GB82WEST12345698765433", True, [None, "AC02", "check digits"]),
    ("GB82WEST12345698765433", False, [None, "AC03", "check digits"]),
    ("", True, [None, "AC02", "no debtor account"]),
    ("0", False, [None, "AC03", "neither"]),
    ("1" * 40, True, [None, "AC02", "neither"]),
    ("\u00b9", True, [None, "AC02", "neither"]),
]


@pytest.mark.parametrize("text,debtor,want", RESOLVE)
def test_resolve_answers_iso_reason_codes(text, debtor, want):
    got = list(directory().resolve(text, debtor))
    assert got[:2] == want[:2] and (want[2] is None or want[2] in got[2]), got


def test_directory_changes_are_checked():
    d = directory()
    for args, says in [(("GB82WEST12345698765432", "0"), "ledger account id"),
                       (("GB82WEST12345698765432", "11", "WEST"), "not a BIC"),
                       (("GB82WEST12345698765432", "11", None, "gone"), "a state is one of")]:
        with pytest.raises(accounts.AccountError, match=says):
            d.add(*args)
    with pytest.raises(accounts.AccountError, match="not in the directory"):
        d.set_state("FR1420041010050500013M02606", "closed")
    full = accounts.Directory()
    for i in range(accounts.MAX_ACCOUNTS):
        full.add(_de(i), str(i + 1))
    with pytest.raises(accounts.AccountError, match="holds 200 accounts at most"):
        full.add(_de(10 ** 6), "1")
    assert len(full.to_text()) <= layout.ACCOUNTS_MAX        # a full directory fits one stored copy


def _de(n):
    """A valid German IBAN for account number n (check digits computed)."""
    bban = "37040044%010d" % n
    check = 98 - reference_mod97("DE00" + bban)
    return "DE%02d%s" % (check, bban)


def test_the_text_form_round_trips_and_names_the_bad_line():
    d = directory()
    assert accounts.parse(d.to_text()).to_text() == d.to_text()
    assert accounts.parse("# a comment\n\nGB82WEST12345698765432 11 WESTGB2L  # trailing\n").entries == \
        {"GB82WEST12345698765432": [11, "WESTGB2L", "open"]}
    for text, says in [("GB82WEST12345698765432\n", "line 1: IBAN ACCOUNT"),
                       ("DE89370400440532013000 1\nGB82WEST12345698765433 2\n", "line 2: the check digits"),
                       ("DE89370400440532013000 1\nde89370400440532013000 2\n", "line 2: de89370400440532013000 is listed twice"),
                       ("DE89370400440532013000 1 - frozen\n", "line 1: a state is one of")]:
        with pytest.raises(accounts.AccountError) as e:
            accounts.parse(text)
        assert says in str(e.value), str(e.value)


def test_micropython_gives_the_same_answers():
    calls = [["iban", [t]] for t in VALID + sorted(INVALID)] + [["mod97", ["DE00370400440532013000"]],
                                                                ["ledger_id", ["1" * 39]], ["ledger_id", ["12a"]]]
    got = upy.call_each("userland.gateway.accounts", calls)
    for (name, args), (ok, value) in zip(calls, got):
        try:
            want = [True, getattr(accounts, name)(*args)]
        except accounts.AccountError as e:
            want = [False, ["AccountError", str(e)]]
        assert [ok, value] == want, (name, args)
    script = ("import json\nfrom userland.gateway import accounts\nd = accounts.parse(%r)\n"
              "print(json.dumps([list(d.resolve(t, b)) for t, b in %r]))\n"
              % (directory().to_text(), [(t, b) for t, b, _ in RESOLVE]))
    mine = json.loads(upy.run(script))
    d = directory()
    assert mine == [list(d.resolve(t, b)) for t, b, _ in RESOLVE]


# ---- kept in storage ---------------------------------------------------------------

def store():
    img = MemoryImage(bytearray(b"\xff" * 0x10000), 0)
    return Region(0, 0x10000, 0x1000, img.read, img.write), img


def test_changes_are_stored_alternating_copies_and_survive_a_restart():
    region, img = store()
    audit = []
    s = accounts_store.AccountStore(region, audit.append)
    assert s.request(["add", "GB82WEST12345698765432", "11", "WESTGB2L"])[0]
    assert s.request(["add", "DE89370400440532013000", "12"])[0]
    assert s.request(["close", "DE89370400440532013000"]) == (True, "account DE89370400440532013000 closed")
    assert audit == ["account GB82WEST12345698765432 added: ledger account 11",
                     "account DE89370400440532013000 added: ledger account 12",
                     "account DE89370400440532013000 closed"]
    gen, copy, _ = layout.accounts_of(lambda off, n: region.read(layout.ACCOUNTS_OFFSET + off, n))
    assert gen == 2 and copy == 0                          # generations 0, 1, 2 in copies 0, 1, 0
    again = accounts_store.AccountStore(region, audit.append)
    assert again.directory.to_text() == s.directory.to_text()
    assert again.resolve("DE89370400440532013000", False)[1] == "AC04"


def test_a_reset_mid_write_leaves_the_copy_written_before():
    region, img = store()
    s = accounts_store.AccountStore(region, lambda text: None)
    s.request(["add", "GB82WEST12345698765432", "11"])
    before = s.directory.to_text()
    # the next change's write stops half way: its copy (1) erased and part written
    rec = layout.accounts_record(1, (before + "DE89370400440532013000 12 - open\n").encode())
    at = layout.ACCOUNTS_OFFSET + layout.ACCOUNTS_COPY
    img.data[at:at + layout.ACCOUNTS_COPY] = b"\xff" * layout.ACCOUNTS_COPY
    img.data[at:at + len(rec) // 2] = rec[:len(rec) // 2]
    assert accounts_store.AccountStore(region, lambda text: None).directory.to_text() == before


def test_requests_that_are_wrong_change_nothing_and_say_why():
    region, img = store()
    audit = []
    s = accounts_store.AccountStore(region, audit.append)
    for words, says in [(["add", "GB82WEST12345698765433", "11"], "check digits"),
                        (["close", "GB82WEST12345698765432"], "not in the directory"),
                        (["rename", "x"], "accounts: list FROM"), ([], "accounts: list FROM"),
                        (["list", "x"], "accounts: list FROM")]:
        ok, text = s.request(words)
        assert not ok and says in text, text
    assert not audit and bytes(img.data[layout.ACCOUNTS_OFFSET:layout.AUDIT_OFFSET]) == b"\xff" * 0x8000


def test_list_pages_through_every_account():
    region, img = store()
    s = accounts_store.AccountStore(region, lambda text: None)
    lines = "".join("%s %d - open\n" % (_de(i), i + 1) for i in range(30))
    assert s.load_part(b"FL", lines.encode()) == (True, "account directory loaded, 30 accounts")
    seen, start = [], 0
    while True:
        ok, text = s.request(["list", str(start)])
        head, _, body = text.partition("\n")
        total, nxt = map(int, head.split())
        assert ok and total == 30 and len(body) <= accounts_store.PAGE
        seen += body.split("\n") if body else []
        if nxt >= total:
            break
        assert nxt > start
        start = nxt
    assert seen == sorted(lines.strip().split("\n"))


def test_the_host_loads_a_directory_in_parts_and_a_bad_one_changes_nothing():
    region, img = store()
    audit = []
    s = accounts_store.AccountStore(region, audit.append)
    assert s.load_part(b"L", b"x")[0] is False                       # no first part
    assert s.load_part(b"F", b"GB82WEST12345698765432 11 WESTGB2L open\n") == (True, "accounts: 40 bytes received")
    assert s.load_part(b"L", b"DE89370400440532013000 12\n") == (True, "account directory loaded, 2 accounts")
    assert s.resolve("DE89370400440532013000", True) == (12, None, None)
    ok, text = s.load_part(b"FL", b"DE89370400440532013000 12\nGB00WEST12345698765432 11\n")
    assert not ok and "line 2" in text and audit[-1].startswith("account directory refused: line 2")
    assert s.resolve("GB82WEST12345698765432", True) == (11, None, None)   # the one before stays
    assert not s.load_part(b"F", b"x" * (layout.ACCOUNTS_MAX * 2 + 1))[0]


# ---- payments by IBAN, end to end ---------------------------------------------------

def test_payments_name_accounts_by_iban_and_are_answered_with_the_directorys_codes():
    L = Ledger()
    L.create_accounts([Account(i, 1, 1) for i in (11, 12, 13, 14)])
    audit = []
    g = service.Gateway(Engine(RULES), Risk(RULES["risk"]), lambda tid, dr, cr, amount, ledger: L.create_transfers(
        [Transfer(tid, dr, cr, amount, ledger, 1)])[0], audit.append, RULES["ledgers"], lambda: 0,
        lambda: 1795687200000)
    region, img = store()
    g.accounts = accounts_store.AccountStore(region, audit.append)
    g.accounts.load_part(b"FL", directory().to_text().encode())

    def pay(debtor, creditor, msg_id):
        doc = PACS.replace("QX-20261126-0001", msg_id)
        doc = doc.replace("<DbtrAcct><Id><Othr><Id>1</Id></Othr></Id></DbtrAcct>",
                          "<DbtrAcct><Id><IBAN>%s</IBAN></Id></DbtrAcct>" % debtor)
        doc = doc.replace("<CdtrAcct><Id><Othr><Id>2</Id></Othr></Id></CdtrAcct>",
                          "<CdtrAcct><Id><IBAN>%s</IBAN></Id></CdtrAcct>" % creditor)
        answer = g.submit("pacs.008", doc.encode())
        i = answer.index("<OrgnlEndToEndId>E2E-0001</OrgnlEndToEndId>")
        tx = answer[i:answer.index("</TxInfAndSts>", i)]
        return tx[tx.index("<TxSts>") + 7:tx.index("</TxSts>")], \
            tx[tx.index("<Cd>") + 4:tx.index("</Cd>")] if "<Cd>" in tx else None

    assert pay("GB82WEST12345698765432", "DE89370400440532013000", "I-1") == ("ACSC", None)
    assert L.accounts[11].debits_posted == 125050 and L.accounts[12].credits_posted == 125050
    assert pay("FR1420041010050500013M02606", "DE89370400440532013000", "I-2") == ("RJCT", "AC01")
    assert pay("GB82WEST12345698765432", "NL91ABNA0417164300", "I-3") == ("RJCT", "AC04")
    assert pay("BE68539007547034", "DE89370400440532013000", "I-4") == ("RJCT", "AC06")
    assert pay("GB82WEST12345698765433", "DE89370400440532013000", "I-5") == ("RJCT", "AC02")
    assert pay("GB82WEST12345698765432", "DE89370400440532013001", "I-6") == ("RJCT", "AC03")
    assert L.accounts[11].debits_posted == 125050                   # nothing else posted
    assert any("AC06: the debtor account BE68539007547034 is blocked" in a for a in audit)
