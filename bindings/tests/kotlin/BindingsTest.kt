// The Kotlin side of the binding tests: drives the generated Kotlin bindings (package
// app.purse.sdk) on the JVM through JNA, as an Android app would. Run by bindings/tests/it/kotlin.rs,
// which compiles it with kotlinc together with the generated bindings.
//
// Output protocol (read by the Rust test): one line per check, "ok <name>" or "FAIL <name>: <why>";
// tab-separated data lines for checks the Rust side finishes with the core
// ("paycode<TAB><public key><TAB><counter><TAB><text>", "qr-png<TAB><file><TAB><payload>",
// "emv-json<TAB><vector id><TAB><json>"); exit status 1 if any check failed.
// Usage: BindingsTestKt <scratch dir>
package app.purse.sdk.test

import app.purse.sdk.*
import java.io.File
import java.io.FileOutputStream
import java.nio.file.Files
import java.nio.file.StandardCopyOption
import java.security.KeyPairGenerator
import java.security.MessageDigest
import java.util.Base64
import kotlin.system.exitProcess

// Two vectors copied from core/tests/data/emv-mpm.json: a Pix code with an amount and an
// unreserved template, and a KHQR code whose language template is Khmer (UTF-8 across the FFI).
const val PIX_ID = "bcb-pix-composite-amount-rec-2.8.5"
const val PIX = "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865406100.505802BR5913Fulano de Tal6008BRASILIA62070503***80740014br.gov.bcb.pix2552pix.example.com/rec/2353c790eefb11eaadc10242ac12000263042875"
const val KHQR_ID = "khqr-decode-khmer-A560"
const val KHQR = "00020101021230350009khqr@devb01061234560208Dev Bank52045999530384054031005802KH5910John Smith6010PHNOM PENH62670106#123450211855122334550311Coffee Shop0709Cashier_10810Buy coffee64280002km0108ចន ស្មីន0206ភ្នំពញ993400131726822962612011317268230826126304A560"

const val PASSWORD = "correct horse battery staple"

var failures = 0

fun check(name: String, body: () -> Unit) {
    try {
        body()
        println("ok $name")
    } catch (e: Throwable) {
        failures++
        println("FAIL $name: $e")
    }
}

fun expect(condition: Boolean, what: () -> String) {
    if (!condition) throw AssertionError(what())
}

/** The stable code of any PurseException. */
fun codeOf(e: PurseException): String = when (e) {
    is PurseException.Invalid -> e.code
    is PurseException.Rejected -> e.code
    is PurseException.Signer -> e.code
    is PurseException.Storage -> e.code
    is PurseException.Internal -> e.code
    is PurseException.Api -> e.code
    is PurseException.Network -> e.code
}

fun reasonOf(e: PurseException): String = when (e) {
    is PurseException.Invalid -> e.reason
    is PurseException.Rejected -> e.reason
    is PurseException.Signer -> e.reason
    is PurseException.Storage -> e.reason
    is PurseException.Internal -> e.reason
    is PurseException.Api -> e.reason
    is PurseException.Network -> e.reason
}

/** Runs [body], which must throw a PurseException of kind [E] with [code]; returns it. */
inline fun <reified E : PurseException> fails(code: String, body: () -> Any?): E {
    val result = try {
        body()
    } catch (e: PurseException) {
        expect(e is E) { "expected ${E::class.simpleName}($code), got $e" }
        expect(codeOf(e) == code) { "expected code $code, got $e" }
        expect(reasonOf(e).isNotBlank()) { "no reason in $e" }
        return e as E
    }
    throw AssertionError("expected ${E::class.simpleName}($code), got $result")
}

fun nowUnix(): ULong = (System.currentTimeMillis() / 1000).toULong()

/** CRC-16/CCITT-FALSE, to re-seal a tampered EMV payload so only the signature can catch it. */
fun crc16(data: ByteArray): Int {
    var crc = 0xFFFF
    for (b in data) {
        crc = crc xor ((b.toInt() and 0xFF) shl 8)
        repeat(8) { crc = if (crc and 0x8000 != 0) (crc shl 1) xor 0x1021 else crc shl 1 }
        crc = crc and 0xFFFF
    }
    return crc
}

fun withCrc(withoutCrc: String): String {
    val body = withoutCrc + "6304"
    return body + "%04X".format(crc16(body.toByteArray(Charsets.UTF_8)))
}

