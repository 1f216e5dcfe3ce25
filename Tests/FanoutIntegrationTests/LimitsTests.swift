import FanoutCore
import FanoutEdge
import FanoutRedis
import FanoutTesting
import Foundation
import NIOCore
import Testing

/// Every limit an edge enforces, each with its documented answer (README: "Limits and their
/// answers"), and each followed by proof that the edge still serves other clients.
@Suite(.serialized) struct LimitsTests {
    @Test func aMessageAboveTheMaximumSizeIsClosedWith1009() async throws {
        try await TestCluster.run(configureEdge: { $0.maxMessageBytes = 1024 }) { cluster in
            let exact = try await RawWebSocket.connect(port: cluster.port(edge: 0))
            try await exact.send(frame: 0x82, payload: [UInt8](repeating: 7, count: 1024))
            let echoed = try await exact.nextFrame()
            #expect(echoed.opcode == 0x2 && echoed.payload == [UInt8](repeating: 7, count: 1024))

            let tooBig = try await RawWebSocket.connect(port: cluster.port(edge: 0))
            try await tooBig.send(frame: 0x82, payload: [UInt8](repeating: 7, count: 1025))
            #expect(try await tooBig.readUntilClose().closeCode == CloseCode.messageTooBig)
            #expect(try await cluster.reply(to: "still here") == "still here")
        }
    }

    @Test func invalidUTF8InATextFrameIsClosedWith1007() async throws {
        try await TestCluster.run { cluster in
            let client = try await RawWebSocket.connect(port: cluster.port(edge: 0))
            try await client.send(frame: 0x81, payload: [0x68, 0x69, 0xC3, 0x28])
            #expect(try await client.readUntilClose().closeCode == CloseCode.invalidPayload)
            #expect(try await cluster.acceptedMessages() == [])
            #expect(try await cluster.reply(to: "still here") == "still here")
        }
    }

    @Test(arguments: [
        ("reserved bit without an extension", UInt8(0xC1), [UInt8]("x".utf8)),
        ("reserved opcode", UInt8(0x83), [UInt8]("x".utf8)),
        ("fragmented ping", UInt8(0x09), [UInt8]("x".utf8)),
        ("continuation without a start", UInt8(0x80), [UInt8]("x".utf8)),
    ])
    func aProtocolViolationIsClosedWith1002(violation: String, head: UInt8, payload: [UInt8]) async throws {
        try await TestCluster.run { cluster in
            let client = try await RawWebSocket.connect(port: cluster.port(edge: 0))
            try await client.send(frame: head, payload: payload)
            #expect(try await client.readUntilClose().closeCode == CloseCode.protocolError, "\(violation)")
            #expect(try await cluster.reply(to: "still here") == "still here")
        }
    }

