// The "show pay code" screen without the screen: which code to show and when to make the next.
// A pay code is valid for about a minute and can be charged once, so the screen replaces it
// before a till could find it expired, at once after it was charged, and on return to a screen
// whose code went stale; never more than once a second, whatever the caller does, because each
// new code spends a counter.
package app.purse.wallet.logic

import app.purse.sdk.Event
import app.purse.sdk.Money
import app.purse.sdk.PayCode
import app.purse.sdk.PayCodeRequest
import app.purse.sdk.PayCodesInterface

/**
 * Whether a wallet event is a till charging one of this device's pay codes: the server sends the
 * payer `payment.succeeded` with the charge (`chg_…`) and the device that made the code.
 */
fun isChargeOf(event: Event, deviceId: String): Boolean =
    event.eventType == "payment.succeeded" &&
        event.dataJson.contains("\"id\":\"chg_") &&
        event.dataJson.contains("\"device_id\":\"$deviceId\"")

/** Milliseconds since the epoch; the device clock in the app, a fake in tests. */
fun interface Clock {
    fun nowMs(): Long
}

data class PayCodeConfig(
    /** The most a merchant may charge with one code; null for no cap. */
    val cap: Money? = null,
    /** Validity the SDK signs into each code (1 to 255 s). */
    val validityS: UInt = 60u,
    /** A code is replaced this long before its nominal expiry, so a till never scans a stale one. */
    val refreshMarginS: UInt = 15u,
    /** The fastest codes are ever replaced (each one spends a counter). */
    val refreshMinIntervalMs: Long = 1_000,
) {
    init {
        require(validityS in 1u..255u) { "validityS must be 1 to 255" }
        require(refreshMarginS < validityS) { "refreshMarginS must be below validityS" }
        require(refreshMinIntervalMs > 0) { "refreshMinIntervalMs must be positive" }
    }
}

/** What the screen shows: the code (render `code.text` with `renderQrPng`) and its countdown. */
data class PayCodeState(val code: PayCode, val secondsLeft: Long, val refreshAtMs: Long)

/**
 * Holds the code on screen. Call [current] when the screen shows or the timer fires and schedule
 * the next call after [PayCodeState.refreshAtMs] (`Handler.postDelayed` in the app); call
 * [onCharged] when the wallet's events say a code of this device was charged. Blocking (`PayCodes.generate`
 * may call the counter store): call it off the main thread.
 */
class PayCodeScreen(
    private val payCodes: PayCodesInterface,
    private val clock: Clock,
    private val config: PayCodeConfig = PayCodeConfig(),
) {
    private var code: PayCode? = null
    private var madeAtMs: Long = Long.MIN_VALUE
    private var charged = false

    @Synchronized
    fun current(): PayCodeState {
        val now = clock.nowMs()
        val shown = code
        // A clock set back (negative time since the last code) must not block the refresh.
        val sinceMadeMs = now - madeAtMs
        val mayMake = sinceMadeMs >= config.refreshMinIntervalMs || sinceMadeMs < 0
        val state = if (shown == null || (due(shown, now) && mayMake)) {
            make(now)
        } else {
            shown
        }
        return stateOf(state, now)
    }

    /**
     * A till charged a pay code of this device ([isChargeOf]): the next [current] shows a new code
     * (rate limit permitting). The charge does not say which counter it used; it was the code on
     * screen or an older one, and replacing a still valid code costs only a counter.
     */
    @Synchronized
    fun onCharged() {
        if (code != null) charged = true
    }

    private fun due(shown: PayCode, now: Long): Boolean =
        charged ||
            now >= refreshAtMs(shown) ||
            // The clock went back (the user changed it): the code's issue time is in the future.
            now < shown.issuedAtUnix.toLong() * 1000 - config.refreshMinIntervalMs

    private fun make(now: Long): PayCode {
        val made = payCodes.generate(
            PayCodeRequest(cap = config.cap, validitySecs = config.validityS, issuedAtUnix = (now / 1000).toULong()),
        )
        code = made
        madeAtMs = now
        charged = false
        return made
    }

    private fun refreshAtMs(code: PayCode): Long =
        (code.expiresAtUnix.toLong() - config.refreshMarginS.toLong()) * 1000

    private fun stateOf(code: PayCode, now: Long): PayCodeState {
        val refreshAt = maxOf(refreshAtMs(code), madeAtMs + config.refreshMinIntervalMs).let {
            if (charged) madeAtMs + config.refreshMinIntervalMs else it
        }
        val left = (code.expiresAtUnix.toLong() * 1000 - now).coerceAtLeast(0) / 1000
        return PayCodeState(code, left, refreshAt)
    }
}
