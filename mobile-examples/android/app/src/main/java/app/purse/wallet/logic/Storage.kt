// Durable little things the wallet keeps on the phone, over the part of SharedPreferences it
// needs. No android.* import: the app passes SharedPreferences in (ui/AndroidStorage.kt), the JVM
// test (bindings/tests/kotlin/AndroidLogicTest.kt) passes a map.
package app.purse.wallet.logic

import app.purse.sdk.CounterStore
import app.purse.sdk.KeyPair
import app.purse.sdk.PurseException
import app.purse.sdk.SavedSession
import app.purse.sdk.SessionStore
import java.util.Base64

/** What the wallet needs of SharedPreferences. */
interface KeyValueStore {
    fun getString(key: String): String?

    /**
     * Writes (or, with null, removes) synchronously: `SharedPreferences.Editor.commit()`, never
     * `apply()`, because the pay code counter must be on disk before the SDK signs with it.
     * Answers false when the write failed.
     */
    fun putString(key: String, value: String?): Boolean
}

/**
 * The SDK's pay code counters in preferences, one entry per device key. A value that is not a
 * counter is an error, never "no counter yet": starting again from 1 would repeat counters a till
 * has already accepted.
 */
class PrefsCounterStore(private val prefs: KeyValueStore) : CounterStore {
    override fun load(keyId: String): UInt? {
        val text = prefs.getString(key(keyId)) ?: return null
        return text.toUIntOrNull()
            ?: throw PurseException.Storage("counter_store_failed", "the stored pay code counter is not a number")
    }

    override fun save(keyId: String, counter: UInt) {
        if (!prefs.putString(key(keyId), counter.toString())) {
            throw PurseException.Storage("counter_store_failed", "the pay code counter could not be written")
        }
    }

    private fun key(keyId: String) = "paycode.counter.$keyId"
}

/**
 * Encrypts small secrets before they reach preferences: on the phone an AES-GCM key that never
 * leaves the Android Keystore (ui/AndroidStorage.kt).
 */
interface Sealer {
    fun seal(plain: ByteArray): ByteArray

    /** Throws when `sealed` was not sealed by this key or was altered. */
    fun open(sealed: ByteArray): ByteArray
}

/**
 * The SDK's session (user id and rotating refresh token) in preferences, sealed. The client saves
 * after every login and rotation and `null` at logout; `load` gives the app what to `resume` with
 * at the next start.
 */
class PrefsSessionStore(private val prefs: KeyValueStore, private val sealer: Sealer) : SessionStore {
    override fun save(session: SavedSession?) {
        val value = session?.let {
            val plain = "${it.userId}\n${it.refreshToken}".toByteArray(Charsets.UTF_8)
            Base64.getEncoder().encodeToString(sealer.seal(plain))
        }
        if (!prefs.putString(KEY, value)) {
            throw PurseException.Storage("session_store_failed", "the session could not be written")
        }
    }

    /** The saved session, or null when there is none or it cannot be opened (then log in again). */
    fun load(): SavedSession? {
        val stored = prefs.getString(KEY) ?: return null
        val plain = try {
            String(sealer.open(Base64.getDecoder().decode(stored)), Charsets.UTF_8)
        } catch (e: Exception) {
            return null
        }
        val parts = plain.split('\n')
        return if (parts.size == 2) SavedSession(parts[0], parts[1]) else null
    }

    private companion object {
        const val KEY = "session"
    }
}

/**
 * This phone's device key, kept sealed in preferences (the Keystore's AES key seals the key text;
 * phones with an Ed25519 Keystore, Android 13+, can implement `Signer` over it instead). A key
 * that cannot be opened any more (the Keystore key is gone, e.g. data restored to another phone)
 * is replaced by a new one: that is only a new device to register, the money is on the server.
 */
fun deviceKey(prefs: KeyValueStore, sealer: Sealer): KeyPair {
    prefs.getString(DEVICE_KEY)?.let { stored ->
        try {
            return KeyPair.fromText(String(sealer.open(Base64.getDecoder().decode(stored)), Charsets.UTF_8))
        } catch (e: Exception) {
            // Unreadable: fall through to a new key.
        }
    }
    val key = KeyPair.generate()
    val sealed = Base64.getEncoder().encodeToString(sealer.seal(key.toText().toByteArray(Charsets.UTF_8)))
    if (!prefs.putString(DEVICE_KEY, sealed)) {
        throw PurseException.Storage("device_key_store_failed", "the device key could not be written")
    }
    return key
}

private const val DEVICE_KEY = "device.key"
