import FanoutCore
import Foundation
import JWTKit

/// Verifies the JWT a client presents (`Authorization: Bearer …` or `?token=…`) before the
/// WebSocket upgrade. `sub` becomes the connection's user ID; `exp` and `nbf` are checked.
/// Keys: an HS256 shared secret and/or one PEM public key (ES256 or RS256).
struct Authenticator: Sendable {
    /// Why a client was refused; the text is the one-line body of the 401.
    struct Failure: Error, Sendable {
        let reason: String
    }

    private let keys: JWTKeyCollection
    let mode: AuthenticationMode
    /// The `alg` header values the configured keys verify. Checked before any signature work, so
    /// a token for another algorithm (or `none`) gets a precise reason, never a key confusion.
    let algorithms: Set<String>

    static func make(_ configuration: EdgeConfiguration) async throws(ConfigurationError) -> Authenticator {
        // The public key, when configured, verifies tokens without a `kid`; the HS256 secret is
        // then reached with `kid: "hs256"` (and is the default when it is the only key).
        let keys = JWTKeyCollection()
        var algorithms: Set<String> = []
        let hasPublicKey = configuration.jwtPublicKeyFile != nil
        if let secret = configuration.jwtSecret {
            // HS256 needs at least as many key bits as the hash output (RFC 7518 §3.2).
            guard secret.utf8.count >= 32 else { throw ConfigurationError("FANOUT_JWT_SECRET: must be at least 32 bytes") }
            await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256, kid: hasPublicKey ? "hs256" : nil)
            algorithms.insert("HS256")
        }
        if let path = configuration.jwtPublicKeyFile {
            guard let pem = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ConfigurationError("FANOUT_JWT_PUBLIC_KEY_FILE: cannot read \(path)")
            }
            if let key = try? ES256PublicKey(pem: pem) {
                await keys.add(ecdsa: key)
                algorithms.insert("ES256")
            } else if let key = try? Insecure.RSA.PublicKey(pem: pem) {
                await keys.add(rsa: key, digestAlgorithm: .sha256)
                algorithms.insert("RS256")
            } else {
                throw ConfigurationError("FANOUT_JWT_PUBLIC_KEY_FILE: not an ES256 (P-256) or RSA public key in PEM")
            }
        }
        if configuration.authentication != .off, configuration.jwtSecret == nil, configuration.jwtPublicKeyFile == nil {
            throw ConfigurationError("FANOUT_AUTH=\(configuration.authentication.rawValue) needs FANOUT_JWT_SECRET or FANOUT_JWT_PUBLIC_KEY_FILE")
        }
        return Authenticator(keys: keys, mode: configuration.authentication, algorithms: algorithms)
    }

    /// The user of a request, `nil` for an allowed anonymous one.
    /// - Throws: `Failure` with a one-line reason (missing token, bad signature, expired …).
    func authenticate(authorization: String?, queryToken: String?) async throws(Failure) -> UserID? {
        if mode == .off { return nil }
        var token = queryToken
        if let authorization, authorization.lowercased().hasPrefix("bearer ") {
            token = String(authorization.dropFirst("bearer ".count)).trimmingCharacters(in: .whitespaces)
        }
        guard let token, !token.isEmpty else {
            if mode == .optional { return nil }
            throw Failure(reason: "missing token")
        }
        guard let algorithm = Self.algorithm(of: token) else { throw Failure(reason: "malformed token") }
        guard algorithms.contains(algorithm) else { throw Failure(reason: "unsupported algorithm \(algorithm.prefix(16))") }
        let payload: TokenPayload
        do {
            payload = try await keys.verify(token, as: TokenPayload.self)
        } catch let error as JWTError {
            throw Failure(reason: Self.reason(error))
        } catch {
            throw Failure(reason: "invalid token")
        }
        guard let user = UserID(payload.sub.value) else { throw Failure(reason: "invalid subject: 1-128 of [A-Za-z0-9._-]") }
        return user
    }

    /// The `alg` of a compact JWS header, `nil` if the token has no decodable header.
    private static func algorithm(of token: String) -> String? {
        guard let encoded = token.split(separator: ".", omittingEmptySubsequences: false).first, encoded.count <= 4096 else { return nil }
        var base64 = encoded.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard let data = Data(base64Encoded: base64),
              let header = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        return header["alg"] as? String
    }

    private static func reason(_ error: JWTError) -> String {
        switch error.errorType {
        case .signatureVerificationFailed: return "bad signature"
        case .claimVerificationFailure:
            if error.failedClaim is ExpirationClaim { return "token expired" }
            if error.failedClaim is NotBeforeClaim { return "token not yet valid" }
            return "claim check failed"
        case .unknownKID, .unsupportedAlgorithm, .invalidHeaderField, .missingKIDHeader: return "unsupported algorithm or key"
        case .malformedToken: return "malformed token"
        default: return "invalid token"
        }
    }
}

/// The claims Fanout reads: `sub` (the user ID), `exp` and `nbf` (checked when present).
struct TokenPayload: JWTPayload {
    var sub: SubjectClaim
    var exp: ExpirationClaim?
    var nbf: NotBeforeClaim?

    func verify(using algorithm: some JWTAlgorithm) throws {
        try exp?.verifyNotExpired()
        try nbf?.verifyNotBefore()
    }
}

/// Whether clients must, may or need not present a token.
public enum AuthenticationMode: String, Sendable {
    /// No authentication; every connection is anonymous (default).
    case off
    /// A token is verified when present (invalid → 401); connections without one are anonymous.
    case optional
    /// Every connection needs a valid token (missing or invalid → 401).
    case required
}
