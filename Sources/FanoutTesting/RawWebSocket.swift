import Foundation

/// A deliberately primitive WebSocket client over a blocking socket, for tests that need what a
/// well-behaved client never does: stop reading (a stalled consumer), or read only later.
///
/// Every blocking call runs on a thread of its own, never on the cooperative pool.
public final class RawWebSocket: @unchecked Sendable {  // the fd is used by one test task at a time
    private let fd: Int32
    private var buffer: [UInt8] = []

    /// Connects and completes the upgrade. `receiveBuffer` shrinks the kernel's receive buffer (set
    /// before connecting, so the TCP window stays small and a stalled reader pushes back quickly).
    public static func connect(port: Int, path: String = "/ws", receiveBuffer: Int? = nil) async throws -> RawWebSocket {
        try await onThread { try RawWebSocket(port: port, path: path, receiveBuffer: receiveBuffer) }
    }

    private init(port: Int, path: String, receiveBuffer: Int?) throws {
        fd = try LoopbackSocket.connect(port: port, receiveTimeout: 20, receiveBuffer: receiveBuffer)
        let request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        try sendAll(Array(request.utf8))
        while buffer.firstRange(of: [13, 10, 13, 10]) == nil {
            try fill()
        }
        let end = buffer.firstRange(of: [13, 10, 13, 10])!.upperBound
        let head = String(decoding: buffer[..<end], as: UTF8.self)
        buffer.removeFirst(end)
        guard head.hasPrefix("HTTP/1.1 101") else { throw TestServerError("upgrade refused: \(head.prefix(40))") }
    }

    deinit { close(fd) }

    /// Sends a masked text frame.
    public func send(text: String) async throws {
        try await send(frame: 0x81, payload: Array(text.utf8))
    }

    /// Sends one masked frame: `head` is the first byte (FIN, RSV1-3, opcode), `payload` goes
    /// unchanged — so a test can send what a conforming client never would (invalid UTF-8 in a
    /// text frame, reserved bits, oversized payloads).
    public func send(frame head: UInt8, payload: [UInt8]) async throws {
        var frame: [UInt8] = [head]
        if payload.count < 126 {
            frame.append(0x80 | UInt8(payload.count))
        } else if payload.count < 65536 {
            frame.append(0x80 | 126)
            frame += [UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        } else {
            frame.append(0x80 | 127)
            frame += (0..<8).reversed().map { UInt8(truncatingIfNeeded: payload.count >> ($0 * 8)) }
        }
        let mask: [UInt8] = [1, 2, 3, 4]
        frame += mask
        frame += payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
        let bytes = frame
        try await Self.onThread { try self.sendAll(bytes) }
    }

    /// Reads the next frame: its opcode and payload.
    public func nextFrame() async throws -> (opcode: UInt8, payload: [UInt8]) {
        try await Self.onThread { try self.readFrame() }
    }

    /// Reads frames until a close frame; returns the data frames seen and the close code.
    public func readUntilClose() async throws -> (frames: Int, closeCode: UInt16?) {
        let close = try await readUntilCloseFrame()
        return (close.frames, close.code)
    }

    /// Reads frames until a close frame, without answering pings; returns the data frames and
    /// pings seen, the close code and the close reason.
    public func readUntilCloseFrame() async throws -> (frames: Int, pings: Int, code: UInt16?, reason: String) {
        try await Self.onThread {
            var frames = 0
            var pings = 0
            while true {
                let (opcode, payload) = try self.readFrame()
                switch opcode {
                case 0x8:
                    let code = payload.count >= 2 ? UInt16(payload[0]) << 8 | UInt16(payload[1]) : nil
                    return (frames, pings, code, String(decoding: payload.dropFirst(2), as: UTF8.self))
                case 0x9: pings += 1
                default: frames += 1
                }
            }
        }
    }

    /// Waits until the server closes the TCP connection (reads and discards whatever comes first);
    /// `true` if it did within the socket's receive timeout.
    public func waitUntilDisconnected() async -> Bool {
        (try? await Self.onThread {
            while true {
                do { try self.fill() } catch { return self.lastReceive == 0 }
                self.buffer.removeAll()
            }
        }) ?? false
    }

    private func readFrame() throws -> (UInt8, [UInt8]) {
        try need(2)
        let opcode = buffer[0] & 0x0F
        var length = Int(buffer[1] & 0x7F)
        var offset = 2
        if length == 126 {
            try need(4)
            length = Int(buffer[2]) << 8 | Int(buffer[3])
            offset = 4
        } else if length == 127 {
            try need(10)
            length = (2..<10).reduce(0) { $0 << 8 | Int(buffer[$1]) }
            offset = 10
        }
        try need(offset + length)
        let payload = Array(buffer[offset..<(offset + length)])
        buffer.removeFirst(offset + length)
        return (opcode, payload)
    }

    private func need(_ count: Int) throws {
        while buffer.count < count { try fill() }
    }

    private var lastReceive = -1

    private func fill() throws {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let count = recv(fd, &chunk, chunk.count, 0)
        lastReceive = count
        guard count > 0 else { throw TestServerError(count == 0 ? "connection closed" : "recv failed or timed out") }
        buffer += chunk[0..<count]
    }

    private func sendAll(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { Foundation.send(fd, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { throw TestServerError("send failed") }
            sent += count
        }
    }

    /// Sends an upgrade request with `headers` and returns the HTTP status and body — for the
    /// answers an edge gives before upgrading (401, 403, 503).
    /// `source` binds the client to another loopback address (127.0.0.2 …) first.
    public static func upgradeStatus(
        port: Int, path: String = "/ws", headers: [(String, String)] = [], source: String? = nil
    ) async throws -> (status: Int, body: String) {
        try await onThread {
            let fd = try LoopbackSocket.connect(port: port, source: source)
            defer { close(fd) }
            var request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            for (name, value) in headers { request += "\(name): \(value)\r\n" }
            request += "\r\n"
            _ = request.withCString { Foundation.send(fd, $0, strlen($0), 0) }
            var response: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = recv(fd, &chunk, chunk.count, 0)
                if count <= 0 { break }
                response += chunk[0..<count]
                if let text = String(bytes: response, encoding: .utf8), text.hasPrefix("HTTP/1.1 101"), text.contains("\r\n\r\n") { break }
                if let text = String(bytes: response, encoding: .utf8), let split = text.range(of: "\r\n\r\n"),
                   let length = text[..<split.lowerBound].split(separator: "\r\n").first(where: { $0.lowercased().hasPrefix("content-length:") })
                       .flatMap({ Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) }),
                   text[split.upperBound...].utf8.count >= length { break }
            }
            let text = String(decoding: response, as: UTF8.self)
            let status = text.split(separator: " ", maxSplits: 2).dropFirst().first.flatMap { Int($0) } ?? 0
            let body = text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? ""
            return (status, body)
        }
    }

    /// Opens a TCP connection, sends `prefix` (half a request head, or nothing) and then nothing
    /// more; returns `true` if the server closed the connection within `timeout` seconds.
    public static func stallHandshake(port: Int, sending prefix: String, timeout: Int = 10) async throws -> Bool {
        try await onThread {
            let fd = try LoopbackSocket.connect(port: port, receiveTimeout: timeout)
            defer { close(fd) }
            if !prefix.isEmpty { _ = prefix.withCString { Foundation.send(fd, $0, strlen($0), 0) } }
            var chunk = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = recv(fd, &chunk, chunk.count, 0)
                if count == 0 { return true }
                if count < 0 { return false }
            }
        }
    }

    private static func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try body() }) }.start()
        }
    }
}
