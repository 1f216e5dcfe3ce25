import NIOCore

/// Turns start-up errors into one line an operator can act on.
enum ErrorDescription {
    static func oneLine(_ error: any Error, host: String, port: Int) -> String {
        if let error = error as? IOError, error.errnoCode == 98 /* EADDRINUSE */ {
            return "cannot listen on \(host):\(port): address already in use"
        }
        let text = "\(error)"
        if text.contains("Address already in use") { return "cannot listen on \(host):\(port): address already in use" }
        return text
    }
}
