// What one Kotlin -> Rust pay code generation costs in a warm JVM: `PayCodes.generate` through
// the generated bindings and JNA, including the CounterStore callback into Kotlin (load and save),
// the Ed25519 signature and the SDK's check of its own signature. Run it against the RELEASE
// cdylib (scripts/bench-bindings); a debug build measures the debug build.
//
// Usage: PayCodeBenchKt [iterations per round] [rounds]
// Prints one line per configuration: the medians over rounds of the wall-clock and CPU time per call.
package app.purse.bench

import app.purse.sdk.*
import java.lang.management.ManagementFactory
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

/**
 * Times [iterations] calls per round, after as many warm-up calls. Prints the median over rounds of
 * the wall-clock time per call, and of this thread's CPU time per call: on a machine shared with
 * other work the wall clock includes time the thread waited for a core, the CPU time does not (the
 * Rust code and the JNA callbacks run on this thread; JIT and GC run on others).
 */
fun measure(label: String, iterations: Int, rounds: Int, call: () -> Unit) {
    val threads = ManagementFactory.getThreadMXBean()
    repeat(iterations) { call() } // warm-up: JIT, JNA stubs, caches
    val wallUs = ArrayList<Double>()
    val cpuUs = ArrayList<Double>()
    repeat(rounds) {
        val cpuStart = threads.currentThreadCpuTime
        val start = System.nanoTime()
        repeat(iterations) { call() }
        wallUs.add((System.nanoTime() - start) / 1000.0 / iterations)
        cpuUs.add((threads.currentThreadCpuTime - cpuStart) / 1000.0 / iterations)
    }
    wallUs.sort()
    cpuUs.sort()
    println("%-58s %8.1f us/call wall, %8.1f us/call CPU (medians of %d rounds x %d calls; wall min %.1f)"
        .format(label, wallUs[rounds / 2], cpuUs[rounds / 2], rounds, iterations, wallUs.first()))
}

fun main(args: Array<String>) {
    val iterations = args.getOrNull(0)?.toInt() ?: 2000
    val rounds = args.getOrNull(1)?.toInt() ?: 7
    val request = PayCodeRequest()
    val capped = PayCodeRequest(cap = Money("25.00", "EUR"))

    // The figure of record: an in-memory key, as PayCodes.withKeyPair (its signatures are not
    // re-checked: they verify by construction).
    val inMemory = PayCodes.withKeyPair(KeyPair.generate(), MemoryCounterStore())
    measure("paycode generate (withKeyPair, Kotlin store)", iterations, rounds) { inMemory.generate(request) }
    measure("paycode generate with cap (withKeyPair, Kotlin store)", iterations, rounds) { inMemory.generate(capped) }

    // The same key through the Signer interface: every signature is checked by the core.
    val checked = PayCodes(KeyPair.generate().signer(), MemoryCounterStore())
    measure("paycode generate (KeyPair as a Signer, checked, Kotlin store)", iterations, rounds) { checked.generate(request) }

    val keystore = PayCodes(JdkSigner(), MemoryCounterStore())
    measure("paycode generate (Kotlin JDK Ed25519 Signer, Kotlin store)", iterations, rounds) { keystore.generate(request) }

    // What the boundary alone costs: a call that does nothing but return a short string, and
    // a decode (about 1 us of Rust) that returns a record.
    measure("sdkVersion (an empty call returning a string)", iterations, rounds) { sdkVersion() }
    val code = inMemory.generate(request)
    measure("readPayCode (decode only, returns a record)", iterations, rounds) { readPayCode(code.text) }
}
