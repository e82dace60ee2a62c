// Two screens: the consumer's pay code (a QR code the merchant scans, renewed every minute) and a
// check of a merchant QR code (pasted here; a real app reads it with AVFoundation's scanner).
import SwiftUI
import PurseSDK

struct ContentView: View {
    let wallet: Wallet

    var body: some View {
        TabView {
            PayCodeView(wallet: wallet)
                .tabItem { Label("Pay", systemImage: "qrcode") }
            MerchantCodeView()
                .tabItem { Label("Check", systemImage: "checkmark.shield") }
        }
    }
}

struct PayCodeView: View {
    let wallet: Wallet
    @State private var image: UIImage?
    @State private var caption = ""

    var body: some View {
        VStack(spacing: 16) {
            if let image = image {
                Image(uiImage: image)
                    .interpolation(.none)
                    .resizable()
                    .scaledToFit()
                    .frame(maxWidth: 320)
            }
            Text(caption).font(.footnote).multilineTextAlignment(.center)
            Button("New pay code", action: refresh)
        }
        .padding()
        .onAppear(perform: refresh)
    }

    private func refresh() {
        guard let payCodes = wallet.payCodes else {
            caption = wallet.setupError ?? "no wallet"
            return
        }
        do {
            let code = try payCodes.generate(request: PayCodeRequest(cap: Money(amount: "50.00", currency: "EUR")))
            let png = try renderQrPng(text: code.text)
            image = UIImage(data: png)
            caption = "Pay code #\(code.counter), valid for \(code.expiresAtUnix - code.issuedAtUnix) s, up to 50.00 EUR"
        } catch let error as PurseError {
            caption = "Could not make a pay code: \(error)"
        } catch {
            caption = "\(error)"
        }
    }
}

struct MerchantCodeView: View {
    @State private var payload = ""
    @State private var merchantKey = ""
    @State private var verdict = ""

    var body: some View {
        Form {
            TextField("Scanned QR text", text: $payload)
            TextField("Merchant public key (from the Purse directory)", text: $merchantKey)
            Button("Check", action: check)
            Text(verdict)
        }
    }

    private func check() {
        do {
            let emv = try decodeEmv(payload: payload)
            let claims = try readMerchantCode(payload: payload)
            let now = UInt64(Date().timeIntervalSince1970)
            let code = try verifyMerchantCode(payload: payload, merchantPublicKey: merchantKey, nowUnix: now)
            let amount = code.amount.map { "\($0.amount) \($0.currency)" } ?? "any amount"
            verdict = "\(code.merchantName) (\(claims.merchantId)) in \(emv.country): \(amount)"
        } catch PurseError.Rejected(let code, let reason) {
            verdict = "Refused (\(code)): \(reason)"
        } catch PurseError.Invalid(let code, _) {
            verdict = "Not a valid code (\(code))"
        } catch {
            verdict = "\(error)"
        }
    }
}
