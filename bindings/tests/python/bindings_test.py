"""The Python side of the binding tests: drives the generated Python bindings (module `purse`,
ctypes over the cdylib). Run by bindings/tests/it/python.rs with PYTHONPATH set to the generated
module's directory.

Output protocol (read by the Rust test): one line per check, "ok <name>" or "FAIL <name>: <why>";
tab-separated data lines for checks the Rust side finishes with the core
("paycode<TAB><public key><TAB><counter><TAB><text>", "emv-json<TAB><vector id><TAB><json>");
exit status 1 if any check failed. Usage: python3 bindings_test.py <scratch dir>
"""

import json
import os
import re
import sys
import time
import traceback

import purse
from purse import PurseError

# Two vectors copied from core/tests/data/emv-mpm.json: Pix with an amount and an unreserved
# template, and KHQR with a Khmer language template (UTF-8 across the FFI).
PIX_ID = "bcb-pix-composite-amount-rec-2.8.5"
PIX = "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865406100.505802BR5913Fulano de Tal6008BRASILIA62070503***80740014br.gov.bcb.pix2552pix.example.com/rec/2353c790eefb11eaadc10242ac12000263042875"
KHQR_ID = "khqr-decode-khmer-A560"
KHQR = "00020101021230350009khqr@devb01061234560208Dev Bank52045999530384054031005802KH5910John Smith6010PHNOM PENH62670106#123450211855122334550311Coffee Shop0709Cashier_10810Buy coffee64280002km0108ចន ស្មីន0206ភ្នំពញ993400131726822962612011317268230826126304A560"

PASSWORD = "correct horse battery staple"

failures = 0


def check(name):
    """Decorator: runs the check at once and prints its verdict."""

    def run(body):
        global failures
        try:
            body()
            print(f"ok {name}", flush=True)
        except Exception:  # noqa: BLE001 - every failure is reported, none stops the run
            failures += 1
            reason = traceback.format_exc().strip().replace("\n", " | ")
            print(f"FAIL {name}: {reason}", flush=True)

    return run


def fails(kind, code, call):
    """`call()` must raise PurseError.<kind> with `code` and a reason; returns the error."""
    try:
        result = call()
    except PurseError as err:
        assert isinstance(err, kind), f"expected {kind.__name__}({code}), got {err!r}"
        assert err.code == code, f"expected code {code}, got {err!r}"
        assert err.reason, f"no reason in {err!r}"
        return err
    raise AssertionError(f"expected {kind.__name__}({code}), got {result!r}")


def now_unix():
    return int(time.time())


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE, to re-seal a tampered EMV payload so only the signature can catch it."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def with_crc(without_crc: str) -> str:
    body = without_crc + "6304"
    return body + f"{crc16(body.encode()):04X}"


class FileCounterStore(purse.CounterStore):
    """A durable counter store: one file per key, written to a temporary file, fsync'd, then
    renamed over the old one. `fail_saves` simulates a full disk."""

    def __init__(self, directory):
        self.directory = directory
        self.fail_saves = False

    def _path(self, key_id):
        return os.path.join(self.directory, f"{key_id}.counter")

    def load(self, key_id):
        try:
            with open(self._path(key_id)) as file:
                return int(file.read().strip())
        except FileNotFoundError:
            return None

    def save(self, key_id, counter):
        if self.fail_saves:
            raise PurseError.Storage("disk_full", "no space left on device")
        tmp = self._path(key_id) + ".tmp"
        with open(tmp, "w") as file:
            file.write(str(counter))
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, self._path(key_id))


class RecordingSigner(purse.Signer):
    """A Signer implemented in Python (over a KeyPair, as a keystore wrapper would be) that records,
    at each signature, the counter its store holds at that moment."""

    def __init__(self, key, store=None):
        self.key = key
        self.store = store
        self.stored_at_sign = []
        self.signatures = 0

    def public_key(self):
        return self.key.public_key()

    def sign(self, message):
        self.signatures += 1
        if self.store is not None:
            self.stored_at_sign.append(self.store.load(self.key.key_id()))
        return self.key.signer().sign(message)


