// Balance, and the way to the other screens. Without a saved session it asks for email and
// password (sign up or log in), then registers this phone's key as a device.
package app.purse.wallet.ui

import android.app.Activity
import android.content.Intent
import android.os.Bundle
import android.text.InputType
import android.view.Gravity
import android.widget.Button
import android.widget.EditText
import android.widget.LinearLayout
import android.widget.TextView
import app.purse.sdk.PurseException
import app.purse.wallet.logic.Balance
import app.purse.wallet.logic.BalanceScreen
import app.purse.wallet.logic.Loaded
import app.purse.wallet.logic.userMessage

const val CURRENCY = "USD"
const val EXTRA_WALLET = "wallet"

class MainActivity : Activity() {
    private lateinit var balanceText: TextView
    private lateinit var status: TextView
    private lateinit var account: LinearLayout
    private lateinit var actions: LinearLayout
    private var wallet: Balance? = null

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        balanceText = TextView(this).apply { textSize = 40f; gravity = Gravity.CENTER }
        status = TextView(this)
        val email = EditText(this).apply { hint = "Email"; inputType = InputType.TYPE_TEXT_VARIATION_EMAIL_ADDRESS }
        val password = EditText(this).apply {
            hint = "Password"
            inputType = InputType.TYPE_CLASS_TEXT or InputType.TYPE_TEXT_VARIATION_PASSWORD
        }
        account = column(
            email,
            password,
            button("Sign up") { enter { purse.client.signup(email.text.toString(), null, password.text.toString()) } },
            button("Log in") { enter { purse.client.login(email.text.toString(), null, password.text.toString()) } },
        )
        actions = column(
            button("Scan to pay") { open(ScanToPayActivity::class.java) },
            button("Show pay code") { open(PayCodeActivity::class.java) },
            button("History") { open(HistoryActivity::class.java) },
        )
        setContentView(column(balanceText, status, account, actions).apply { setPadding(48, 96, 48, 48) })
        showLoggedIn(false)
        // A saved session: resume it (spends the refresh token once, the store gets the new one).
        val saved = purse.sessions.load()
        if (saved != null) enter { purse.client.resume(saved) }
    }

    override fun onResume() {
        super.onResume()
        if (purse.client.userId() != null) refresh()
    }

    private fun enter(login: () -> Any) {
        status.text = "…"
        purse.background({
            try {
                login()
                purse.client.registerDevice(android.os.Build.MODEL) // same key, same device
                null
            } catch (e: PurseException) {
                userMessage(e)
            }
        }) { failed ->
            status.text = failed ?: ""
            showLoggedIn(failed == null)
            if (failed == null) refresh()
        }
    }

    private fun refresh() {
        purse.background({ BalanceScreen(purse.client, CURRENCY, purse.display).load() }) { loaded ->
            when (loaded) {
                is Loaded.Ok -> {
                    wallet = loaded.value
                    balanceText.text = loaded.value.amountText
                    status.text = ""
                }
                is Loaded.Failed -> status.text = loaded.message
            }
        }
    }

    private fun showLoggedIn(loggedIn: Boolean) {
        account.visibility = if (loggedIn) LinearLayout.GONE else LinearLayout.VISIBLE
        actions.visibility = if (loggedIn) LinearLayout.VISIBLE else LinearLayout.GONE
    }

    private fun open(screen: Class<out Activity>) {
        val id = wallet?.walletId ?: return
        startActivity(Intent(this, screen).putExtra(EXTRA_WALLET, id))
    }
}

fun Activity.column(vararg views: android.view.View) = LinearLayout(this).apply {
    orientation = LinearLayout.VERTICAL
    views.forEach { addView(it) }
}

fun Activity.button(label: String, onClick: () -> Unit) = Button(this).apply {
    text = label
    setOnClickListener { onClick() }
}
