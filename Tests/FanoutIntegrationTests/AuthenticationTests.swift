import FanoutCore
import FanoutEdge
import FanoutTesting
import Foundation
import JWTKit
import NIOCore
import Testing

/// JWT authentication at the edge, and users (send(toUser:)) across edges.
@Suite(.serialized) struct AuthenticationTests {
    static let secret = "test-secret-0123456789-abcdefghijkl"

    struct Claims: JWTPayload {
        var sub: SubjectClaim
        var exp: ExpirationClaim?
        var nbf: NotBeforeClaim?
        func verify(using algorithm: some JWTAlgorithm) throws {}
    }

    static func hs256(_ claims: Claims, secret: String = secret) async throws -> String {
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        return try await keys.sign(claims)
    }

    /// An `alg: none` token: header and claims, no signature.
    static func unsigned(_ claims: Claims) -> String {
        func base64URL(_ data: Data) -> String {
            data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
        }
        let header = base64URL(Data(#"{"alg":"none","typ":"JWT"}"#.utf8))
        return header + "." + base64URL(try! JSONEncoder().encode(claims)) + "."
    }

    static func valid(_ user: String) -> Claims { Claims(sub: .init(value: user), exp: .init(value: Date().addingTimeInterval(600))) }

    @Test func theJWTCasesGetTheDocumentedAnswers() async throws {
        let ecKey = ES256PrivateKey()
        let foreign = JWTKeyCollection()
        await foreign.add(ecdsa: ecKey)
        try await TestCluster.run(edges: 1, workers: 1, handler: WhoAmIHandler(), configureEdge: {
            $0.authentication = .required
            $0.jwtSecret = Self.secret
        }) { cluster in
            let port = cluster.port(edge: 0)
            let cases: [(String, [(String, String)], String)] = [
                ("missing", [], "missing token"),
                ("bad signature", [("Authorization", "Bearer " + (try await Self.hs256(Self.valid("eve"), secret: "another-secret-that-is-long-enough-to-use")))], "bad signature"),
                ("expired", [("Authorization", "Bearer " + (try await Self.hs256(Claims(sub: "alice", exp: .init(value: Date().addingTimeInterval(-60))))))], "token expired"),
                ("not yet valid", [("Authorization", "Bearer " + (try await Self.hs256(Claims(sub: "alice", exp: .init(value: Date().addingTimeInterval(600)), nbf: .init(value: Date().addingTimeInterval(600))))))], "token not yet valid"),
                ("wrong algorithm", [("Authorization", "Bearer " + (try await foreign.sign(Self.valid("mallory"))))], "unsupported algorithm ES256"),
                ("alg none", [("Authorization", "Bearer " + Self.unsigned(Self.valid("mallory")))], "unsupported algorithm none"),
                ("malformed", [("Authorization", "Bearer not.a.jwt")], "malformed token"),
            ]
            for (name, headers, reason) in cases {
                // Refused before the upgrade: HTTP 401 with the one-line reason as its body.
                let upgrade = try await RawWebSocket.upgradeStatus(port: port, headers: headers)
                #expect(upgrade.status == 401, "\(name): got \(upgrade.status)")
                #expect(upgrade.body == reason + "\n", "\(name): body \(upgrade.body)")
            }
            // The edge still serves: an anonymous attempt is still refused, a valid token upgrades.
            #expect(try await RawWebSocket.upgradeStatus(port: port).status == 401)
            // A valid token in the header or the query: upgraded, and the handler sees `sub`.
            let token = try await Self.hs256(Self.valid("alice"))
            try await withTestClients(1, urls: [cluster.url(edge: 0)], headers: [("Authorization", "Bearer \(token)")]) { clients in
                try await clients[0].send(text: "who")
                #expect(try await clients[0].nextText() == "user:alice")
            }
            try await withTestClients(1, urls: [cluster.url(edge: 0) + "?token=\(token)"]) { clients in
                try await clients[0].send(text: "who")
                #expect(try await clients[0].nextText() == "user:alice")
            }
            #expect(cluster.edges[0].counters.refused >= 6)
        }
    }

    @Test func anES256PublicKeyVerifiesTokensSignedWithItsPrivateKey() async throws {
        let privateKey = ES256PrivateKey()
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("fanout-es256-\(UUID().uuidString).pem").path
        try privateKey.publicKey.pemRepresentation.write(toFile: path, atomically: true, encoding: .utf8)
        let signer = JWTKeyCollection()
        await signer.add(ecdsa: privateKey)
        try await TestCluster.run(edges: 1, workers: 1, handler: WhoAmIHandler(), configureEdge: {
            $0.authentication = .required
            $0.jwtPublicKeyFile = path
        }) { cluster in
            let token = try await signer.sign(Self.valid("carol"))
            try await withTestClients(1, urls: [cluster.url(edge: 0) + "?token=\(token)"]) { clients in
                try await clients[0].send(text: "who")
                #expect(try await clients[0].nextText() == "user:carol")
            }
            let hs = try await Self.hs256(Self.valid("carol"))
            let refused = try await RawWebSocket.upgradeStatus(port: cluster.port(edge: 0), path: "/ws?token=\(hs)")
            #expect(refused.status == 401)
            #expect(refused.body == "unsupported algorithm HS256\n")
        }
    }

    @Test func sendToUserReachesEveryConnectionOfThatUserOnEveryEdge() async throws {
        try await TestCluster.run(edges: 2, workers: 1, handler: WhoAmIHandler(), configureEdge: {
            $0.authentication = .optional
            $0.jwtSecret = Self.secret
        }) { cluster in
            let alice = try await Self.hs256(Self.valid("alice"))
            let bob = try await Self.hs256(Self.valid("bob"))
            let urls = [
                cluster.url(edge: 0) + "?token=\(alice)", cluster.url(edge: 1) + "?token=\(alice)",
                cluster.url(edge: 1) + "?token=\(bob)", cluster.url(edge: 0),  // the last one is anonymous
            ]
            try await withTestClients(urls.count, urls: urls) { clients in  // client i connects to urls[i]
                try await clients[3].send(text: "who")
                #expect(try await clients[3].nextText() == "user:-")
                try await clients[2].send(text: "to alice hello alice")
                #expect(try await clients[0].nextText() == "hello alice")
                #expect(try await clients[1].nextText() == "hello alice")
                await #expect(throws: (any Error).self) { _ = try await clients[2].nextText(timeout: .milliseconds(300)) }
            }
        }
    }
}

/// `who` → `user:<sub or ->`; `to <user> <text>` → sends `<text>` to every connection of that user.
struct WhoAmIHandler: MessageHandler {
    func handle(_ message: InboundMessage, context: MessageContext) async throws {
        guard message.kind == .message, let text = message.text else { return }
        if text == "who" { return context.reply(text: "user:\(message.user?.rawValue ?? "-")") }
        let parts = text.split(separator: " ", maxSplits: 2).map(String.init)
        if parts.count == 3, parts[0] == "to", let user = UserID(parts[1]) {
            context.send(toUser: user, .text, ByteBuffer(string: parts[2]))
        }
    }
}