/**
 * A durable counter store: one file per key, written to a temporary file, fsync'd, then renamed
 * over the old one, so a crash leaves either the old or the new counter. `failSaves` simulates a
 * full disk.
 */
class FileCounterStore(private val dir: File) : CounterStore {
    var failSaves = false

    override fun load(keyId: String): UInt? {
        val file = File(dir, "$keyId.counter")
        return if (file.exists()) file.readText().trim().toUInt() else null
    }

    override fun save(keyId: String, counter: UInt) {
        if (failSaves) throw PurseException.Storage("disk_full", "no space left on device")
        val tmp = File(dir, "$keyId.counter.tmp")
        FileOutputStream(tmp).use { out ->
            out.write(counter.toString().toByteArray())
            out.fd.sync()
        }
        Files.move(
            tmp.toPath(), File(dir, "$keyId.counter").toPath(),
            StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING,
        )
    }
}

/**
 * A Signer over the JDK's own Ed25519 (java.security), standing in for a platform keystore: the
 * secret never enters the Rust library. It records, at each signature, the counter the store
 * holds at that moment, to prove the SDK saved the counter before signing.
 */
class JcaSigner(private val store: FileCounterStore?) : Signer {
    private val pair = KeyPairGenerator.getInstance("Ed25519").generateKeyPair()

    // X.509 SubjectPublicKeyInfo of an Ed25519 key: a 12-byte header, then the 32 key bytes.
    private val rawPublicKey = pair.public.encoded.takeLast(32).toByteArray()

    /** The key id as docs/formats.md defines it: the first 8 bytes of SHA-256 of the key, in hex. */
    val keyId: String = MessageDigest.getInstance("SHA-256").digest(rawPublicKey)
        .take(8).joinToString("") { "%02x".format(it) }
    val storedAtSign = mutableListOf<UInt?>()
    var signatures = 0

    override fun publicKey(): String = Base64.getUrlEncoder().withoutPadding().encodeToString(rawPublicKey)

    override fun sign(message: ByteArray): ByteArray {
        signatures++
        store?.let { storedAtSign.add(it.load(keyId)) }
        val jca = java.security.Signature.getInstance("Ed25519")
        jca.initSign(pair.private)
        jca.update(message)
        return jca.sign()
    }
}

/** A signer that fails the way a broken or locked keystore does. */
class BrokenSigner(private val publicKey: String, private val mode: String) : Signer {
    override fun publicKey(): String = publicKey
    override fun sign(message: ByteArray): ByteArray = when (mode) {
        "locked" -> throw PurseException.Signer("keystore_locked", "the user cancelled the unlock prompt")
        "short" -> ByteArray(10)
        "wrong-key" -> KeyPair.generate().signer().sign(message)
        else -> throw IllegalStateException("keystore crashed")
    }
}

fun merchantCode(amount: String?, expires: ULong?) = NewMerchantCode(
    merchantId = "mer_4kQx2",
    merchantName = "Corner Coffee",
    city = "Lisbon",
    country = "PT",
    mcc = "5814",
    currency = "EUR",
    amount = amount,
    reference = if (amount != null) "order-1042" else null,
    expiresAtUnix = expires,
)

