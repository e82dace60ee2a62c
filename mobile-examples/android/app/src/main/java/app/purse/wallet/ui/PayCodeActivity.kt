// Show pay code: a QR of a fresh one-time pay code that a till scans, replaced on the schedule of
// logic/PayCodeScreen.kt (before it could expire, and at once after a charge, which the wallet's
// events report). The screen stays on and bright while it shows a code; nothing runs in the
// background when it is not visible.
package app.purse.wallet.ui

import android.app.Activity
import android.graphics.BitmapFactory
import android.os.Bundle
import android.os.Handler
import android.os.Looper
import android.view.Gravity
import android.view.WindowManager
import android.widget.ImageView
import android.widget.TextView
import app.purse.sdk.PurseException
import app.purse.sdk.renderQrPng
import app.purse.wallet.logic.PayCodeScreen
import app.purse.wallet.logic.PayCodeState
import app.purse.wallet.logic.isChargeOf
import app.purse.wallet.logic.userMessage
import java.util.concurrent.Future

class PayCodeActivity : Activity() {
    private lateinit var image: ImageView
    private lateinit var caption: TextView
    private lateinit var screen: PayCodeScreen
    private val main = Handler(Looper.getMainLooper())
    private val tick = Runnable { refresh() }
    private var events: Future<*>? = null
    private var visible = false

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        screen = PayCodeScreen(purse.payCodes, purse.clock)
        image = ImageView(this).apply { adjustViewBounds = true }
        caption = TextView(this).apply { textSize = 18f; gravity = Gravity.CENTER }
        setContentView(column(image, caption).apply { setPadding(48, 96, 48, 48) })
        window.addFlags(WindowManager.LayoutParams.FLAG_KEEP_SCREEN_ON)
        window.attributes = window.attributes.apply { screenBrightness = 1f } // tills scan better
    }

    override fun onResume() {
        super.onResume()
        visible = true
        refresh()
        events = purse.executor.submit { watchCharges() }
    }

    override fun onPause() {
        visible = false
        main.removeCallbacks(tick)
        events?.cancel(true)
        super.onPause()
    }

    private fun refresh() {
        purse.background({
            try {
                val state = screen.current()
                state to renderQrPng(state.code.text)
            } catch (e: PurseException) {
                userMessage(e)
            }
        }) { result ->
            if (!visible) return@background
            when (result) {
                is Pair<*, *> -> {
                    val state = result.first as PayCodeState
                    val png = result.second as ByteArray
                    image.setImageBitmap(BitmapFactory.decodeByteArray(png, 0, png.size))
                    caption.text = "Show this to the cashier · #${state.code.counter} · ${state.secondsLeft} s"
                    main.postDelayed(tick, (state.refreshAtMs - purse.clock.nowMs()).coerceIn(250, 60_000))
                }
                else -> {
                    caption.text = result.toString()
                    main.postDelayed(tick, 5_000)
                }
            }
        }
    }

    /** The id of the newest event so far (pages are oldest first). */
    private fun latestEventId(): String? {
        var after: String? = null
        while (true) {
            val page = try {
                purse.client.waitForEvents(after, 100u, 0u)
            } catch (e: PurseException) {
                return after
            }
            after = page.events.lastOrNull()?.id ?: after
            if (!page.hasMore) return after
        }
    }

    /** Long-polls the wallet's events; a charge of a code of this device replaces it at once. */
    private fun watchCharges() {
        val deviceId = purse.client.deviceId() ?: return
        // Only what happens from now on: start after the newest event (the store resumes from it).
        var after: String? = latestEventId()
        while (visible && !Thread.currentThread().isInterrupted) {
            val page = try {
                purse.client.waitForEvents(after, 20u, 25u)
            } catch (e: PurseException) {
                Thread.sleep(5_000)
                continue
            }
            for (event in page.events) {
                after = event.id
                if (isChargeOf(event, deviceId)) {
                    screen.onCharged()
                    main.post { refresh() }
                }
            }
        }
    }
}
