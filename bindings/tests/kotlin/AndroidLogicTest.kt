// The Android app's logic (mobile-examples/android/app/src/main/java/app/purse/wallet/logic/, no
// android.* imports) on the JVM, over the generated bindings and a real `purse serve` started by
// bindings/tests/it/kotlin.rs: preferences-backed counter and session stores, money and history
// formatting, the pay code refresh schedule, and the balance, scan to pay and history screens.
// Output protocol as BindingsTest.kt ("ok <name>" / "FAIL <name>: <why>", tab-separated data).
// Usage: AndroidLogicTestKt <base url> <operator token>
package app.purse.wallet.logic.test

import app.purse.sdk.*
import app.purse.wallet.logic.*
import java.time.ZoneId
import java.util.Locale
import kotlin.system.exitProcess

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

inline fun <reified E : Throwable> throws(call: () -> Any?): E {
    try {
        val result = call()
        throw AssertionError("expected ${E::class.simpleName}, got $result")
    } catch (e: Throwable) {
        if (e is E) return e
        throw e
    }
}

/** SharedPreferences as a map, with a switch to make commits fail (a full disk). */
class MapPrefs : KeyValueStore {
    val values = HashMap<String, String>()
    var failWrites = false
    var writes = 0
    override fun getString(key: String): String? = values[key]
    override fun putString(key: String, value: String?): Boolean {
        if (failWrites) return false
        writes++
        if (value == null) values.remove(key) else values[key] = value
        return true
    }
}

/** Stands in for the Keystore AES-GCM key: XOR with a byte and a check byte (not encryption). */
class TestSealer(private val mask: Int) : Sealer {
    override fun seal(plain: ByteArray): ByteArray = byteArrayOf(mask.toByte()) + plain.map { (it.toInt() xor mask).toByte() }
    override fun open(sealed: ByteArray): ByteArray {
        require(sealed.isNotEmpty() && sealed[0] == mask.toByte()) { "not sealed by this key" }
        return sealed.drop(1).map { (it.toInt() xor mask).toByte() }.toByteArray()
    }
}

class FakeClock(var ms: Long) : Clock {
    override fun nowMs(): Long = ms
}

/** NBSP and narrow NBSP as plain spaces: CLDR versions differ in which one a locale uses. */
fun plain(text: String) = text.replace('\u00A0', ' ').replace('\u202F', ' ')