fun main(args: Array<String>) {
    val scratch = File(args.getOrElse(0) { "build/bindings-test" })
    scratch.mkdirs()

    check("sdk_version") {
        expect(sdkVersion().matches(Regex("""\d+\.\d+\.\d+.*"""))) { sdkVersion() }
    }

    // Keys
    val device = KeyPair.generate()
    check("keys_generate") {
        expect(device.keyId().matches(Regex("[0-9a-f]{16}"))) { device.keyId() }
        expect(device.publicKey().length == 43) { device.publicKey() }
        expect(KeyPair.generate().keyId() != device.keyId()) { "two keys with one id" }
        val again = KeyPair.fromText(device.toText())
        expect(again.publicKey() == device.publicKey()) { "key text does not round-trip" }
    }
    check("keys_backup_restore") {
        val backup = device.backup(PASSWORD)
        expect(backup.startsWith("purse-backup-v1.")) { backup }
        expect(!backup.contains(device.toText().substringAfter(':'))) { "backup holds the seed" }
        val restored = KeyPair.restore(backup, PASSWORD)
        expect(restored.keyId() == device.keyId()) { "restored another key" }
    }
    check("keys_wrong_password") {
        val backup = device.backup(PASSWORD)
        fails<PurseException.Rejected>("backup_wrong_password") { KeyPair.restore(backup, "correct horse battery stapler") }
        fails<PurseException.Invalid>("password_too_short") { device.backup("short") }
        fails<PurseException.Invalid>("backup_corrupted") { KeyPair.restore(backup.dropLast(4), PASSWORD) }
        fails<PurseException.Invalid>("secret_key_invalid") { KeyPair.fromText("not a key") }
    }

    // EMV decoding
    check("emv_decode_pix") {
        val code = decodeEmv(PIX)
        expect(code.country == "BR" && code.currencyNumeric == "986" && code.currency == "BRL") { "$code" }
        expect(code.amount == "100.50") { "amount ${code.amount}" }
        expect(code.merchantName == "Fulano de Tal" && code.merchantCity == "BRASILIA") { "$code" }
        val account = code.merchantAccounts.single()
        expect(account.id == "26" && account.guid == "br.gov.bcb.pix") { "$account" }
        expect(account.fields.map { it.id } == listOf("00", "01")) { "$account" }
        expect(code.unreservedTemplates.single().id == "80") { "${code.unreservedTemplates}" }
        expect(code.crc == "2875") { code.crc }
        println("emv-json\t$PIX_ID\t${code.json}")
    }
    check("emv_decode_khmer") {
        val code = decodeEmv(KHQR)
        val language = code.languageTemplate ?: throw AssertionError("no language template")
        expect(language.fields.map { it.value } == listOf("km", "ចន ស្មីន", "ភ្នំពញ")) { "$language" }
        expect(code.amount == "100" && code.currency == "USD" && code.poiMethod == "12") { "$code" }
        println("emv-json\t$KHQR_ID\t${code.json}")
    }
    check("emv_decode_errors") {
        fails<PurseException.Invalid>("crc_mismatch") { decodeEmv(PIX.dropLast(1) + "6") }
        fails<PurseException.Invalid>("too_short") { decodeEmv("") }
        fails<PurseException.Invalid>("too_long") { decodeEmv("0".repeat(100_000)) }
    }

    // Merchant codes
    val merchant = KeyPair.generate()
    val now = nowUnix()
    val dynamic = signMerchantCode(merchant.signer(), merchantCode("4.20", now + 300u))
    check("merchant_code_verify") {
        val claims = readMerchantCode(dynamic)
        expect(claims.merchantId == "mer_4kQx2" && claims.keyId == merchant.keyId()) { "$claims" }
        val code = verifyMerchantCode(dynamic, merchant.publicKey(), now)
        expect(code.dynamic && code.amount == Money("4.20", "EUR")) { "$code" }
        expect(code.reference == "order-1042" && code.merchantName == "Corner Coffee") { "$code" }
        expect(decodeEmv(dynamic).amount == "4.20") { "any EMV reader sees the amount" }
        val static = signMerchantCode(merchant.signer(), merchantCode(null, null))
        expect(!verifyMerchantCode(static, merchant.publicKey(), now).dynamic) { "static code" }
    }
    check("merchant_code_tampered") {
        // Same CRC-sealed payload with the amount raised: only the signature can tell.
        val raised = withCrc(dynamic.substringBeforeLast("6304").replace("54044.20", "54049.20"))
        expect(raised != dynamic && decodeEmv(raised).amount == "9.20") { "tamper did not apply" }
        fails<PurseException.Rejected>("merchant_code_bad_signature") { verifyMerchantCode(raised, merchant.publicKey(), now) }
        fails<PurseException.Invalid>("crc_mismatch") { verifyMerchantCode(dynamic.replace("Corner", "Korner"), merchant.publicKey(), now) }
        fails<PurseException.Rejected>("merchant_code_wrong_key") { verifyMerchantCode(dynamic, device.publicKey(), now) }
        fails<PurseException.Rejected>("merchant_code_expired") { verifyMerchantCode(dynamic, merchant.publicKey(), now + 3600u) }
        fails<PurseException.Rejected>("not_purse_code") { verifyMerchantCode(PIX, merchant.publicKey(), now) }
        fails<PurseException.Invalid>("merchant_code_field_invalid") { signMerchantCode(merchant.signer(), merchantCode("4.20", null)) }
    }
    check("qr_render") {
        val png = renderQrPng(dynamic)
        expect(png.take(4) == listOf(0x89.toByte(), 'P'.code.toByte(), 'N'.code.toByte(), 'G'.code.toByte())) { "not a PNG" }
        val file = File(scratch, "merchant-code.png")
        file.writeBytes(png)
        println("qr-png\t${file.absolutePath}\t$dynamic")
        expect(renderQrSvg(dynamic).contains("<svg")) { "not an SVG" }
        fails<PurseException.Invalid>("qr_too_long") { renderQrSvg("x".repeat(3000)) }
    }

    // Pay codes with the in-memory key and a durable file store
    val storeDir = File(scratch, "counters").apply { deleteRecursively(); mkdirs() }
    val store = FileCounterStore(storeDir)
    check("paycode_generate") {
        val codes = PayCodes(device.signer(), store)
        expect(codes.keyId() == device.keyId()) { codes.keyId() }
        val code = codes.generate(PayCodeRequest(cap = Money("25.00", "USD")))
        expect(code.text.startsWith("PC1:") && code.counter == 1u) { "$code" }
        expect(code.expiresAtUnix == code.issuedAtUnix + 60u) { "$code" }
        expect(code.cap == Money("25.00", "USD")) { "$code" }
        println("paycode\t${device.publicKey()}\t${code.counter}\t${code.text}")
        val verified = verifyPayCode(code.text, device.publicKey(), null, nowUnix(), Money("10.00", "USD"))
        expect(verified.counter == 1u && verified.keyId == device.keyId()) { "$verified" }
        fails<PurseException.Rejected>("paycode_replayed") { verifyPayCode(code.text, device.publicKey(), 1u, nowUnix(), null) }
        fails<PurseException.Rejected>("paycode_over_limit") { verifyPayCode(code.text, device.publicKey(), null, nowUnix(), Money("30.00", "USD")) }
        fails<PurseException.Rejected>("paycode_expired") { verifyPayCode(code.text, device.publicKey(), null, code.expiresAtUnix + 31u, null) }
        val flipped = code.text.substring(0, 20) + (if (code.text[20] == 'A') 'B' else 'A') + code.text.substring(21)
        val refused = try {
            verifyPayCode(flipped, device.publicKey(), null, nowUnix(), null); null
        } catch (e: PurseException) { e }
        expect(refused is PurseException.Rejected || refused is PurseException.Invalid) { "tampered code: $refused" }
    }
    check("paycode_with_key_pair") {
        // The unchecked path for an in-memory key makes codes the core verifies, and shares the
        // store's counters with the Signer path (the counter block after the first one's).
        val direct = PayCodes.withKeyPair(device, store)
        expect(direct.keyId() == device.keyId()) { direct.keyId() }
        val code = direct.generate(PayCodeRequest(cap = Money("5.00", "USD")))
        expect(code.counter == 17u) { "counter ${code.counter} after the first PayCodes' block" }
        val verified = verifyPayCode(code.text, device.publicKey(), 16u, nowUnix(), Money("5.00", "USD"))
        expect(verified.counter == 17u && verified.keyId == device.keyId()) { "$verified" }
        fails<PurseException.Rejected>("paycode_over_limit") { verifyPayCode(code.text, device.publicKey(), null, nowUnix(), Money("5.01", "USD")) }
    }
    check("paycode_counter_survives_restart") {
        // A new PayCodes over the same files is what the app sees after a restart. The first
        // PayCodes reserved counters 1-16 (one save per block of 16), withKeyPair 17-32; each
        // restart starts a block.
        expect(File(storeDir, "${device.keyId()}.counter").readText() == "32") { "two blocks on disk" }
        val before = PayCodes(device.signer(), FileCounterStore(storeDir)).generate(PayCodeRequest())
        val after = PayCodes(device.signer(), FileCounterStore(storeDir)).generate(PayCodeRequest())
        expect(before.counter == 33u && after.counter == 49u) { "${before.counter} then ${after.counter}" }
        expect(File(storeDir, "${device.keyId()}.counter").readText() == "64") { "store holds the reserved end" }
    }
    check("paycode_store_failure") {
        val failing = FileCounterStore(storeDir).apply { failSaves = true }
        val signer = JcaSigner(null)
        val e = fails<PurseException.Storage>("counter_store_failed") { PayCodes(signer, failing).generate(PayCodeRequest()) }
        expect(e.reason.contains("disk_full")) { "the store's own code is kept: $e" }
        expect(signer.signatures == 0) { "signed although the counter was not saved" }
        fails<PurseException.Invalid>("paycode_validity_invalid") { PayCodes(signer, store).generate(PayCodeRequest(validitySecs = 0u)) }
        fails<PurseException.Invalid>("amount_too_precise") { PayCodes(signer, store).generate(PayCodeRequest(cap = Money("1.005", "USD"))) }
    }

    // The Signer callback: a JDK Ed25519 key stands in for the platform keystore.
    check("signer_callback") {
        val jcaStore = FileCounterStore(File(scratch, "jca-counters").apply { deleteRecursively(); mkdirs() })
        val keystore = JcaSigner(jcaStore)
        val codes = PayCodes(keystore, jcaStore)
        expect(codes.keyId() == keystore.keyId) { "key id ${codes.keyId()} vs ${keystore.keyId}" }
        val first = codes.generate(PayCodeRequest())
        val second = codes.generate(PayCodeRequest(cap = Money("5", "JPY")))
        expect(keystore.signatures == 2) { "keystore signed ${keystore.signatures} times" }
        // Persist before sign: when the keystore was asked to sign, the store already covered the
        // counter (the end of its block of 16).
        expect(first.counter == 1u && second.counter == 2u) { "${first.counter}, ${second.counter}" }
        expect(keystore.storedAtSign == listOf<UInt?>(16u, 16u)) { "stored at sign: ${keystore.storedAtSign}" }
        println("paycode\t${keystore.publicKey()}\t${second.counter}\t${second.text}")
        verifyPayCode(first.text, keystore.publicKey(), null, nowUnix(), null)
        val signed = signMerchantCode(keystore, merchantCode(null, null))
        expect(verifyMerchantCode(signed, keystore.publicKey(), nowUnix()).keyId == codes.keyId()) { "merchant code by keystore" }
    }
    check("signer_failures") {
        val pk = device.publicKey()
        val locked = fails<PurseException.Signer>("signer_failed") { PayCodes(BrokenSigner(pk, "locked"), store).generate(PayCodeRequest()) }
        expect(locked.reason.contains("keystore_locked")) { "keystore's code is kept: $locked" }
        fails<PurseException.Signer>("signer_failed") { PayCodes(BrokenSigner(pk, "short"), store).generate(PayCodeRequest()) }
        fails<PurseException.Signer>("signer_failed") { PayCodes(BrokenSigner(pk, "wrong-key"), store).generate(PayCodeRequest()) }
        // An exception that is not a PurseException still comes back as a typed error.
        val crashed = fails<PurseException.Signer>("signer_failed") { PayCodes(BrokenSigner(pk, "crash"), store).generate(PayCodeRequest()) }
        expect(crashed.reason.contains("keystore crashed")) { "$crashed" }
        fails<PurseException.Invalid>("key_invalid") { PayCodes(BrokenSigner("not-a-key", "locked"), store) }
    }

    // Hostile input never crashes the process or escapes as anything but a PurseException.
    check("no_panic_on_garbage") {
        val garbage = listOf("", "PC1:", "PC1:" + "Z".repeat(200), "\u0000\uFFFF", "%".repeat(5000), "ចន".repeat(3000))
        for (text in garbage) {
            for (call in listOf<() -> Any?>(
                { decodeEmv(text) }, { readPayCode(text) }, { readMerchantCode(text) },
                { verifyPayCode(text, device.publicKey(), null, nowUnix(), null) },
                { verifyMerchantCode(text, text, nowUnix()) }, { KeyPair.fromText(text) },
                { KeyPair.restore(text, text) },
            )) {
                try {
                    call()
                    throw AssertionError("garbage accepted: ${text.take(20)}")
                } catch (e: PurseException) {
                    expect(e !is PurseException.Internal) { "internal error on garbage: $e" }
                }
            }
        }
    }

    println(if (failures == 0) "all checks passed" else "$failures checks failed")
    exitProcess(if (failures == 0) 0 else 1)
}
