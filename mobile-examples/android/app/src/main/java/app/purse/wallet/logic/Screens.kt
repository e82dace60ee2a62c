// The consumer screens' logic: balance, history, scan to pay. Each call blocks on the network
// (PurseClient), so the activities run them on a background executor and post the result to the
// main thread. Errors come back as text for the user (Format.kt `userMessage`), never as a crash.
package app.purse.wallet.logic

import app.purse.sdk.HistoryItem
import app.purse.sdk.MerchantKey
import app.purse.sdk.PurseClientInterface
import app.purse.sdk.PurseException
import app.purse.sdk.decodeEmv
import app.purse.sdk.newIdempotencyKey
import app.purse.sdk.readMerchantCode
import app.purse.sdk.verifyMerchantCode
import java.time.ZoneId
import java.util.Locale

/** How the screens format things: the phone's locale and time zone. */
data class Display(val locale: Locale, val zone: ZoneId)

sealed class Loaded<out T> {
    data class Ok<T>(val value: T) : Loaded<T>()
    data class Failed(val message: String) : Loaded<Nothing>()
}

fun <T> loading(call: () -> T): Loaded<T> = try {
    Loaded.Ok(call())
} catch (e: PurseException) {
    Loaded.Failed(userMessage(e))
}

data class Balance(val walletId: String, val currency: String, val amountText: String)

/** The wallet in the user's currency (opened on first use; opening again answers the same one). */
class BalanceScreen(private val client: PurseClientInterface, private val currency: String, private val display: Display) {
    fun load(): Loaded<Balance> = loading {
        val wallet = client.openWallet(currency)
        Balance(wallet.id, wallet.currency, MoneyFormat.format(wallet.balance, wallet.currency, display.locale))
    }
}

/** History, newest first, a page at a time. */
class HistoryScreen(
    private val client: PurseClientInterface,
    private val walletId: String,
    private val display: Display,
    private val pageSize: UInt = 25u,
) {
    private val items = mutableListOf<HistoryItem>()
    var hasMore = true
        private set

    val rows: List<HistoryRow>
        @Synchronized get() = items.map { historyRow(it, display.locale, display.zone) }

    /** Starts again from the newest. */
    @Synchronized
    fun refresh(): Loaded<List<HistoryRow>> = loading {
        val page = client.history(walletId, pageSize, null)
        items.clear()
        items.addAll(page.items)
        hasMore = page.hasMore
        rows
    }

    /** Appends the next page (nothing when there is none). */
    @Synchronized
    fun loadMore(): Loaded<List<HistoryRow>> = loading {
        if (hasMore) {
            val page = client.history(walletId, pageSize, items.lastOrNull()?.transfer?.id)
            items.addAll(page.items)
            hasMore = page.hasMore
        }
        rows
    }
}

/**
 * Merchants' public keys, kept as long as the server lets them be cached (5 minutes), so that a
 * revocation reaches the phone within that time.
 */
class MerchantKeys(
    private val client: PurseClientInterface,
    private val clock: Clock,
    private val ttlMs: Long = 5 * 60 * 1000,
    private val merchantsMax: Int = 64,
) {
    private val cache = LinkedHashMap<String, Pair<Long, List<MerchantKey>>>()

    @Synchronized
    fun of(merchantId: String): List<MerchantKey> {
        val now = clock.nowMs()
        cache[merchantId]?.let { (at, keys) -> if (now - at < ttlMs) return keys }
        val keys = client.merchantKeys(merchantId)
        cache.remove(merchantId)
        if (cache.size >= merchantsMax) cache.remove(cache.keys.first())
        cache[merchantId] = now to keys
        return keys
    }
}

/** What the consumer is asked after a scan. */
sealed class Review {
    /**
     * A genuine Purse code: show the merchant and amount, then [ScanToPay.pay]. Static codes have
     * no amount; the user types one. The Idempotency-Key is made here, before the first attempt,
     * so that "Try again" after a network error can never pay twice.
     */
    data class Confirm(
        val payload: String,
        val merchantName: String,
        val city: String,
        val amount: String?,
        val currency: String,
        val amountText: String?,
        val reference: String?,
        val idempotencyKey: String,
    ) : Review()

    /** A valid EMV code of another scheme (Pix, PromptPay, ...): Purse cannot pay it. */
    data class OtherScheme(val merchantName: String?, val message: String) : Review()

    data class Refused(val message: String) : Review()
}

sealed class PayOutcome {
    data class Paid(val paymentId: String, val text: String) : PayOutcome()

    /** `retry`: the same Confirm may be paid again (a network error); the same key is reused. */
    data class Failed(val message: String, val retry: Boolean) : PayOutcome()
}

/** Scan to pay: check what the camera read, then pay it from the wallet. */
class ScanToPay(
    private val client: PurseClientInterface,
    private val walletId: String,
    private val keys: MerchantKeys,
    private val clock: Clock,
    private val display: Display,
) {
    fun review(scanned: String): Review {
        val emv = try {
            decodeEmv(scanned)
        } catch (e: PurseException) {
            return Review.Refused("This is not a payment code.")
        }
        val claims = try {
            readMerchantCode(scanned)
        } catch (e: PurseException) {
            return Review.OtherScheme(emv.merchantName, "${emv.merchantName ?: "This shop"} uses another payment scheme; Purse cannot pay this code.")
        }
        return try {
            val key = keys.of(claims.merchantId).firstOrNull { it.keyId == claims.keyId }
                ?: return Review.Refused("This code is not genuine. Do not pay it.")
            if (key.status != "active") return Review.Refused("This shop's code was withdrawn. Ask for a new one.")
            val code = verifyMerchantCode(scanned, key.publicKey, (clock.nowMs() / 1000).toULong())
            Review.Confirm(
                payload = scanned,
                merchantName = code.merchantName,
                city = code.city,
                amount = code.amount?.amount,
                currency = code.currency,
                amountText = code.amount?.let { MoneyFormat.format(it.amount, it.currency, display.locale) },
                reference = code.reference,
                idempotencyKey = newIdempotencyKey(),
            )
        } catch (e: PurseException) {
            Review.Refused(userMessage(e))
        }
    }

    /** Pays a confirmed code; `amount` only for a static code (what the user typed). */
    fun pay(confirm: Review.Confirm, amount: String? = null): PayOutcome {
        require((confirm.amount == null) == (amount != null)) { "an amount is typed for static codes only" }
        return try {
            val payment = client.payQr(confirm.payload, walletId, amount, confirm.idempotencyKey).payment
            PayOutcome.Paid(
                payment.id,
                "Paid ${MoneyFormat.format(payment.amount, payment.currency, display.locale)} to ${payment.merchantName}",
            )
        } catch (e: PurseException) {
            PayOutcome.Failed(userMessage(e), retry = e is PurseException.Network)
        }
    }
}