fun main(args: Array<String>) {
    val baseUrl = args[0]
    val operatorToken = args[1]
    val us = Display(Locale.US, ZoneId.of("UTC"))

    check("android_money_format") {
        expect(MoneyFormat.format("12.50", "USD", Locale.US) == "$12.50") { MoneyFormat.format("12.50", "USD", Locale.US) }
        expect(MoneyFormat.format("4.2", "USD", Locale.US) == "$4.20") { "pads to the currency's decimals" }
        expect(MoneyFormat.format("1500", "JPY", Locale.JAPAN).endsWith("1,500")) { MoneyFormat.format("1500", "JPY", Locale.JAPAN) }
        expect(plain(MoneyFormat.format("1234.5", "EUR", Locale.GERMANY)) == "1.234,50 €") { MoneyFormat.format("1234.5", "EUR", Locale.GERMANY) }
        // 10^15 - 1 minor units: a Double would not hold the last digit.
        expect(MoneyFormat.format("9999999999999.99", "USD", Locale.US) == "$9,999,999,999,999.99") { "exact" }
        expect(MoneyFormat.signed("4.20", "USD", true, Locale.US) == "\u2212$4.20") { "debit sign" }
        expect(MoneyFormat.signed("20.00", "USD", false, Locale.US) == "+$20.00") { "credit sign" }
        expect(MoneyFormat.format("3.5", "ZZZ", Locale.US) == "3.5 ZZZ") { "a code the JDK does not know" }
        throws<IllegalArgumentException> { MoneyFormat.format("1.005", "USD", Locale.US) }
        throws<IllegalArgumentException> { MoneyFormat.format("1.5", "JPY", Locale.US) }
        throws<IllegalArgumentException> { MoneyFormat.format("12,50", "USD", Locale.US) }
    }

    check("android_counter_store_prefs") {
        val prefs = MapPrefs()
        val key = KeyPair.generate()
        val first = PayCodes(key.signer(), PrefsCounterStore(prefs))
        val code = first.generate(PayCodeRequest())
        // The block's end was committed before the code existed.
        expect(code.counter == 1u && prefs.values["paycode.counter.${key.keyId()}"] == "16") { "${prefs.values}" }
        repeat(15) { first.generate(PayCodeRequest()) }
        expect(prefs.writes == 1) { "one commit per 16 codes, got ${prefs.writes}" }
        // The app restarts: a new PayCodes over the same preferences continues after the block.
        val restarted = PayCodes(key.signer(), PrefsCounterStore(prefs))
        expect(restarted.generate(PayCodeRequest()).counter == 17u) { "restart" }
        // A commit that fails stops the code before it is signed.
        prefs.failWrites = true
        val other = PayCodes(KeyPair.generate().signer(), PrefsCounterStore(prefs))
        val failed = throws<PurseException.Storage> { other.generate(PayCodeRequest()) }
        expect(failed.code == "counter_store_failed") { failed.code }
        // A corrupt value is an error, never a fresh start at #1.
        prefs.failWrites = false
        prefs.values["paycode.counter.${key.keyId()}"] = "garbage"
        val corrupt = throws<PurseException.Storage> { PayCodes(key.signer(), PrefsCounterStore(prefs)).generate(PayCodeRequest()) }
        expect(corrupt.code == "counter_store_failed") { corrupt.code }
    }

    check("android_session_store") {
        val prefs = MapPrefs()
        val store = PrefsSessionStore(prefs, TestSealer(0x5A))
        expect(store.load() == null) { "empty" }
        store.save(SavedSession("usr_abc", "rt_secret_value"))
        expect(store.load() == SavedSession("usr_abc", "rt_secret_value")) { "round trip" }
        expect(prefs.values.values.none { it.contains("rt_secret_value") }) { "the refresh token is stored sealed" }
        // Another key (a reinstalled app, a restored backup) cannot open it: log in again.
        expect(PrefsSessionStore(prefs, TestSealer(0x33)).load() == null) { "foreign key" }
        store.save(null)
        expect(store.load() == null && prefs.values.isEmpty()) { "logout clears it" }
        prefs.failWrites = true
        val failed = throws<PurseException.Storage> { store.save(SavedSession("usr_abc", "rt")) }
        expect(failed.code == "session_store_failed") { failed.code }
    }

    check("android_device_key") {
        val prefs = MapPrefs()
        val key = deviceKey(prefs, TestSealer(0x5A))
        expect(deviceKey(prefs, TestSealer(0x5A)).keyId() == key.keyId()) { "the same key at the next start" }
        expect(prefs.values.values.none { it.contains(key.toText().substringAfter(':')) }) { "the key text is stored sealed" }
        // The Keystore key is gone: a new device key, written back.
        val fresh = deviceKey(prefs, TestSealer(0x33))
        expect(fresh.keyId() != key.keyId() && deviceKey(prefs, TestSealer(0x33)).keyId() == fresh.keyId()) { "replaced" }
        val failed = throws<PurseException.Storage> { deviceKey(MapPrefs().also { it.failWrites = true }, TestSealer(1)) }
        expect(failed.code == "device_key_store_failed") { failed.code }
    }

    check("android_paycode_refresh") {
        val clock = FakeClock(1_900_000_000_000)
        val key = KeyPair.generate()
        val screen = PayCodeScreen(
            PayCodes(key.signer(), PrefsCounterStore(MapPrefs())),
            clock,
            PayCodeConfig(cap = Money("25.00", "USD")),
        )
        val first = screen.current()
        expect(first.code.counter == 1u && first.secondsLeft == 60L) { "$first" }
        expect(first.refreshAtMs == clock.ms + 45_000) { "refresh 15 s before expiry: $first" }
        // The till accepts what the screen shows, with the cap the app asked for.
        verifyPayCode(first.code.text, key.publicKey(), null, (clock.ms / 1000).toULong(), Money("4.20", "USD"))
        clock.ms += 44_999
        expect(screen.current().code.counter == 1u) { "same code until the refresh time" }
        clock.ms += 1
        val second = screen.current()
        expect(second.code.counter == 2u && second.secondsLeft == 60L) { "$second" }
        // Charged: replaced at once (the rate limit counts from when the code was made).
        clock.ms += 5_000
        screen.onCharged()
        expect(screen.current().code.counter == 3u) { "replaced after its charge" }
        // Whatever the caller does, at most one new code a second.
        screen.onCharged()
        val limited = screen.current()
        expect(limited.code.counter == 3u && limited.refreshAtMs == clock.ms + 1_000) { "$limited" }
        clock.ms += 1_000
        expect(screen.current().code.counter == 4u) { "after the rate limit" }
        // Back on the screen after ten minutes: the stale code is replaced before it is shown.
        clock.ms += 600_000
        val back = screen.current()
        expect(back.code.counter == 5u && back.code.issuedAtUnix == (clock.ms / 1000).toULong()) { "$back" }
        // The user set the clock back an hour: the code from the "future" is replaced.
        clock.ms -= 3_600_000
        expect(screen.current().code.counter == 6u) { "clock moved back" }
    }

    check("android_charge_events") {
        // The shapes the server publishes to the payer (docs/api.md, core::api::payments).
        val charge = Event("evt_1", "payment.succeeded", 0,
            """{"id":"chg_abc","merchant_id":"mer_x","amount":"4.20","currency":"USD","device_id":"dev_me","status":"succeeded","refunded_amount":"0.00","transfer_id":"txn_1","created_at_ms":0}""")
        expect(isChargeOf(charge, "dev_me")) { "a charge of this device" }
        expect(!isChargeOf(charge, "dev_other")) { "another device of the same user" }
        val qrPayment = Event("evt_2", "payment.succeeded", 0, """{"id":"pay_abc","merchant_id":"mer_x","wallet":"wal_1"}""")
        expect(!isChargeOf(qrPayment, "dev_me")) { "a scanned QR payment is not a pay code charge" }
        expect(!isChargeOf(Event("evt_3", "payment.refunded", 0, charge.dataJson), "dev_me")) { "a refund" }
    }

    // The screens against the real server: a funded consumer, a merchant with a dynamic code.
    val stamp = System.currentTimeMillis()
    val password = "correct horse battery staple"
    val sessionPrefs = MapPrefs()
    val sessions = PrefsSessionStore(sessionPrefs, TestSealer(0x5A))
    val consumer = PurseClient(ClientConfig(baseUrl = baseUrl), KeyPair.generate().signer(), sessions)
    val merchant = PurseClient(ClientConfig(baseUrl = baseUrl), KeyPair.generate().signer(), null)
    val clock = Clock { System.currentTimeMillis() }
    var walletId = ""
    var paidId = ""

    check("android_balance_screen") {
        consumer.signup("ana-android-$stamp@example.com", null, password)
        expect(sessions.load()?.userId == consumer.userId()) { "the session is kept sealed in preferences" }
        consumer.registerDevice("Pixel (JVM test)")
        val empty = BalanceScreen(consumer, "USD", us).load()
        expect(empty is Loaded.Ok && empty.value.amountText == "$0.00") { "$empty" }
        walletId = (empty as Loaded.Ok).value.walletId
        consumer.adminFund(operatorToken, walletId, "20.00", "android-fund-$stamp")
        val funded = BalanceScreen(consumer, "USD", us).load()
        expect(funded == Loaded.Ok(Balance(walletId, "USD", "$20.00"))) { "$funded" }
    }

    check("android_scan_to_pay") {
        merchant.signup("shop-android-$stamp@example.com", null, password)
        val shop = merchant.createMerchant("Android Bakery", "Lisbon", "PT", "5462", "USD")
        merchant.createMerchantKey(shop.id)
        val qr = merchant.createMerchantQr(shop.id, "4.20", "a-$stamp", 300uL)
        val scan = ScanToPay(consumer, walletId, MerchantKeys(consumer, clock), clock, us)
        val review = scan.review(qr.payload)
        expect(review is Review.Confirm) { "$review" }
        val confirm = review as Review.Confirm
        expect(confirm.merchantName == "Android Bakery" && confirm.amountText == "$4.20" && confirm.reference == "a-$stamp") { "$confirm" }
        val paid = scan.pay(confirm)
        expect(paid is PayOutcome.Paid && paid.text == "Paid $4.20 to Android Bakery") { "$paid" }
        paidId = (paid as PayOutcome.Paid).paymentId
        // "Try again" with the same Confirm answers the same payment: the key was made at review.
        expect(scan.pay(confirm) == paid) { "a retry paid again" }
        // Scanned again: a new review, a new key, refused by the server.
        val again = scan.pay(scan.review(qr.payload) as Review.Confirm)
        expect(again == PayOutcome.Failed("This code has already been paid.", retry = false)) { "$again" }
        // A reprint with another amount and a correct CRC is refused before anything is sent.
        val body = qr.payload.substringBeforeLast("6304").replace("54044.20", "54044.90") + "6304"
        var crc = 0xFFFF
        for (b in body.toByteArray()) {
            crc = crc xor ((b.toInt() and 0xFF) shl 8)
            repeat(8) { crc = if (crc and 0x8000 != 0) (crc shl 1) xor 0x1021 else crc shl 1 }
            crc = crc and 0xFFFF
        }
        val forged = scan.review(body + "%04X".format(crc))
        expect(forged == Review.Refused("This code is not genuine. Do not pay it.")) { "$forged" }
        // A real Pix code (bcb-pix-static-2.6.3 of core/tests/data/emv-mpm.json) is read, but is not Purse's to pay.
        val pix = "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***63041D3D"
        val other = scan.review(pix)
        expect(other is Review.OtherScheme && other.merchantName == "Fulano de Tal") { "$other" }
        expect(scan.review("hello") == Review.Refused("This is not a payment code.")) { "garbage" }
        // A static code: the user types the amount.
        val static = merchant.createMerchantQr(shop.id, null, null, null)
        val typed = scan.review(static.payload) as Review.Confirm
        expect(typed.amount == null && typed.amountText == null) { "$typed" }
        expect(scan.pay(typed, "1.30") is PayOutcome.Paid) { "static code" }
        val broke = scan.pay(scan.review(static.payload) as Review.Confirm, "999.00")
        expect(broke == PayOutcome.Failed("Not enough money in your wallet.", retry = false)) { "$broke" }
        println("payment\t$paidId")
    }

    check("android_history_screen") {
        val history = HistoryScreen(consumer, walletId, us, pageSize = 2u)
        val first = history.refresh()
        expect(first is Loaded.Ok && first.value.size == 2 && history.hasMore) { "$first" }
        val rows = (history.loadMore() as Loaded.Ok).value
        expect(!history.hasMore && rows.size == 3) { "$rows" }
        expect(rows.map { it.title } == listOf("Paid a merchant", "Paid a merchant", "Money added")) { "$rows" }
        expect(rows.map { it.amountText } == listOf("\u2212$1.30", "\u2212$4.20", "+$20.00")) { "$rows" }
        expect(rows.all { it.dateText.isNotEmpty() }) { "$rows" }
        expect(BalanceScreen(consumer, "USD", us).load() == Loaded.Ok(Balance(walletId, "USD", "$14.50"))) { "balance" }
    }

    check("android_errors_as_text") {
        val offline = PurseClient(ClientConfig(baseUrl = "http://127.0.0.1:9", connectTimeoutMs = 2000uL), KeyPair.generate().signer(), null)
        val down = BalanceScreen(offline, "USD", us).load()
        expect(down == Loaded.Failed("Please log in.")) { "$down" }
        consumer.logout()
        expect(sessions.load() == null) { "logout clears the saved session" }
        val out = BalanceScreen(consumer, "USD", us).load()
        expect(out == Loaded.Failed("Please log in.")) { "$out" }
        val network = throws<PurseException.Network> { offline.login("x@example.com", null, password) }
        expect(userMessage(network) == "No connection to Purse. Check your network and try again.") { userMessage(network) }
    }

    println("$failures failed")
    exitProcess(if (failures == 0) 0 else 1)
}