    @Test func aClientAboveItsRateGetsErrorFramesThenIsClosedWith1008() async throws {
        try await TestCluster.run(configureEdge: {
            // Practically no refill during the test: exactly `burst` messages are accepted.
            $0.rateLimit = 0.001
            $0.rateBurst = 3
            $0.rateLimitStrikes = 2
        }) { cluster in
            let client = try await RawWebSocket.connect(port: cluster.port(edge: 0))
            for index in 1...8 { try await client.send(text: "m\(index)") }
            var texts: [String] = []
            var code: UInt16?
            while code == nil {
                let (opcode, payload) = try await client.nextFrame()
                if opcode == 0x8 { code = payload.count >= 2 ? UInt16(payload[0]) << 8 | UInt16(payload[1]) : 0 } else { texts.append(String(decoding: payload, as: UTF8.self)) }
            }
            #expect(code == CloseCode.policyViolation)
            // Messages 4 and 5 were answered with error frames, the 6th closed the connection.
            #expect(texts.filter { $0.hasPrefix("{") } == [
                #"{"type":"error","error":"rate_limited","retry":true,"seq":4}"#,
                #"{"type":"error","error":"rate_limited","retry":true,"seq":5}"#,
            ])
            // Only the first three reached the stream: nothing refused was accepted.
            #expect(try await cluster.acceptedMessages() == ["m1", "m2", "m3"])
            #expect(try await cluster.reply(to: "still here") == "still here")
        }
    }

    @Test func theConnectionLimitAnswers503WithItsReasonUntilASlotFreesUp() async throws {
        try await TestCluster.run(configureEdge: { $0.maxConnections = 2 }) { cluster in
            let port = cluster.port(edge: 0)
            var first: RawWebSocket? = try await RawWebSocket.connect(port: port)
            let second = try await RawWebSocket.connect(port: port)
            let refused = try await RawWebSocket.upgradeStatus(port: port)
            #expect(refused.status == 503)
            #expect(refused.body == "edge is at its connection limit\n")
            // A plain HTTP request is not a WebSocket and is still served.
            #expect(try await HTTPGet.response(port: port, path: "/healthz").status == 200)
            #expect(first != nil)
            first = nil  // closes its socket
            #expect(try await eventually { try await RawWebSocket.upgradeStatus(port: port).status == 101 })
            _ = second
        }
    }

    @Test func thePerAddressLimitAnswers503ForThatAddressOnly() async throws {
        try await TestCluster.run(configureEdge: { $0.maxConnectionsPerIP = 1 }) { cluster in
            let port = cluster.port(edge: 0)
            let held = try await RawWebSocket.connect(port: port)  // from 127.0.0.1
            let refused = try await RawWebSocket.upgradeStatus(port: port)
            #expect(refused.status == 503)
            #expect(refused.body == "too many connections from this address\n")
            #expect(try await RawWebSocket.upgradeStatus(port: port, source: "127.0.0.2").status == 101)
            _ = held
        }
    }

    @Test func anOriginOutsideTheAllowlistGets403() async throws {
        try await TestCluster.run(configureEdge: { $0.allowedOrigins = ["https://app.example.com"] }) { cluster in
            let port = cluster.port(edge: 0)
            let foreign = try await RawWebSocket.upgradeStatus(port: port, headers: [("Origin", "https://evil.example.com")])
            #expect(foreign.status == 403)
            #expect(foreign.body == "origin not allowed\n")
            #expect(try await RawWebSocket.upgradeStatus(port: port, headers: [("Origin", "https://app.example.com")]).status == 101)
            // Non-browser clients send no Origin and are not affected.
            #expect(try await RawWebSocket.upgradeStatus(port: port).status == 101)
            let client = try await RawWebSocket.connect(port: port)
            try await client.send(text: "still here")
            #expect(try await client.nextFrame().payload == Array("still here".utf8))
        }
    }

    @Test(arguments: ["", "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\n"])
    func aConnectionThatDoesNotFinishItsRequestHeadIsClosedAtTheHandshakeTimeout(sending prefix: String) async throws {
        try await TestCluster.run(configureEdge: { $0.handshakeTimeout = .milliseconds(300) }) { cluster in
            let refusedBefore = cluster.edges[0].counters.refused
            #expect(try await RawWebSocket.stallHandshake(port: cluster.port(edge: 0), sending: prefix, timeout: 10))
            #expect(cluster.edges[0].counters.refused == refusedBefore + 1)
            // A request that arrives in time is served, and its WebSocket outlives the timeout.
            try await withTestClients(1, urls: [cluster.url(edge: 0)]) { clients in
                #expect(try await RawWebSocket.stallHandshake(port: cluster.port(edge: 0), sending: "", timeout: 10))
                try await clients[0].send(text: "after")
                #expect(try await clients[0].nextText() == "after")
            }
        }
    }

    @Test func aPeerThatStopsAnsweringPingsIsClosedWhileOneThatAnswersStays() async throws {
        // Long enough for the answering client to reply on a busy machine, short enough for a test.
        try await TestCluster.run(configureEdge: { $0.pingInterval = .seconds(1) }) { cluster in
            try await withTestClients(1, urls: [cluster.url(edge: 0)]) { clients in
                // The raw client never answers pings; the test client (hummingbird's) does.
                let silent = try await RawWebSocket.connect(port: cluster.port(edge: 0))
                let close = try await silent.readUntilCloseFrame()
                #expect(close.pings >= 1)
                #expect(close.code == CloseCode.goingAway)
                #expect(close.reason == "Ping timeout")
                #expect(await silent.waitUntilDisconnected())
                try await clients[0].send(text: "still here")
                #expect(try await clients[0].nextText() == "still here")
            }
        }
    }
}
