// Purse offline demo on the JVM: a consumer phone and a merchant till in one process, using only
// the generated Kotlin bindings (package app.purse.sdk) — the same calls an Android app makes.
// No server: the merchant knows the consumer's device key and the consumer knows the merchant's
// key as if both had been fetched from the Purse directory. See README.md for how to run it.
//
// 1. The consumer shows a pay code; the merchant scans and verifies it, then refuses a replay.
// 2. The merchant shows a signed dynamic QR; the consumer decodes and verifies it, then refuses a
//    copy whose amount was changed.
//
// State (keys, the pay code counter, the merchant's last accepted counter) lives in the --state
// directory, so running the demo again continues the counter instead of repeating it (from the
// next block: the SDK reserves counters 16 at a time, so the second run shows #17).
package app.purse.demo

import app.purse.sdk.*
import java.io.File
import java.io.FileOutputStream
import java.nio.file.Files
import java.nio.file.StandardCopyOption
import kotlin.system.exitProcess

/** The consumer's counter store: one file per key, replaced atomically after an fsync. */
class FileCounterStore(private val dir: File) : CounterStore {
    override fun load(keyId: String): UInt? =
        File(dir, "$keyId.counter").takeIf { it.exists() }?.readText()?.trim()?.toUInt()

    override fun save(keyId: String, counter: UInt) {
        writeDurably(File(dir, "$keyId.counter"), counter.toString())
    }
}

fun writeDurably(file: File, text: String) {
    val tmp = File(file.parentFile, file.name + ".tmp")
    FileOutputStream(tmp).use { out ->
        out.write(text.toByteArray())
        out.fd.sync()
    }
    Files.move(tmp.toPath(), file.toPath(), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING)
}

/**
 * A key kept as text in a file. Demo only: a real app keeps the device key in the Android
 * Keystore or the Secure Enclave behind a `Signer`, or encrypts it with `KeyPair.backup`.
 */
fun loadOrCreateKey(file: File): KeyPair =
    if (file.exists()) {
        KeyPair.fromText(file.readText())
    } else {
        KeyPair.generate().also { writeDurably(file, it.toText()) }
    }

fun codeOf(e: PurseException): String = when (e) {
    is PurseException.Invalid -> e.code
    is PurseException.Rejected -> e.code
    is PurseException.Signer -> e.code
    is PurseException.Storage -> e.code
    is PurseException.Internal -> e.code
    is PurseException.Api -> e.code
    is PurseException.Network -> e.code
}

/** CRC-16/CCITT-FALSE, to forge a tampered merchant code with a valid CRC. */
fun crc16(data: ByteArray): Int {
    var crc = 0xFFFF
    for (b in data) {
        crc = crc xor ((b.toInt() and 0xFF) shl 8)
        repeat(8) { crc = if (crc and 0x8000 != 0) (crc shl 1) xor 0x1021 else crc shl 1 }
        crc = crc and 0xFFFF
    }
    return crc
}

fun main(args: Array<String>) {
    val stateIndex = args.indexOf("--state")
    val state = File(if (stateIndex >= 0 && stateIndex + 1 < args.size) args[stateIndex + 1] else "purse-demo-state")
    File(state, "counters").mkdirs()
    val now = (System.currentTimeMillis() / 1000).toULong()
    println("Purse SDK ${sdkVersion()} offline demo, state in ${state.path}")

    // --- Consumer shows a pay code -----------------------------------------------------------
    val device = loadOrCreateKey(File(state, "device.key"))
    val payCodes = PayCodes.withKeyPair(device, FileCounterStore(File(state, "counters")))
    val payCode = payCodes.generate(PayCodeRequest(cap = Money("25.00", "EUR")))
    File(state, "paycode.png").writeBytes(renderQrPng(payCode.text))
    println("consumer: device key ${device.keyId()} shows pay code #${payCode.counter} " +
        "(cap ${payCode.cap?.amount} ${payCode.cap?.currency}, valid ${payCode.expiresAtUnix - payCode.issuedAtUnix} s) " +
        "-> ${state.path}/paycode.png")
    println("consumer: ${payCode.text}")

    // --- Merchant scans and charges it -------------------------------------------------------
    // The till learns which device made the code, looks up its public key and the last counter
    // it accepted from it (the server does this in production), then verifies with the charge.
    val claims = readPayCode(payCode.text)
    val lastCounterFile = File(state, "merchant-last-counter-${claims.keyId}")
    val lastCounter = lastCounterFile.takeIf { it.exists() }?.readText()?.trim()?.toUInt()
    val charge = Money("4.20", "EUR")
    try {
        val accepted = verifyPayCode(payCode.text, device.publicKey(), lastCounter, now, charge)
        writeDurably(lastCounterFile, accepted.counter.toString())
        println("merchant: accepted pay code #${accepted.counter} from device ${accepted.keyId} for ${charge.amount} ${charge.currency}")
    } catch (e: PurseException) {
        println("merchant: refused pay code: ${codeOf(e)} ($e)")
        exitProcess(1)
    }
    try {
        verifyPayCode(payCode.text, device.publicKey(), payCode.counter, now, charge)
        println("merchant: ERROR accepted the same pay code twice")
        exitProcess(1)
    } catch (e: PurseException.Rejected) {
        println("merchant: refused replay: ${e.code}")
    }

    // --- Merchant shows a signed dynamic QR --------------------------------------------------
    val merchant = loadOrCreateKey(File(state, "merchant.key"))
    val payload = signMerchantCode(
        merchant.signer(),
        NewMerchantCode(
            merchantId = "mer_demo",
            merchantName = "Corner Coffee",
            city = "Lisbon",
            country = "PT",
            mcc = "5814",
            currency = "EUR",
            amount = "4.20",
            reference = "order-${payCode.counter}",
            expiresAtUnix = now + 120u,
        ),
    )
    File(state, "merchant-code.svg").writeText(renderQrSvg(payload))
    File(state, "merchant-code.png").writeBytes(renderQrPng(payload))
    println("merchant: shows dynamic QR -> ${state.path}/merchant-code.svg")
    println("merchant: $payload")

    // --- Consumer scans and verifies it ------------------------------------------------------
    val emv = decodeEmv(payload)
    println("consumer: scanned an EMV code from ${emv.merchantName}, ${emv.merchantCity}: ${emv.amount} ${emv.currency}")
    val merchantClaims = readMerchantCode(payload)
    // In production the app fetches the key of merchantClaims.merchantId from the Purse directory.
    check(merchantClaims.keyId == merchant.keyId())
    try {
        val verified = verifyMerchantCode(payload, merchant.publicKey(), now)
        println("consumer: verified merchant code from ${verified.merchantName} (${verified.merchantId}) " +
            "for ${verified.amount?.amount} ${verified.amount?.currency}, reference ${verified.reference}, " +
            "expires in ${(verified.expiresAtUnix ?: now) - now} s")
    } catch (e: PurseException) {
        println("consumer: refused merchant code: ${codeOf(e)} ($e)")
        exitProcess(1)
    }
    // Someone reprints the code with a higher amount and a correct CRC: only the signature tells.
    val body = payload.substringBeforeLast("6304").replace("54044.20", "54044.90") + "6304"
    val forged = body + "%04X".format(crc16(body.toByteArray()))
    try {
        verifyMerchantCode(forged, merchant.publicKey(), now)
        println("consumer: ERROR accepted a forged merchant code")
        exitProcess(1)
    } catch (e: PurseException.Rejected) {
        println("consumer: refused tampered code: ${e.code}")
    }
    println("demo finished")
}
