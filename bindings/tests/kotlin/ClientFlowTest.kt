// The full flow through PurseClient from Kotlin on the JVM (as an Android app would call it),
// against a real `purse serve` started by bindings/tests/it/kotlin.rs: sign up, register the
// device, get funded, a merchant makes a dynamic QR code, the consumer pays it, sees it in history
// and as a payment.succeeded event; calls from several threads share one session.
// Output protocol as BindingsTest.kt ("ok <name>" / "FAIL <name>: <why>", tab-separated data).
// Usage: ClientFlowTestKt <base url> <operator token>
package app.purse.sdk.flow

import app.purse.sdk.*
import java.util.Collections
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit
import kotlin.system.exitProcess

const val PASSWORD = "correct horse battery staple"
var failures = 0

fun check(name: String, body: () -> Unit) {
    try {
        body()
        println("ok $name")
    } catch (e: Throwable) {
        failures++
        println("FAIL $name: $e")
    }
}

fun expect(condition: Boolean, what: () -> String) {
    if (!condition) throw AssertionError(what())
}

/** `call` must throw PurseException.Api with `code`; answers its HTTP status. */
fun apiFails(code: String, call: () -> Any?): Int {
    try {
        val result = call()
        throw AssertionError("expected Api($code), got $result")
    } catch (e: PurseException.Api) {
        expect(e.code == code) { "expected $code, got ${e.code}: ${e.reason}" }
        return e.status.toInt()
    }
}

/** Keeps the session the client hands over, as an app would in the Android Keystore. */
class MemorySessionStore : SessionStore {
    val saved: MutableList<SavedSession?> = Collections.synchronizedList(mutableListOf())
    override fun save(session: SavedSession?) {
        saved.add(session)
    }
}

fun main(args: Array<String>) {
    val baseUrl = args[0]
    val operatorToken = args[1]
    val stamp = System.currentTimeMillis()
    val store = MemorySessionStore()
    val key = KeyPair.generate()
    val ana = PurseClient(ClientConfig(baseUrl = baseUrl), key.signer(), store)
    val cafe = PurseClient(ClientConfig(baseUrl = baseUrl), KeyPair.generate().signer(), null)
    var wallet = ""
    var payment: Payment? = null

    check("kotlin_client_signup_device_funding") {
        val userId = ana.signup("ana-$stamp@example.com", null, PASSWORD)
        expect(userId.startsWith("usr_") && store.saved.last()?.userId == userId) { userId }
        val device = ana.registerDevice("Kotlin test")
        expect(device.id.startsWith("dev_") && device.keyId == key.keyId()) { "$device" }
        wallet = ana.openWallet("USD").id
        val funded = ana.adminFund(operatorToken, wallet, "50.00", "fund-$stamp")
        expect(funded.balance == "50.00") { "$funded" }
        expect(ana.wallet(wallet).balance == "50.00") { "balance" }
    }

    check("kotlin_client_pays_merchant_qr") {
        cafe.signup("cafe-$stamp@example.com", null, PASSWORD)
        val merchant = cafe.createMerchant("Kotlin Cafe", "Oakland", "US", "5814", "USD")
        cafe.createMerchantKey(merchant.id)
        val qr = cafe.createMerchantQr(merchant.id, "3.75", "k-$stamp", 300uL)
        expect(qr.kind == "dynamic" && readMerchantCode(qr.payload).merchantId == merchant.id) { "$qr" }
        val paid = ana.payQr(qr.payload, wallet, null, null)
        val p = paid.payment
        expect(p.id.startsWith("pay_") && p.status == "succeeded" && p.amount == "3.75") { "$p" }
        expect(paid.idempotencyKey.startsWith("idem_")) { paid.idempotencyKey }
        expect(ana.payQr(qr.payload, wallet, null, paid.idempotencyKey).payment.id == p.id) { "replay" }
        expect(apiFails("qr_already_paid") { ana.payQr(qr.payload, wallet, null, null) } == 409) { "409" }
        expect(ana.wallet(wallet).balance == "46.25") { ana.wallet(wallet).balance }
        val history = ana.history(wallet, 1u, null)
        expect(history.items[0].transfer.id == p.transferId && history.items[0].direction == "debit") { "$history" }
        expect(history.hasMore) { "the issuance follows" }
        println("payment\t${p.id}\t${p.transferId}\t${merchant.walletId}\t3.75")
        payment = p
    }

    check("kotlin_client_payment_event") {
        val p = payment ?: throw AssertionError("no payment")
        val seen = mutableListOf<Event>()
        var after: String? = null
        val deadline = System.currentTimeMillis() + 20_000
        while (System.currentTimeMillis() < deadline && seen.none { it.eventType == "payment.succeeded" }) {
            val page = ana.waitForEvents(after, 50u, 5u)
            seen.addAll(page.events)
            if (page.events.isNotEmpty()) after = page.events.last().id
        }
        val event = seen.first { it.eventType == "payment.succeeded" }
        expect(event.dataJson.contains("\"id\":\"${p.id}\"")) { event.dataJson }
    }

    check("kotlin_client_threads_share_one_session") {
        val pool = Executors.newFixedThreadPool(6)
        val balances = Collections.synchronizedList(mutableListOf<String>())
        repeat(12) { pool.submit { balances.add(ana.wallet(wallet).balance) } }
        pool.shutdown()
        expect(pool.awaitTermination(60, TimeUnit.SECONDS)) { "threads did not finish" }
        expect(balances.size == 12 && balances.all { it == "46.25" }) { "$balances" }
    }

    check("kotlin_client_errors") {
        val tooMuch = TransferRequest(wallet, Payee.Email("cafe-$stamp@example.com"), "999.00", "USD", null)
        expect(apiFails("insufficient_funds") { ana.transfer(tooMuch, null) } == 402) { "402" }
        val offline = PurseClient(ClientConfig(baseUrl = "http://127.0.0.1:9", connectTimeoutMs = 2000uL),
            KeyPair.generate().signer(), null)
        try {
            offline.login("ana-$stamp@example.com", null, PASSWORD)
            throw AssertionError("an unreachable server answered")
        } catch (e: PurseException.Network) {
            expect(e.code == "network_unreachable") { e.code }
        }
        ana.logout()
        expect(store.saved.last() == null && ana.userId() == null) { "logout forgets the session" }
        try {
            ana.wallets()
            throw AssertionError("logged out, yet answered")
        } catch (e: PurseException.Rejected) {
            expect(e.code == "not_logged_in") { e.code }
        }
    }

    println("$failures failed")
    exitProcess(if (failures == 0) 0 else 1)
}
