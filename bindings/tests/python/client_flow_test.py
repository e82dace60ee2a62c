"""The full flow through PurseClient from Python, against a real `purse serve` that the Rust test
(bindings/tests/it/python.rs) started: sign up, register the device, get funded by the operator,
pay, see it in history, idempotent retry, session store and resume, logout, errors.

Same output protocol as bindings_test.py ("ok <name>" / "FAIL <name>: <why>", tab-separated data
lines the Rust side re-checks). Usage: python3 client_flow_test.py <base url> <operator token>
"""

import decimal
import json
import sys
import threading
import time
import traceback
import urllib.request

import purse
from purse import PurseError

PASSWORD = "correct horse battery staple"

failures = 0


def check(name):
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
    try:
        result = call()
    except PurseError as err:
        assert isinstance(err, kind), f"expected {kind.__name__}({code}), got {err!r}"
        assert err.code == code, f"expected code {code}, got {err!r}"
        assert err.reason, f"no reason in {err!r}"
        return err
    raise AssertionError(f"expected {kind.__name__}({code}), got {result!r}")


class MemorySessionStore(purse.SessionStore):
    """What an app keeps in its keystore: the latest session, and every save for the checks."""

    def __init__(self):
        self.saved = []
        self.lock = threading.Lock()

    def save(self, session):
        with self.lock:
            self.saved.append(session)

    def latest(self):
        with self.lock:
            return self.saved[-1] if self.saved else None


