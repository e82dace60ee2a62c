// PurseClient from Swift: log in (or resume the session kept in the Keychain), register this
// device's Secure Enclave / Keychain key, read the balance and history, and pay a scanned merchant
// QR code. Every PurseClient call blocks on the network, so it runs in a detached Task, never on
// the main actor. Syntax-checked on Linux by bindings/tests/it/swift.rs; built on macOS only.
import Foundation
import Security
import PurseSDK

/// Keeps the session (user id + refresh token, a secret) in the Keychain. The client calls it
/// after every login and token rotation, and with nil on logout.
final class KeychainSessionStore: SessionStore, @unchecked Sendable {
    private let account = "purse.session"

    func save(session: SavedSession?) throws {
        let query: [String: Any] = [
            kSecClass as String: kSecClassGenericPassword,
            kSecAttrAccount as String: account,
        ]
        SecItemDelete(query as CFDictionary)
        guard let session = session else { return }
        var item = query
        item[kSecValueData as String] = Data("\(session.userId)\n\(session.refreshToken)".utf8)
        item[kSecAttrAccessible as String] = kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly
        let status = SecItemAdd(item as CFDictionary, nil)
        if status != errSecSuccess {
            throw PurseError.Storage(code: "keychain_unavailable", reason: "SecItemAdd failed: \(status)")
        }
    }

    func load() -> SavedSession? {
        let query: [String: Any] = [
            kSecClass as String: kSecClassGenericPassword,
            kSecAttrAccount as String: account,
            kSecReturnData as String: true,
        ]
        var result: AnyObject?
        guard SecItemCopyMatching(query as CFDictionary, &result) == errSecSuccess,
              let data = result as? Data,
              let text = String(data: data, encoding: .utf8) else { return nil }
        let parts = text.split(separator: "\n", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { return nil }
        return SavedSession(userId: parts[0], refreshToken: parts[1])
    }
}

/// The consumer's account on this phone.
final class PurseAccount: @unchecked Sendable {
    let client: PurseClient
    private let store = KeychainSessionStore()

    init(baseUrl: String, signer: Signer) throws {
        client = try PurseClient(config: ClientConfig(baseUrl: baseUrl), signer: signer, sessionStore: store)
    }

    /// Resumes the saved session, or logs in; then registers this device (the same key is the
    /// same device, so this is safe at every start).
    func start(email: String, password: String) async throws -> String {
        try await Task.detached {
            if let saved = self.store.load(), (try? self.client.resume(session: saved)) != nil {
                // resumed
            } else {
                _ = try self.client.login(email: email, phone: nil, password: password)
            }
            _ = try self.client.registerDevice(name: "iPhone")
            return try self.client.openWallet(currency: "USD").id
        }.value
    }

    func balance(walletId: String) async throws -> String {
        try await Task.detached { try self.client.wallet(walletId: walletId).balance }.value
    }

    func recent(walletId: String) async throws -> [HistoryItem] {
        try await Task.detached {
            try self.client.history(walletId: walletId, limit: 20, startingAfter: nil).items
        }.value
    }

    /// Pays a scanned merchant code. The idempotency key is made first and kept, so a retry after
    /// a network error pays at most once.
    func pay(payload: String, walletId: String) async throws -> Payment {
        let key = newIdempotencyKey()
        return try await Task.detached {
            do {
                return try self.client.payQr(payload: payload, walletId: walletId, amount: nil, idempotencyKey: key).payment
            } catch PurseError.Network(_, _) {
                return try self.client.payQr(payload: payload, walletId: walletId, amount: nil, idempotencyKey: key).payment
            }
        }.value
    }
}
