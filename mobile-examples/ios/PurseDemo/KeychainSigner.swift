// A `Signer` over CryptoKit's Ed25519 (Curve25519.Signing) with the private key kept in the
// Keychain, so the Rust library never sees the secret. (The Secure Enclave holds only P-256 keys,
// so an Ed25519 device key lives in the Keychain, readable only by this app on this device.)
import CryptoKit
import Foundation
import PurseSDK
import Security

final class KeychainSigner: Signer, @unchecked Sendable {
    private static let account = "purse-device-key"
    private let lock = NSLock()
    private var cached: Curve25519.Signing.PrivateKey?

    func publicKey() throws -> String {
        let raw = try key().publicKey.rawRepresentation
        return raw.base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    func sign(message: Data) throws -> Data {
        do {
            return try key().signature(for: message)
        } catch let error as PurseError {
            throw error
        } catch {
            throw PurseError.Signer(code: "keychain_sign_failed", reason: "\(error)")
        }
    }

    /// The device key: read from the Keychain, or made and stored there on first use.
    private func key() throws -> Curve25519.Signing.PrivateKey {
        lock.lock()
        defer { lock.unlock() }
        if let cached = cached {
            return cached
        }
        let query: [String: Any] = [
            kSecClass as String: kSecClassGenericPassword,
            kSecAttrAccount as String: Self.account,
            kSecReturnData as String: true,
        ]
        var item: CFTypeRef?
        let status = SecItemCopyMatching(query as CFDictionary, &item)
        let key: Curve25519.Signing.PrivateKey
        if status == errSecSuccess, let data = item as? Data {
            key = try Curve25519.Signing.PrivateKey(rawRepresentation: data)
        } else if status == errSecItemNotFound {
            key = Curve25519.Signing.PrivateKey()
            let add: [String: Any] = [
                kSecClass as String: kSecClassGenericPassword,
                kSecAttrAccount as String: Self.account,
                kSecAttrAccessible as String: kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly,
                kSecValueData as String: key.rawRepresentation,
            ]
            let added = SecItemAdd(add as CFDictionary, nil)
            guard added == errSecSuccess else {
                throw PurseError.Signer(code: "keychain_unavailable", reason: "SecItemAdd failed: \(added)")
            }
        } else {
            throw PurseError.Signer(code: "keychain_unavailable", reason: "SecItemCopyMatching failed: \(status)")
        }
        cached = key
        return key
    }
}

/// The pay code counter of each key in a file, replaced atomically; `save` returns only after
/// the write, which is what keeps counters unique across launches.
final class FileCounterStore: CounterStore, @unchecked Sendable {
    private let directory: URL

    init(directory: URL) throws {
        self.directory = directory
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    func load(keyId: String) throws -> UInt32? {
        let file = directory.appendingPathComponent("\(keyId).counter")
        guard let data = try? Data(contentsOf: file) else {
            return nil
        }
        guard let text = String(data: data, encoding: .utf8), let counter = UInt32(text) else {
            throw PurseError.Storage(code: "counter_file_corrupted", reason: file.path)
        }
        return counter
    }

    func save(keyId: String, counter: UInt32) throws {
        let file = directory.appendingPathComponent("\(keyId).counter")
        do {
            try Data(String(counter).utf8).write(to: file, options: [.atomic, .completeFileProtectionUntilFirstUserAuthentication])
        } catch {
            throw PurseError.Storage(code: "counter_file_unwritable", reason: "\(error)")
        }
    }
}
