// Scan to pay: the camera reads a merchant's QR code (ZXing's scanner activity), the logic checks
// it (EMV structure, a Purse code, the merchant's signature with the key from its directory), the
// user confirms merchant and amount, and PurseClient pays it from the wallet.
package app.purse.wallet.ui

import android.app.AlertDialog
import android.os.Bundle
import android.text.InputType
import android.widget.EditText
import android.widget.TextView
import androidx.activity.ComponentActivity
import app.purse.wallet.logic.PayOutcome
import app.purse.wallet.logic.Review
import app.purse.wallet.logic.ScanToPay
import com.journeyapps.barcodescanner.ScanContract
import com.journeyapps.barcodescanner.ScanOptions

class ScanToPayActivity : ComponentActivity() {
    private lateinit var status: TextView
    private lateinit var scanToPay: ScanToPay

    private val scanner = registerForActivityResult(ScanContract()) { result ->
        val text = result.contents
        if (text == null) {
            finish() // cancelled
        } else {
            status.text = "Checking the code…"
            purse.background({ scanToPay.review(text) }, ::show)
        }
    }

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        val app = application as PurseApp
        scanToPay = ScanToPay(app.client, intent.getStringExtra(EXTRA_WALLET)!!, app.merchantKeys, app.clock, app.display)
        status = TextView(this).apply { textSize = 18f; setPadding(48, 96, 48, 48) }
        setContentView(status)
        scan()
    }

    private fun scan() {
        scanner.launch(
            ScanOptions()
                .setDesiredBarcodeFormats(ScanOptions.QR_CODE)
                .setPrompt("Scan the shop's QR code")
                .setBeepEnabled(false)
                .setOrientationLocked(false),
        )
    }

    private fun show(review: Review) {
        when (review) {
            is Review.Refused -> refuse(review.message)
            is Review.OtherScheme -> refuse(review.message)
            is Review.Confirm -> confirm(review)
        }
    }

    private fun confirm(review: Review.Confirm) {
        val amountField = EditText(this).apply {
            hint = "Amount (${review.currency})"
            inputType = InputType.TYPE_CLASS_NUMBER or InputType.TYPE_NUMBER_FLAG_DECIMAL
        }
        val builder = AlertDialog.Builder(this)
            .setTitle("Pay ${review.merchantName}, ${review.city}")
            .setNegativeButton("Cancel") { _, _ -> finish() }
        if (review.amountText != null) {
            builder.setMessage("${review.amountText}\nReference ${review.reference ?: "-"}")
        } else {
            builder.setView(amountField) // a static code: the user types the amount
        }
        builder.setPositiveButton("Pay") { _, _ ->
            val typed = if (review.amount == null) amountField.text.toString().trim() else null
            pay(review, typed)
        }.show()
    }

    private fun pay(review: Review.Confirm, typed: String?) {
        status.text = "Paying…"
        purse.background({ scanToPay.pay(review, typed) }) { outcome ->
            when (outcome) {
                is PayOutcome.Paid -> AlertDialog.Builder(this)
                    .setTitle("Paid")
                    .setMessage(outcome.text)
                    .setPositiveButton("Done") { _, _ -> finish() }
                    .show()
                is PayOutcome.Failed -> {
                    val dialog = AlertDialog.Builder(this).setTitle("Not paid").setMessage(outcome.message)
                    // A network error: the same review (same Idempotency-Key) can never pay twice.
                    if (outcome.retry) dialog.setPositiveButton("Try again") { _, _ -> pay(review, typed) }
                    dialog.setNegativeButton("Close") { _, _ -> finish() }.show()
                }
            }
        }
    }

    private fun refuse(message: String) {
        AlertDialog.Builder(this)
            .setTitle("Cannot pay this code")
            .setMessage(message)
            .setPositiveButton("Scan again") { _, _ -> scan() }
            .setNegativeButton("Close") { _, _ -> finish() }
            .show()
    }
}
