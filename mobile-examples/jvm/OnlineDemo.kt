// Purse online demo on the JVM: a consumer phone and a merchant's app in one process, talking to a
// real `purse serve` through PurseClient of the generated Kotlin bindings (package app.purse.sdk),
// exactly as an Android app would (there: on a background thread). See README.md for how to run it.
//
// 1. Both sign up; the consumer registers this device's key and opens a USD wallet, which the
//    operator funds (the admin API, standing in for a card top-up).
// 2. The merchant creates its shop and a signing key, and shows a dynamic QR code (4.20 USD,
//    payable once), rendered to merchant-qr.png.
// 3. The consumer scans it: decodes it like any EMV code, fetches the merchant's public key from
//    the directory, verifies the signature locally, then pays it (device-signed, with an
//    Idempotency-Key kept before the first attempt: a retry answers the same payment, a second
//    payment of the same code is refused).
// 4. The merchant sees payment.succeeded on its event stream; the consumer sees the payment in its
//    history, its new balance, and its own event; a restarted app resumes the saved session.
//
// Compiled together with Demo.kt (it reuses codeOf, crc16, writeDurably and loadOrCreateKey).
// Usage: OnlineDemoKt --server URL --operator-token TOKEN [--state DIR]
package app.purse.demo

import app.purse.sdk.*
import java.io.File
import kotlin.system.exitProcess

/**
 * The consumer's session store: the user id and the rotating refresh token in a file. Demo only:
 * the refresh token is a secret, which an Android app encrypts with a Keystore key.
 */
class FileSessionStore(private val file: File) : SessionStore {
    override fun save(session: SavedSession?) {
        if (session == null) {
            file.delete()
        } else {
            writeDurably(file, "${session.userId}\n${session.refreshToken}")
        }
    }

    fun load(): SavedSession? = file.takeIf { it.exists() }?.readLines()?.let { SavedSession(it[0], it[1]) }
}

fun fail(what: String): Nothing {
    println("ERROR $what")
    exitProcess(1)
}

/** Long-polls `next(after)` until an event of `type` about `objectId` arrives (at most 30 s). */
fun awaitEvent(type: String, objectId: String, next: (String?) -> EventPage): Event {
    var after: String? = null
    val deadline = System.currentTimeMillis() + 30_000
    while (System.currentTimeMillis() < deadline) {
        val page = next(after)
        page.events.firstOrNull { it.eventType == type && it.dataJson.contains("\"id\":\"$objectId\"") }
            ?.let { return it }
        if (page.events.isNotEmpty()) after = page.events.last().id
    }
    fail("no $type event for $objectId within 30 s")
}

