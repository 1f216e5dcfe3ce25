import Foundation

/// Blocking TCP sockets to 127.0.0.1 for test helpers that must do what well-behaved clients do
/// not (connect and stay silent, stall, read raw bytes). Callers run them off the cooperative pool.
public enum LoopbackSocket {
    /// A socket connected to 127.0.0.1:`port`, with a receive timeout; the caller closes it.
    /// `receiveBuffer` (SO_RCVBUF) is set before connecting, so the TCP window stays that small.
    /// `source` binds the socket to that local address first (any of 127.0.0.0/8).
    public static func connect(port: Int, receiveTimeout: Int = 10, receiveBuffer: Int? = nil, source: String? = nil) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestServerError("socket() failed") }
        if let source {
            var local = sockaddr_in()
            local.sin_family = sa_family_t(AF_INET)
            local.sin_addr.s_addr = inet_addr(source)
            let bound = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard bound == 0 else {
                close(fd)
                throw TestServerError("cannot bind to \(source)")
            }
        }
        if var size = receiveBuffer.map(Int32.init) {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var timeout = timeval(tv_sec: receiveTimeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = loopback(port: port)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Foundation.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            throw TestServerError("nothing listens on port \(port)")
        }
        return fd
    }

    /// `sockaddr_in` for 127.0.0.1:`port`.
    static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }
}
