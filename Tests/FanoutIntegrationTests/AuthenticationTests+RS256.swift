import FanoutCore
import FanoutEdge
import FanoutTesting
import Foundation
import JWTKit
import Testing

/// RS256: an RSA public key in `FANOUT_JWT_PUBLIC_KEY_FILE`, the ES256 test's twin.
extension AuthenticationTests {
    /// A fresh 2048-bit RSA private key from `openssl genpkey` (jwt-kit can load RSA keys but not make them).
    static func rsaPrivateKey() async throws -> Insecure.RSA.PrivateKey {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("fanout-rsa-\(UUID().uuidString).pem").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let openssl = try ChildProcess(
            executable: "/bin/sh", arguments: ["-c", #"exec openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$0""#, path])
        let code = await openssl.waitForExit(timeout: .seconds(30))
        guard code == 0 else { throw TestServerError("openssl genpkey failed (exit \(code.map(String.init) ?? "timeout")): is openssl installed?") }
        return try Insecure.RSA.PrivateKey(pem: try String(contentsOfFile: path, encoding: .utf8))
    }

    @Test func anRS256PublicKeyVerifiesTokensSignedWithItsPrivateKey() async throws {
        let privateKey = try await Self.rsaPrivateKey()
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("fanout-rs256-\(UUID().uuidString).pem").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try privateKey.publicKey.pemRepresentation.write(toFile: path, atomically: true, encoding: .utf8)
        let signer = JWTKeyCollection()
        await signer.add(rsa: privateKey, digestAlgorithm: .sha256)
        let stranger = JWTKeyCollection()
        await stranger.add(rsa: try await Self.rsaPrivateKey(), digestAlgorithm: .sha256)
        try await TestCluster.run(edges: 1, workers: 1, handler: WhoAmIHandler(), configureEdge: {
            $0.authentication = .required
            $0.jwtPublicKeyFile = path
        }) { cluster in
            let token = try await signer.sign(Self.valid("dave"))
            var header = String(token.prefix { $0 != "." }).replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
            header += String(repeating: "=", count: (4 - header.count % 4) % 4)
            #expect(Data(base64Encoded: header).map { String(decoding: $0, as: UTF8.self) }?.contains(#""RS256""#) == true)
            try await withTestClients(1, urls: [cluster.url(edge: 0) + "?token=\(token)"]) { clients in
                try await clients[0].send(text: "who")
                #expect(try await clients[0].nextText() == "user:dave")
            }
            // Another RSA key's signature and an HS256 token are both refused.
            let forged = try await stranger.sign(Self.valid("dave"))
            let forgedAnswer = try await RawWebSocket.upgradeStatus(port: cluster.port(edge: 0), path: "/ws?token=\(forged)")
            #expect(forgedAnswer.status == 401)
            #expect(forgedAnswer.body == "bad signature\n")
            let hs = try await Self.hs256(Self.valid("dave"))
            let hsAnswer = try await RawWebSocket.upgradeStatus(port: cluster.port(edge: 0), path: "/ws?token=\(hs)")
            #expect(hsAnswer.status == 401)
            #expect(hsAnswer.body == "unsupported algorithm HS256\n")
        }
    }
}