def main():
    base_url, operator_token = sys.argv[1], sys.argv[2]
    stamp = f"{int(time.time() * 1000)}"
    alice_email = f"alice-{stamp}@example.com"
    bob_email = f"bob-{stamp}@example.com"
    state = {}

    def new_client(store=None, key=None):
        key = key or purse.KeyPair.generate()
        return purse.PurseClient(purse.ClientConfig(base_url=base_url), key.signer(), store)

    @check("client_signup_and_device")
    def _():
        store = MemorySessionStore()
        key = purse.KeyPair.generate()
        alice = new_client(store, key)
        user_id = alice.signup(alice_email, None, PASSWORD)
        assert user_id.startswith("usr_"), user_id
        assert alice.user_id() == user_id
        assert store.latest().user_id == user_id and store.latest().refresh_token
        assert alice.me().email == alice_email
        device = alice.register_device("Python test")
        assert device.id.startswith("dev_") and device.public_key == key.public_key()
        assert device.key_id == key.key_id()
        # Registering the same key again is the same device (apps call it at every start).
        assert alice.register_device("Python test").id == device.id
        assert alice.device_id() == device.id
        state.update(alice=alice, store=store, key=key, user_id=user_id)

    @check("client_wallet_funded")
    def _():
        alice = state["alice"]
        wallet = alice.open_wallet("USD")
        assert wallet.id.startswith("wal_") and wallet.balance == "0.00", wallet
        assert alice.open_wallet("USD").id == wallet.id
        funded = alice.admin_fund(operator_token, wallet.id, "100.00", f"fund-{stamp}")
        assert funded.balance == "100.00", funded
        assert alice.wallet(wallet.id).balance == "100.00"
        assert [w.id for w in alice.wallets()] == [wallet.id]
        fails(PurseError.Api, "admin_token_invalid",
              lambda: alice.admin_fund("wrong-token", wallet.id, "1.00", None))
        state["wallet"] = wallet.id

    @check("client_transfer_signed_and_idempotent")
    def _():
        alice, wallet = state["alice"], state["wallet"]
        bob = new_client()
        bob.signup(bob_email, None, PASSWORD)
        bob_wallet = bob.open_wallet("USD").id
        request = purse.TransferRequest(
            from_wallet=wallet, to=purse.Payee.EMAIL(email=bob_email),
            amount="12.50", currency="USD", memo="lunch")
        sent = alice.transfer(request, None)
        assert sent.transfer.id.startswith("txn_") and sent.transfer.amount == "12.50"
        assert sent.idempotency_key.startswith("idem_"), sent.idempotency_key
        # A retry with the same key answers the first transfer and moves nothing more.
        again = alice.transfer(request, sent.idempotency_key)
        assert again.transfer.id == sent.transfer.id, (again, sent)
        assert alice.wallet(wallet).balance == "87.50"
        assert bob.wallet(bob_wallet).balance == "12.50"
        # An app-chosen key, made before the first attempt.
        key = purse.new_idempotency_key()
        to_wallet = purse.TransferRequest(
            from_wallet=wallet, to=purse.Payee.WALLET(wallet_id=bob_wallet),
            amount="2.50", currency="USD", memo=None)
        assert alice.transfer(to_wallet, key).idempotency_key == key
        assert bob.wallet(bob_wallet).balance == "15.00"
        print(f"transfer\t{sent.transfer.id}\t{wallet}\t{bob_wallet}\t12.50", flush=True)
        state.update(bob=bob, bob_wallet=bob_wallet, transfer=sent.transfer.id)

    @check("client_history_pages")
    def _():
        alice, wallet = state["alice"], state["wallet"]
        first = alice.history(wallet, 2, None)
        assert len(first.items) == 2 and first.has_more, first
        # Newest first: the 2.50 transfer, then the 12.50 one.
        assert [i.transfer.amount for i in first.items] == ["2.50", "12.50"], first
        assert all(i.direction == "debit" for i in first.items)
        second = alice.history(wallet, 2, first.items[-1].transfer.id)
        assert [i.transfer.kind for i in second.items] == ["issuance"], second
        assert second.items[0].direction == "credit" and not second.has_more
        bob_history = state["bob"].history(state["bob_wallet"], None, None)
        assert state["transfer"] in [i.transfer.id for i in bob_history.items]

    @check("client_refusals_keep_server_codes")
    def _():
        alice, wallet = state["alice"], state["wallet"]
        too_much = purse.TransferRequest(
            from_wallet=wallet, to=purse.Payee.EMAIL(email=bob_email),
            amount="1000.00", currency="USD", memo=None)
        err = fails(PurseError.Api, "insufficient_funds", lambda: alice.transfer(too_much, None))
        assert err.status == 402, err
        fails(PurseError.Api, "not_found", lambda: alice.wallet("wal_doesnotexist000000000"))
        fails(PurseError.Invalid, "id_invalid", lambda: alice.wallet("../admin"))
        fails(PurseError.Invalid, "idempotency_key_invalid",
              lambda: alice.transfer(too_much, "has space"))
        # No device registered: money cannot move, and nothing is sent.
        bob = state["bob"]
        fails(PurseError.Rejected, "device_not_registered", lambda: bob.transfer(
            purse.TransferRequest(from_wallet=state["bob_wallet"],
                                  to=purse.Payee.WALLET(wallet_id=wallet),
                                  amount="1.00", currency="USD", memo=None), None))
        assert alice.wallet(wallet).balance == "85.00"
        # Nothing listens on port 9: a network error of its own, not a server code.
        offline = purse.PurseClient(
            purse.ClientConfig(base_url="http://127.0.0.1:9", connect_timeout_ms=2000),
            purse.KeyPair.generate().signer(), None)
        fails(PurseError.Network, "network_unreachable",
              lambda: offline.login(alice_email, None, PASSWORD))
        fails(PurseError.Invalid, "base_url_invalid", lambda: purse.PurseClient(
            purse.ClientConfig(base_url="ftp://x"), purse.KeyPair.generate().signer(), None))
        fails(PurseError.Api, "credentials_invalid",
              lambda: new_client().login(alice_email, None, "wrong password here"))

    @check("client_threads_share_one_session")
    def _():
        alice, wallet = state["alice"], state["wallet"]
        results, errors = [], []

        def work():
            try:
                for _ in range(3):
                    results.append(alice.wallet(wallet).balance)
            except Exception as err:  # noqa: BLE001
                errors.append(err)

        threads = [threading.Thread(target=work) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors, errors
        assert results == ["85.00"] * 18, results

    @check("client_pays_merchant_qr")
    def _():
        alice, wallet, bob = state["alice"], state["wallet"], state["bob"]
        # Bob runs a cafe: merchant, a server-held signing key, a dynamic QR code for 4.20.
        merchant = bob.create_merchant("Corner Coffee", "Oakland", "US", "5814", "USD")
        assert merchant.id.startswith("mer_") and merchant.status == "active", merchant
        assert len(bob.create_merchant_key(merchant.id)) == 16
        qr = bob.create_merchant_qr(merchant.id, "4.20", f"order-{stamp}", 300)
        assert qr.kind == "dynamic" and qr.payload.startswith("000201"), qr
        # The payload is a signed Purse code the SDK reads offline before paying.
        claims = purse.read_merchant_code(qr.payload)
        assert claims.merchant_id == merchant.id, claims
        paid = alice.pay_qr(qr.payload, wallet, None, None)
        payment = paid.payment
        assert payment.id.startswith("pay_") and payment.status == "succeeded", payment
        assert (payment.amount, payment.currency) == ("4.20", "USD"), payment
        assert payment.merchant_name == "Corner Coffee" and payment.reference == f"order-{stamp}"
        # The same key replays the payment; a new attempt is refused: a dynamic code pays once.
        assert alice.pay_qr(qr.payload, wallet, None, paid.idempotency_key).payment.id == payment.id
        err = fails(PurseError.Api, "qr_already_paid",
                    lambda: alice.pay_qr(qr.payload, wallet, None, None))
        assert err.status == 409, err
        assert alice.wallet(wallet).balance == "80.80"
        history = alice.history(wallet, 1, None)
        assert history.items[0].transfer.id == payment.transfer_id, history
        assert history.items[0].transfer.amount == "4.20"
        assert history.items[0].direction == "debit"
        print(f"payment\t{payment.id}\t{payment.transfer_id}\t{merchant.wallet_id}\t4.20", flush=True)
        state["payment"] = payment

    @check("client_waits_for_events")
    def _():
        alice, payment = state["alice"], state["payment"]
        seen, after = [], None
        deadline = time.time() + 20
        while time.time() < deadline:
            page = alice.wait_for_events(after, 50, 5)
            seen.extend(page.events)
            if any(e.event_type == "payment.succeeded" for e in seen):
                break
            if page.events:
                after = page.events[-1].id
        paid = [e for e in seen if e.event_type == "payment.succeeded"]
        assert paid, [e.event_type for e in seen]
        data = json.loads(paid[0].data_json)
        assert data["id"] == payment.id and data["amount"] == "4.20", data
        assert paid[0].id.startswith("evt_")
        # Bob's transfer.received, and an empty page (not an error) once nothing is new.
        bob_events = state["bob"].wait_for_events(None, 50, 0).events
        assert "transfer.received" in [e.event_type for e in bob_events], bob_events
        started = time.time()
        empty = alice.wait_for_events(seen[-1].id, 10, 1)
        state["last_event"] = seen[-1].id
        assert empty.events == [] and time.time() - started >= 0.9, empty

    @check("client_topup_confirmed_and_credited")
    def _():
        alice, wallet = state["alice"], state["wallet"]
        before = alice.wallet(wallet).balance
        key = purse.new_idempotency_key()
        started = alice.create_topup(wallet, "20.00", "card", key)
        topup = started.topup
        assert started.idempotency_key == key
        assert topup.id.startswith("top_") and topup.status == "pending", topup
        assert topup.amount == "20.00" and topup.currency == "USD" and topup.method == "card"
        assert topup.next_action_url and "/sandbox/intents/" in topup.next_action_url, topup
        # A retry with the same key answers the same top-up.
        assert alice.create_topup(wallet, "20.00", "card", key).topup.id == topup.id
        assert alice.get_topup(topup.id).status == "pending"
        fails(PurseError.Api, "method_invalid",
              lambda: alice.create_topup(wallet, "1.00", "cheque", None))
        # The payer approves on the sandbox acquirer's confirm page (what the app opens).
        intent = topup.next_action_url.split("/sandbox/intents/")[1].split("/")[0]
        request = urllib.request.Request(
            f"{base_url}/sandbox/intents/{intent}/confirm",
            data=json.dumps({"outcome": "approve"}).encode(),
            headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200, response.status
        # The webhook moves it to succeeded; the owner hears topup.succeeded.
        seen, after = [], state.get("last_event")
        deadline = time.time() + 20
        while time.time() < deadline:
            page = alice.wait_for_events(after, 50, 5)
            seen.extend(page.events)
            if any(e.event_type == "topup.succeeded" for e in seen):
                break
            if page.events:
                after = page.events[-1].id
        done = [e for e in seen if e.event_type == "topup.succeeded"]
        assert done, [e.event_type for e in seen]
        data = json.loads(done[0].data_json)
        assert data["id"] == topup.id and data["status"] == "succeeded", data
        credited = alice.get_topup(topup.id)
        assert credited.status == "succeeded" and credited.transfer_id, credited
        assert credited.next_action_url is None
        after_balance = alice.wallet(wallet).balance
        assert decimal.Decimal(after_balance) == decimal.Decimal(before) + 20, (before, after_balance)
        print(f"topup\t{topup.id}\t{credited.transfer_id}\t{wallet}\t20.00", flush=True)

    @check("client_resume_and_logout")
    def _():
        store = state["store"]
        saved = store.latest()
        # A new process: resume from the stored session with the same device key.
        resumed_store = MemorySessionStore()
        resumed = new_client(resumed_store, state["key"])
        assert resumed.resume(saved) == state["user_id"]
        rotated = resumed_store.latest()
        assert rotated.refresh_token != saved.refresh_token, "the refresh token rotates"
        resumed.register_device(None)
        assert resumed.wallet(state["wallet"]).balance == "100.80"
        # The spent refresh token is refused (and the server revokes its session family).
        fails(PurseError.Api, "refresh_token_reused",
              lambda: new_client().resume(saved))
        fails(PurseError.Api, "refresh_token_revoked",
              lambda: new_client().resume(rotated))
        # Logging in again and out: the store is told to forget.
        again_store = MemorySessionStore()
        again = new_client(again_store)
        again.login(alice_email, None, PASSWORD)
        again.logout()
        assert again_store.saved[-1] is None and again.user_id() is None
        fails(PurseError.Rejected, "not_logged_in", lambda: again.wallets())

    print(f"{failures} failed", flush=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
