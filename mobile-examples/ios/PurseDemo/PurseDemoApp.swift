// The Purse demo app for iOS (SwiftUI): a consumer's "show pay code" and "check a merchant QR"
// screens over the Purse SDK (the generated Swift bindings in the PurseSDK package). Offline only:
// balance, history and paying through the server come with the SDK's API client.
import SwiftUI
import PurseSDK

@main
struct PurseDemoApp: App {
    var body: some Scene {
        WindowGroup {
            ContentView(wallet: Wallet.shared)
        }
    }
}

/// The device's pay code generator, made once per process (one `PayCodes` per key).
final class Wallet {
    static let shared = Wallet()

    let signer: KeychainSigner
    let payCodes: PayCodes?
    let setupError: String?

    private init() {
        let support = FileManager.default.urls(for: .applicationSupportDirectory, in: .userDomainMask)[0]
        signer = KeychainSigner()
        do {
            let store = try FileCounterStore(directory: support.appendingPathComponent("pay-code-counters"))
            payCodes = try PayCodes(signer: signer, store: store)
            setupError = nil
        } catch {
            payCodes = nil
            setupError = "\(error)"
        }
    }
}