fun main(args: Array<String>) {
    fun arg(name: String): String? = args.indexOf(name).takeIf { it >= 0 && it + 1 < args.size }?.let { args[it + 1] }
    val server = arg("--server") ?: fail("usage: OnlineDemoKt --server URL --operator-token TOKEN [--state DIR]")
    val operatorToken = arg("--operator-token") ?: fail("--operator-token is required (the server's PURSE_ADMIN_TOKEN)")
    val state = File(arg("--state") ?: "purse-online-demo-state").also { it.mkdirs() }
    val stamp = System.currentTimeMillis()
    val password = "correct horse battery staple $stamp"
    val config = ClientConfig(baseUrl = server)
    println("Purse SDK ${sdkVersion()} online demo against $server, state in ${state.path}")

    try {
        // --- 1. Consumer signs up, registers the phone, gets funded --------------------------------
        val sessions = FileSessionStore(File(state, "consumer.session"))
        val phoneKey = loadOrCreateKey(File(state, "online-device.key"))
        val consumer = PurseClient(config, phoneKey.signer(), sessions)
        val consumerEmail = "ana-$stamp@example.com"
        val userId = consumer.signup(consumerEmail, null, password)
        val device = consumer.registerDevice("JVM demo phone")
        val wallet = consumer.openWallet("USD")
        println("consumer: signed up $userId, device ${device.id} (key ${device.keyId}), wallet ${wallet.id}")
        val funded = consumer.adminFund(operatorToken, wallet.id, "20.00", "demo-fund-$stamp")
        println("operator: funded ${wallet.id} with ${funded.amount} ${funded.currency}, balance ${funded.balance}")

        // --- 2. Merchant makes a dynamic QR code ---------------------------------------------------
        val merchantApp = PurseClient(config, KeyPair.generate().signer(), null)
        merchantApp.signup("cafe-$stamp@example.com", null, password)
        val shop = merchantApp.createMerchant("Corner Coffee", "Lisbon", "PT", "5814", "USD")
        val merchantKeyId = merchantApp.createMerchantKey(shop.id)
        val qr = merchantApp.createMerchantQr(shop.id, "4.20", "order-$stamp", 300uL)
        File(state, "merchant-qr.png").writeBytes(renderQrPng(qr.payload))
        println("merchant: ${shop.name} (${shop.id}, key $merchantKeyId) shows a ${qr.kind} QR for " +
            "${qr.amount} ${qr.currency}, reference ${qr.reference} -> ${state.path}/merchant-qr.png")
        println("merchant: ${qr.payload}")

        // --- 3. Consumer scans, verifies, pays ---------------------------------------------------
        val scanned = qr.payload // what the camera reads from merchant-qr.png
        val emv = decodeEmv(scanned)
        val claims = readMerchantCode(scanned)
        val key = consumer.merchantKeys(claims.merchantId).firstOrNull { it.keyId == claims.keyId }
            ?: fail("merchant ${claims.merchantId} has no key ${claims.keyId}")
        val now = (System.currentTimeMillis() / 1000).toULong()
        val verified = verifyMerchantCode(scanned, key.publicKey, now)
        println("consumer: scanned ${emv.merchantName}, ${emv.merchantCity}; signature verified with " +
            "key ${key.keyId} (${key.status}): pay ${verified.amount?.amount} ${verified.amount?.currency}, " +
            "reference ${verified.reference}")
        // A reprint with another amount and a correct CRC is caught before anything is sent.
        val body = scanned.substringBeforeLast("6304").replace("54044.20", "54044.90") + "6304"
        try {
            verifyMerchantCode(body + "%04X".format(crc16(body.toByteArray())), key.publicKey, now)
            fail("a forged merchant code verified")
        } catch (e: PurseException.Rejected) {
            println("consumer: a forged copy is refused before paying: ${e.code}")
        }

        val idempotencyKey = newIdempotencyKey() // an app stores it before the first attempt
        val paid = consumer.payQr(scanned, wallet.id, null, idempotencyKey).payment
        println("consumer: paid ${paid.amount} ${paid.currency} to ${paid.merchantName}: ${paid.id} ${paid.status}")
        val retried = consumer.payQr(scanned, wallet.id, null, idempotencyKey).payment
        if (retried.id != paid.id) fail("a retry with the same Idempotency-Key paid again")
        println("consumer: retry with the same Idempotency-Key answers the same payment ${retried.id}")
        try {
            consumer.payQr(scanned, wallet.id, null, null)
            fail("the same dynamic code was paid twice")
        } catch (e: PurseException.Api) {
            println("consumer: paying the code again is refused: ${e.code} (${e.status})")
        }

        // --- 4. Merchant and consumer see it -------------------------------------------------------
        val merchantEvent = awaitEvent("payment.succeeded", paid.id) { after ->
            merchantApp.waitForMerchantEvents(shop.id, after, 50u, 10u)
        }
        println("merchant: event ${merchantEvent.eventType} ${merchantEvent.id} for ${paid.id}: " +
            "${paid.amount} ${paid.currency}, reference ${paid.reference}")
        val consumerEvent = awaitEvent("payment.succeeded", paid.id) { after ->
            consumer.waitForEvents(after, 50u, 10u)
        }
        println("consumer: event ${consumerEvent.eventType} ${consumerEvent.id}")
        val history = consumer.history(wallet.id, 10u, null)
        for (item in history.items) {
            val sign = if (item.direction == "debit") "-" else "+"
            println("consumer: history ${item.transfer.id} ${item.transfer.kind} $sign${item.transfer.amount} ${item.transfer.currency}")
        }
        if (history.items.firstOrNull()?.transfer?.id != paid.transferId) fail("the payment is not first in history")
        println("consumer: balance ${consumer.wallet(wallet.id).balance} ${wallet.currency}")

        // A restarted app: a new client resumes the saved session (the refresh token rotates).
        val saved = sessions.load() ?: fail("no saved session")
        val restarted = PurseClient(config, phoneKey.signer(), sessions)
        restarted.resume(saved)
        restarted.registerDevice("JVM demo phone")
        println("consumer: restarted app resumed ${restarted.userId()}, balance ${restarted.wallet(wallet.id).balance} ${wallet.currency}")
        println("payment\t${paid.id}\t${paid.transferId}\t${shop.walletId}\t${paid.amount}")
        println("online demo finished")
    } catch (e: PurseException) {
        fail("${codeOf(e)}: $e")
    }
}
