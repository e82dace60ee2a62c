// The app's one PurseClient, PayCodes and background executor. PurseClient calls block on the
// network, so every call goes through `background`, and results come back on the main thread.
package app.purse.wallet.ui

import android.app.Application
import android.content.Context
import android.os.Handler
import android.os.Looper
import app.purse.sdk.ClientConfig
import app.purse.sdk.PayCodes
import app.purse.sdk.PurseClient
import app.purse.wallet.BuildConfig
import app.purse.wallet.logic.Clock
import app.purse.wallet.logic.Display
import app.purse.wallet.logic.MerchantKeys
import app.purse.wallet.logic.PrefsCounterStore
import app.purse.wallet.logic.PrefsSessionStore
import app.purse.wallet.logic.deviceKey
import java.time.ZoneId
import java.util.Locale
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors

class PurseApp : Application() {
    lateinit var client: PurseClient
        private set
    lateinit var payCodes: PayCodes
        private set
    lateinit var sessions: PrefsSessionStore
        private set
    lateinit var merchantKeys: MerchantKeys
        private set
    val clock = Clock { System.currentTimeMillis() }
    val display: Display get() = Display(Locale.getDefault(), ZoneId.systemDefault())
    private val main = Handler(Looper.getMainLooper())

    /** Two threads: a payment or a refresh never waits behind a 30 s event long poll. */
    val executor: ExecutorService = Executors.newFixedThreadPool(2)

    override fun onCreate() {
        super.onCreate()
        val prefs = SharedPreferencesStore(getSharedPreferences("purse", Context.MODE_PRIVATE))
        val sealer = KeystoreSealer("purse.storage")
        // Tiny and local; everything that touches the network runs on `executor`.
        val key = deviceKey(prefs, sealer)
        sessions = PrefsSessionStore(prefs, sealer)
        client = PurseClient(ClientConfig(baseUrl = BuildConfig.PURSE_BASE_URL), key.signer(), sessions)
        payCodes = PayCodes.withKeyPair(key, PrefsCounterStore(prefs))
        merchantKeys = MerchantKeys(client, clock)
    }

    /** Runs `work` off the main thread and hands its result to `done` on the main thread. */
    fun <T> background(work: () -> T, done: (T) -> Unit) {
        executor.execute {
            val result = work()
            main.post { done(result) }
        }
    }
}

val android.app.Activity.purse: PurseApp get() = application as PurseApp
