// How amounts, history lines and errors read on screen. Amounts stay decimal strings and
// BigDecimal from the wire to the text: never a Double, never rounded.
package app.purse.wallet.logic

import app.purse.sdk.HistoryItem
import app.purse.sdk.PurseException
import java.math.BigDecimal
import java.math.RoundingMode
import java.text.DecimalFormat
import java.text.NumberFormat
import java.time.Instant
import java.time.ZoneId
import java.time.format.DateTimeFormatter
import java.time.format.FormatStyle
import java.util.Currency
import java.util.Locale

object MoneyFormat {
    /**
     * `"12.50"`, `"USD"` as the locale writes money (`$12.50`, `12,50 $US`). Throws
     * IllegalArgumentException for text that is not a decimal or has more decimals than the
     * currency (the SDK and the server never send such amounts).
     */
    fun format(amount: String, currency: String, locale: Locale): String {
        val value = try {
            BigDecimal(amount)
        } catch (e: NumberFormatException) {
            throw IllegalArgumentException("not a decimal amount: $amount")
        }
        val known = try {
            Currency.getInstance(currency)
        } catch (e: IllegalArgumentException) {
            null
        }
        val digits = known?.defaultFractionDigits?.takeIf { it >= 0 } ?: value.scale().coerceAtLeast(0)
        require(value.stripTrailingZeros().scale() <= digits) { "$amount has more than $digits decimals for $currency" }
        if (known == null) return "${value.setScale(digits)} $currency"
        val format = NumberFormat.getCurrencyInstance(locale) as DecimalFormat
        format.currency = known
        format.minimumFractionDigits = digits
        format.maximumFractionDigits = digits
        // Nothing to round (checked above); UNNECESSARY makes any slip throw instead of rounding.
        format.roundingMode = RoundingMode.UNNECESSARY
        return format.format(value)
    }

    /** With the sign of the wallet's side: `−$4.20` for a debit, `+$20.00` for a credit. */
    fun signed(amount: String, currency: String, debit: Boolean, locale: Locale): String =
        (if (debit) "\u2212" else "+") + format(amount, currency, locale)
}

/** One line of the history screen. */
data class HistoryRow(
    val transferId: String,
    val title: String,
    val amountText: String,
    val dateText: String,
    val debit: Boolean,
)

fun historyRow(item: HistoryItem, locale: Locale, zone: ZoneId): HistoryRow {
    val debit = item.direction == "debit"
    val t = item.transfer
    val title = when (t.kind) {
        "payment" -> if (debit) "Paid a merchant" else "Payment received"
        "charge" -> if (debit) "Paid with pay code" else "Pay code charge"
        "p2p" -> if (debit) "Sent" else "Received"
        "issuance", "topup" -> "Money added"
        "refund" -> "Refund"
        "reversal" -> "Correction"
        else -> t.kind.replaceFirstChar { it.uppercase(locale) }
    }
    val date = DateTimeFormatter.ofLocalizedDateTime(FormatStyle.MEDIUM, FormatStyle.SHORT)
        .withLocale(locale)
        .withZone(zone)
        .format(Instant.ofEpochMilli(t.createdAtMs))
    return HistoryRow(t.id, title, MoneyFormat.signed(t.amount, t.currency, debit, locale), date, debit)
}

/** What to tell the user about a failed call: by the stable code, never the English reason. */
fun userMessage(e: PurseException): String = when (e) {
    is PurseException.Network -> when (e.code) {
        "network_timeout" -> "The server did not answer in time. Try again."
        else -> "No connection to Purse. Check your network and try again."
    }
    is PurseException.Api -> when (e.code) {
        "insufficient_funds" -> "Not enough money in your wallet."
        "qr_already_paid" -> "This code has already been paid."
        "qr_expired", "merchant_code_expired" -> "This code has expired. Ask for a new one."
        "merchant_inactive" -> "This shop cannot take payments right now."
        "currency_mismatch" -> "This code is in another currency than your wallet."
        "token_expired", "refresh_token_reused", "refresh_token_invalid" -> "Please log in again."
        else -> if (e.code.startsWith("risk_")) "Payment refused for your safety. Contact support." else "Purse refused: ${e.code}."
    }
    is PurseException.Rejected -> when (e.code) {
        "merchant_code_bad_signature" -> "This code is not genuine. Do not pay it."
        "merchant_code_expired" -> "This code has expired. Ask for a new one."
        "not_purse_code" -> "This is not a Purse code."
        "not_logged_in" -> "Please log in."
        "device_not_registered" -> "This phone is not registered yet."
        else -> "Refused: ${e.code}."
    }
    is PurseException.Invalid -> "This is not a payment code."
    is PurseException.Storage -> "The phone could not save your data. Free some space and try again."
    is PurseException.Signer -> "The phone's key store is not available. Unlock the phone and try again."
    is PurseException.Internal -> "Something went wrong in the app (${e.code})."
}
