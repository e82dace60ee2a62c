// What one Kotlin -> Rust pay code generation costs in a warm JVM: `PayCodes.generate` through
// the generated bindings and JNA, including the CounterStore callback into Kotlin (load and save),
// the Ed25519 signature and the SDK's check of its own signature. Run it against the RELEASE
// cdylib (scripts/bench-bindings); a debug build measures the debug build.
//
// Usage: PayCodeBenchKt [iterations per round] [rounds]
// Prints one line per configuration: the median over rounds of the mean time per call.
package app.purse.bench

import app.purse.sdk.*
import java.security.KeyPairGenerator
import java.util.Base64

/** The cheapest honest store: a map in memory (a real app adds its own disk write). */
class MemoryCounterStore : CounterStore {
    private val counters = HashMap<String, UInt>()
    override fun load(keyId: String): UInt? = synchronized(counters) { counters[keyId] }
    override fun save(keyId: String, counter: UInt) {
        synchronized(counters) { counters[keyId] = counter }
    }
}

/** A Kotlin Signer over the JDK's Ed25519, standing in for a platform keystore. */
class JdkSigner : Signer {
    private val pair = KeyPairGenerator.getInstance("Ed25519").generateKeyPair()
    private val publicKey = Base64.getUrlEncoder().withoutPadding()
        .encodeToString(pair.public.encoded.takeLast(32).toByteArray())

    override fun publicKey(): String = publicKey

    override fun sign(message: ByteArray): ByteArray {
        val jca = java.security.Signature.getInstance("Ed25519")
        jca.initSign(pair.private)
        jca.update(message)
        return jca.sign()
    }
}

fun measure(label: String, iterations: Int, rounds: Int, call: () -> Unit) {
    repeat(iterations) { call() } // warm-up: JIT, JNA stubs, caches
    val perCallUs = (1..rounds).map {
        val start = System.nanoTime()
        repeat(iterations) { call() }
        (System.nanoTime() - start) / 1000.0 / iterations
    }.sorted()
    val median = perCallUs[perCallUs.size / 2]
    println("%-58s %8.1f us/call (median of %d rounds x %d calls; min %.1f, max %.1f)"
        .format(label, median, rounds, iterations, perCallUs.first(), perCallUs.last()))
}

fun main(args: Array<String>) {
    val iterations = args.getOrNull(0)?.toInt() ?: 2000
    val rounds = args.getOrNull(1)?.toInt() ?: 7
    val request = PayCodeRequest()
    val capped = PayCodeRequest(cap = Money("25.00", "EUR"))

    val inMemory = PayCodes(KeyPair.generate().signer(), MemoryCounterStore())
    measure("paycode generate (KeyPair signer, Kotlin store)", iterations, rounds) { inMemory.generate(request) }
    measure("paycode generate with cap (KeyPair signer, Kotlin store)", iterations, rounds) { inMemory.generate(capped) }

    val keystore = PayCodes(JdkSigner(), MemoryCounterStore())
    measure("paycode generate (Kotlin JDK Ed25519 Signer, Kotlin store)", iterations, rounds) { keystore.generate(request) }

    val code = inMemory.generate(request)
    measure("read_pay_code (decode only)", iterations, rounds) { readPayCode(code.text) }
}