class BrokenSigner(purse.Signer):
    """Fails the way a broken or locked keystore does."""

    def __init__(self, public_key, mode):
        self._public_key = public_key
        self.mode = mode

    def public_key(self):
        return self._public_key

    def sign(self, message):
        if self.mode == "locked":
            raise PurseError.Signer("keystore_locked", "the user cancelled the unlock prompt")
        if self.mode == "short":
            return b"\x00" * 10
        if self.mode == "wrong-key":
            return purse.KeyPair.generate().signer().sign(message)
        raise RuntimeError("keystore crashed")


def merchant_code(amount, expires):
    return purse.NewMerchantCode(
        merchant_id="mer_4kQx2",
        merchant_name="Corner Coffee",
        city="Lisbon",
        country="PT",
        mcc="5814",
        currency="EUR",
        amount=amount,
        reference="order-1042" if amount is not None else None,
        expires_at_unix=expires,
    )


def main():
    scratch = sys.argv[1] if len(sys.argv) > 1 else "build/bindings-test-python"
    os.makedirs(scratch, exist_ok=True)

    @check("sdk_version")
    def _():
        assert re.fullmatch(r"\d+\.\d+\.\d+.*", purse.sdk_version()), purse.sdk_version()

    device = purse.KeyPair.generate()

    @check("keys_generate")
    def _():
        assert re.fullmatch(r"[0-9a-f]{16}", device.key_id()), device.key_id()
        assert len(device.public_key()) == 43
        assert purse.KeyPair.generate().key_id() != device.key_id()
        assert purse.KeyPair.from_text(device.to_text()).public_key() == device.public_key()

    @check("keys_backup_restore")
    def _():
        backup = device.backup(PASSWORD)
        assert backup.startswith("purse-backup-v1."), backup
        assert device.to_text().split(":", 1)[1] not in backup
        assert purse.KeyPair.restore(backup, PASSWORD).key_id() == device.key_id()

    @check("keys_wrong_password")
    def _():
        backup = device.backup(PASSWORD)
        fails(PurseError.Rejected, "backup_wrong_password",
              lambda: purse.KeyPair.restore(backup, "correct horse battery stapler"))
        fails(PurseError.Invalid, "password_too_short", lambda: device.backup("short"))
        fails(PurseError.Invalid, "backup_corrupted", lambda: purse.KeyPair.restore(backup[:-4], PASSWORD))
        fails(PurseError.Invalid, "secret_key_invalid", lambda: purse.KeyPair.from_text("not a key"))

    @check("emv_decode_pix")
    def _():
        code = purse.decode_emv(PIX)
        assert (code.country, code.currency_numeric, code.currency) == ("BR", "986", "BRL"), code
        assert code.amount == "100.50" and code.merchant_name == "Fulano de Tal", code
        [account] = code.merchant_accounts
        assert (account.id, account.guid) == ("26", "br.gov.bcb.pix"), account
        assert [f.id for f in account.fields] == ["00", "01"], account
        assert [t.id for t in code.unreserved_templates] == ["80"]
        assert json.loads(code.json)["merchant_city"] == "BRASILIA"
        print(f"emv-json\t{PIX_ID}\t{code.json}", flush=True)

    @check("emv_decode_khmer")
    def _():
        code = purse.decode_emv(KHQR)
        assert [f.value for f in code.language_template.fields] == ["km", "ចន ស្មីន", "ភ្នំពញ"]
        assert (code.amount, code.currency, code.poi_method) == ("100", "USD", "12"), code
        print(f"emv-json\t{KHQR_ID}\t{code.json}", flush=True)

    @check("emv_decode_errors")
    def _():
        fails(PurseError.Invalid, "crc_mismatch", lambda: purse.decode_emv(PIX[:-1] + "6"))
        fails(PurseError.Invalid, "too_short", lambda: purse.decode_emv(""))
        fails(PurseError.Invalid, "too_long", lambda: purse.decode_emv("0" * 100_000))

    merchant = purse.KeyPair.generate()
    now = now_unix()
    dynamic = purse.sign_merchant_code(merchant.signer(), merchant_code("4.20", now + 300))

    @check("merchant_code_verify")
    def _():
        claims = purse.read_merchant_code(dynamic)
        assert (claims.merchant_id, claims.key_id) == ("mer_4kQx2", merchant.key_id()), claims
        code = purse.verify_merchant_code(dynamic, merchant.public_key(), now)
        assert code.dynamic and code.amount == purse.Money(amount="4.20", currency="EUR"), code
        assert code.reference == "order-1042", code
        static = purse.sign_merchant_code(merchant.signer(), merchant_code(None, None))
        assert not purse.verify_merchant_code(static, merchant.public_key(), now).dynamic

    @check("merchant_code_tampered")
    def _():
        raised = with_crc(dynamic.rsplit("6304", 1)[0].replace("54044.20", "54049.20"))
        assert raised != dynamic and purse.decode_emv(raised).amount == "9.20"
        key = merchant.public_key()
        fails(PurseError.Rejected, "merchant_code_bad_signature",
              lambda: purse.verify_merchant_code(raised, key, now))
        fails(PurseError.Invalid, "crc_mismatch",
              lambda: purse.verify_merchant_code(dynamic.replace("Corner", "Korner"), key, now))
        fails(PurseError.Rejected, "merchant_code_wrong_key",
              lambda: purse.verify_merchant_code(dynamic, device.public_key(), now))
        fails(PurseError.Rejected, "merchant_code_expired",
              lambda: purse.verify_merchant_code(dynamic, key, now + 3600))
        fails(PurseError.Rejected, "not_purse_code", lambda: purse.verify_merchant_code(PIX, key, now))

    @check("qr_render")
    def _():
        assert purse.render_qr_png(dynamic).startswith(b"\x89PNG")
        assert "<svg" in purse.render_qr_svg(dynamic)
        fails(PurseError.Invalid, "qr_too_long", lambda: purse.render_qr_svg("x" * 3000))

    store_dir = os.path.join(scratch, "counters")
    os.makedirs(store_dir, exist_ok=True)
    for name in os.listdir(store_dir):
        os.remove(os.path.join(store_dir, name))
    store = FileCounterStore(store_dir)

    @check("paycode_generate")
    def _():
        codes = purse.PayCodes(device.signer(), store)
        assert codes.key_id() == device.key_id()
        code = codes.generate(purse.PayCodeRequest(cap=purse.Money(amount="25.00", currency="USD")))
        assert code.text.startswith("PC1:") and code.counter == 1, code
        assert code.expires_at_unix == code.issued_at_unix + 60, code
        print(f"paycode\t{device.public_key()}\t{code.counter}\t{code.text}", flush=True)
        verified = purse.verify_pay_code(code.text, device.public_key(), None, now_unix(),
                                         purse.Money(amount="10.00", currency="USD"))
        assert verified.counter == 1 and verified.key_id == device.key_id(), verified
        fails(PurseError.Rejected, "paycode_replayed",
              lambda: purse.verify_pay_code(code.text, device.public_key(), 1, now_unix(), None))
        fails(PurseError.Rejected, "paycode_over_limit",
              lambda: purse.verify_pay_code(code.text, device.public_key(), None, now_unix(),
                                            purse.Money(amount="30.00", currency="USD")))
        assert purse.read_pay_code(code.text).counter == 1

    @check("paycode_with_key_pair")
    def _():
        # The unchecked path for an in-memory key: codes the core verifies, counters shared.
        direct = purse.PayCodes.with_key_pair(device, store)
        code = direct.generate(purse.PayCodeRequest(cap=purse.Money(amount="5.00", currency="USD")))
        assert code.counter == 17, code
        verified = purse.verify_pay_code(code.text, device.public_key(), 16, now_unix(),
                                         purse.Money(amount="5.00", currency="USD"))
        assert verified.counter == 17 and verified.key_id == device.key_id(), verified

    @check("paycode_counter_survives_restart")
    def _():
        # The first PayCodes reserved counters 1-16 (one save per block of 16), with_key_pair
        # 17-32; each new PayCodes, as after a restart, starts a new block.
        assert store.load(device.key_id()) == 32
        before = purse.PayCodes(device.signer(), FileCounterStore(store_dir)).generate(purse.PayCodeRequest())
        after = purse.PayCodes(device.signer(), FileCounterStore(store_dir)).generate(purse.PayCodeRequest())
        assert (before.counter, after.counter) == (33, 49), (before.counter, after.counter)
        assert store.load(device.key_id()) == 64

    @check("paycode_store_failure")
    def _():
        failing = FileCounterStore(store_dir)
        failing.fail_saves = True
        signer = RecordingSigner(purse.KeyPair.generate())
        err = fails(PurseError.Storage, "counter_store_failed",
                    lambda: purse.PayCodes(signer, failing).generate(purse.PayCodeRequest()))
        assert "disk_full" in err.reason, err
        assert signer.signatures == 0, "signed although the counter was not saved"
        fails(PurseError.Invalid, "paycode_validity_invalid",
              lambda: purse.PayCodes(signer, store).generate(purse.PayCodeRequest(validity_secs=0)))

    @check("signer_callback")
    def _():
        key = purse.KeyPair.generate()
        own_dir = os.path.join(scratch, "signer-counters")
        os.makedirs(own_dir, exist_ok=True)
        for name in os.listdir(own_dir):
            os.remove(os.path.join(own_dir, name))
        own_store = FileCounterStore(own_dir)
        signer = RecordingSigner(key, own_store)
        codes = purse.PayCodes(signer, own_store)
        first = codes.generate(purse.PayCodeRequest())
        second = codes.generate(purse.PayCodeRequest())
        assert signer.signatures == 2
        # Persist before sign: when the signer was asked, the store already covered the counter
        # (the end of its block of 16).
        assert (first.counter, second.counter) == (1, 2), (first.counter, second.counter)
        assert signer.stored_at_sign == [16, 16], signer.stored_at_sign
        print(f"paycode\t{key.public_key()}\t{second.counter}\t{second.text}", flush=True)
        signed = purse.sign_merchant_code(signer, merchant_code(None, None))
        assert purse.verify_merchant_code(signed, key.public_key(), now_unix()).key_id == key.key_id()

    @check("signer_failures")
    def _():
        pk = device.public_key()

        def generate(mode):
            return lambda: purse.PayCodes(BrokenSigner(pk, mode), store).generate(purse.PayCodeRequest())

        locked = fails(PurseError.Signer, "signer_failed", generate("locked"))
        assert "keystore_locked" in locked.reason, locked
        fails(PurseError.Signer, "signer_failed", generate("short"))
        fails(PurseError.Signer, "signer_failed", generate("wrong-key"))
        crashed = fails(PurseError.Signer, "signer_failed", generate("crash"))
        assert "keystore crashed" in crashed.reason, crashed
        fails(PurseError.Invalid, "key_invalid", lambda: purse.PayCodes(BrokenSigner("nope", "locked"), store))

    @check("no_panic_on_garbage")
    def _():
        for text in ["", "PC1:", "PC1:" + "Z" * 200, "\x00\uffff", "%" * 5000, "ចន" * 3000]:
            for call in [
                lambda: purse.decode_emv(text),
                lambda: purse.read_pay_code(text),
                lambda: purse.read_merchant_code(text),
                lambda: purse.verify_pay_code(text, device.public_key(), None, now_unix(), None),
                lambda: purse.verify_merchant_code(text, text, now_unix()),
                lambda: purse.KeyPair.from_text(text),
                lambda: purse.KeyPair.restore(text, text),
            ]:
                try:
                    call()
                except PurseError as err:
                    assert not isinstance(err, PurseError.Internal), f"internal error on garbage: {err!r}"
                else:
                    raise AssertionError(f"garbage accepted: {text[:20]!r}")

    print("all checks passed" if failures == 0 else f"{failures} checks failed", flush=True)
    sys.exit(0 if failures == 0 else 1)


if __name__ == "__main__":
    main()
