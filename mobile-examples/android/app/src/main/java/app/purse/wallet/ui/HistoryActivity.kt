// History: the wallet's transfers, newest first, a page at a time ("More" loads the next).
package app.purse.wallet.ui

import android.app.Activity
import android.os.Bundle
import android.widget.ArrayAdapter
import android.widget.ListView
import android.widget.TextView
import app.purse.wallet.logic.HistoryScreen
import app.purse.wallet.logic.Loaded

class HistoryActivity : Activity() {
    private lateinit var history: HistoryScreen
    private lateinit var adapter: ArrayAdapter<String>
    private lateinit var status: TextView

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        history = HistoryScreen(purse.client, intent.getStringExtra(EXTRA_WALLET)!!, purse.display)
        adapter = ArrayAdapter(this, android.R.layout.simple_list_item_1, mutableListOf())
        status = TextView(this)
        val list = ListView(this).apply { adapter = this@HistoryActivity.adapter }
        val more = button("More") { load { history.loadMore() } }
        setContentView(column(status, list, more).apply { setPadding(32, 64, 32, 32) })
        load { history.refresh() }
    }

    private fun load(call: () -> Loaded<List<app.purse.wallet.logic.HistoryRow>>) {
        purse.background(call) { loaded ->
            when (loaded) {
                is Loaded.Ok -> {
                    adapter.clear()
                    adapter.addAll(loaded.value.map { "${it.title}   ${it.amountText}\n${it.dateText}" })
                    status.text = if (history.hasMore) "" else "That is everything."
                }
                is Loaded.Failed -> status.text = loaded.message
            }
        }
    }
}
